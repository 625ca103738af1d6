"""promote.yml rehearsed as a clean runner runs it: a merge registers a version only when the model changed.

Scenario: the first merge registers v0.1.0 and calls deploy with its staging tag; a docs-only merge
then registers nothing (promote's outputs say new=false), pushes no tag and calls no deploy.
"""

from __future__ import annotations

import pytest
import yaml

from ..helpers import commit_all, run
from .conftest import GitHub
from .runner import Event

# Each rehearsal installs the locked environment in a fresh clone: the full suite runs it.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def origin_tags(github: GitHub) -> set[str]:
    return set(run(["git", "tag", "--list"], cwd=github.origin).stdout.split())


def test_a_docs_only_merge_registers_nothing_and_deploys_nothing(github: GitHub) -> None:
    jobs, runner = github.rehearse("promote.yml", Event("push", ref="refs/heads/main", sha=github.head()))
    assert jobs["promote"].status == "success", jobs["promote"].log
    assert jobs["promote"].environment == "registry"
    assert (jobs["promote"].outputs["new"], jobs["promote"].outputs["version"]) == ("true", "v0.1.0")
    calls = [c for c in runner.calls if c["tool"] == "workflow_call"]
    assert [c["with"]["ref"] for c in calls] == ["refs/tags/model#staging#1"]
    assert origin_tags(github) == {"model@v0.1.0", "model#staging#1"}

    # ---- a merge that changes only the docs: dvc.lock's train outputs are v0.1.0's
    readme = github.dev / "README.md"
    readme.write_text(readme.read_text() + "\nA docs-only change.\n")
    commit_all(github.dev, "Merge pull request #12 from me/docs")
    run(["git", "push", "-q", "origin", "main"], cwd=github.dev)
    jobs, runner = github.rehearse("promote.yml", Event("push", ref="refs/heads/main", sha=github.head()))
    assert jobs["promote"].status == "success", jobs["promote"].log
    assert jobs["promote"].outputs["new"] == "false"
    assert jobs["promote"].outputs["stage_tag"] == ""
    assert "model unchanged since v0.1.0; nothing to register" in jobs["promote"].log
    assert jobs["deploy"].status == "skipped"
    assert not [c for c in runner.calls if c["tool"] == "workflow_call"]
    assert origin_tags(github) == {"model@v0.1.0", "model#staging#1"}


def test_a_merge_whose_outputs_never_reached_the_remote_is_rebuilt_pushed_and_registered(github: GitHub) -> None:
    # ---- a fork PR's change, merged: git has its dvc.lock, the DVC remote has none of its outputs
    conf = github.dev / "conf" / "model" / "logistic_regression.yaml"
    conf.write_text(conf.read_text().replace("C: 1.0", "C: 0.5"))
    run(["ml-gitops", "params", "sync"], cwd=github.dev)
    run(["dvc", "repro", "-q"], cwd=github.dev)
    commit_all(github.dev, "Merge pull request #13 from fork/smaller-C")
    run(["git", "push", "-q", "origin", "main"], cwd=github.dev)  # no dvc push: a fork PR cannot
    lock = yaml.safe_load((github.dev / "dvc.lock").read_text())
    md5 = next(o["md5"] for o in lock["stages"]["train"]["outs"] if o["path"] == "models/model.skops")
    in_remote = github.remote / "files" / "md5" / md5[:2] / md5[2:]
    assert not in_remote.exists()

    jobs, _ = github.rehearse("promote.yml", Event("push", ref="refs/heads/main", sha=github.head()))
    promote = jobs["promote"]
    assert promote.status == "success", promote.log
    reproduce = promote.step("Reproduce")
    assert reproduce.rc == 0 and "Running stage 'train'" in reproduce.output, promote.log
    assert promote.outputs["new"] == "true", promote.log
    assert in_remote.is_file(), "the registered model must be in the DVC remote"
    assert "model@v0.1.0" in origin_tags(github)
