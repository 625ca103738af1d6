"""deploy.yml rehearsed as a clean runner runs it: the chain of trust from a merge to a running model.

The stand-ins keep one image registry, one set of attestations and one set of GitHub Releases
across the runs of a scenario (tests/workflows/standins.py), so a scenario can assert that an
image is built once per version, that a stage deploy retags that digest, that both artifacts
were attested before `gh attestation verify` accepted them, and that a forged tag gets nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from ml_gitops.config.registry import GITHUB_ACTIONS_BOT

from ..helpers import commit_all, env, md5, run
from .conftest import GitHub
from .runner import Event, JobResult, Runner

# Each deploy rehearsal installs the locked environment in three fresh clones: the full suite runs them.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

IMAGE = "ghcr.io/example/ml-gitops"
BOT = {"GIT_COMMITTER_NAME": "github-actions[bot]", "GIT_COMMITTER_EMAIL": GITHUB_ACTIONS_BOT}
MAIN = {"repository": {"default_branch": "main"}}


def deploy(github: GitHub, ref: str, *, called: bool = False) -> tuple[dict[str, JobResult], Runner]:
    """deploy.yml for a pushed tag, or as promote.yml calls it (workflow_call with inputs.ref)."""
    if called:
        event = Event("push", ref="refs/heads/main", sha=github.head(), payload=MAIN, inputs={"ref": ref})
    else:
        event = Event("push", ref=ref, sha=github.head(ref), payload=MAIN)
    return github.rehearse("deploy.yml", event, state=github.state, artifacts_from_common_root=True)


def state(github: GitHub, name: str) -> dict[str, Any]:
    path = github.state / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def calls(runner: Runner, tool: str, *argv: str) -> list[list[str]]:
    return [c["argv"] for c in runner.calls if c["tool"] == tool and c["argv"][: len(argv)] == list(argv)]


def lock_md5(github: GitHub, rev: str) -> str:
    lock = yaml.safe_load(run(["git", "show", f"{rev}:dvc.lock"], cwd=github.dev).stdout)
    outs = {o["path"]: o["md5"] for body in lock["stages"].values() for o in body.get("outs", [])}
    return outs["models/model.skops"]


def assert_ok(jobs: dict[str, JobResult], *names: str) -> None:
    for name in names:
        assert jobs[name].status == "success", jobs[name].log


def key_values(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and " " not in line)


def test_merge_promotes_deploys_staging_then_a_prod_tag_retags_the_same_digest(github: GitHub) -> None:
    # ---- a merge to main: promote registers v0.1.0 (as the bot) and calls deploy with the staging tag
    jobs, promote = github.rehearse("promote.yml", Event("push", ref="refs/heads/main", sha=github.head()))
    assert_ok(jobs, "promote")
    call = next(c for c in promote.calls if c["tool"] == "workflow_call")
    jobs, runner = deploy(github, call["with"]["ref"], called=True)
    assert_ok(jobs, "plan", "build", "deploy")
    plan = jobs["plan"].outputs
    assert (plan["deploy"], plan["version"], plan["stage"]) == ("true", "v0.1.0", "staging")
    run(["git", "fetch", "-q", "--tags", "origin"], cwd=github.dev)
    assert plan["md5"] == lock_md5(github, "model@v0.1.0")
    assert jobs["deploy"].environment == "staging"

    # built once, attested (bundle and image), verified before rollout, published, staging -> digest
    digest = jobs["build"].outputs["digest"]
    assert state(github, "builds") == {f"{IMAGE}:v0.1.0": 1}
    assert state(github, "images")[f"{IMAGE}:v0.1.0"] == digest
    attested = state(github, "attestations")
    assert digest in attested and "model-v0.1.0.tar.gz" in attested.values(), attested
    verified = calls(runner, "gh", "attestation", "verify")
    assert [v[2] for v in verified] == ["dist/model-v0.1.0.tar.gz", f"oci://{IMAGE}@{digest}"]
    assert "model@v0.1.0" in state(github, "releases")
    assert calls(runner, "docker", "buildx", "imagetools", "create") == [
        ["buildx", "imagetools", "create", "-t", f"{IMAGE}:staging", f"{IMAGE}@{digest}"]
    ]
    resolved = key_values(jobs["deploy"].step("Resolve").output)
    assert (resolved["version"], resolved["md5"]) == ("v0.1.0", plan["md5"])

    # ---- a person assigns prod (stage tag pushed): no rebuild, prod points at the digest staging runs
    run(["ml-gitops", "registry", "assign", "--stage", "prod", "--version", "v0.1.0", "--push"], cwd=github.dev)
    prod_tag = run(["git", "tag", "--list", "model#prod#*"], cwd=github.dev).stdout.split()[-1]
    jobs, runner = deploy(github, f"refs/tags/{prod_tag}")
    assert_ok(jobs, "plan", "build", "deploy")
    assert (jobs["plan"].outputs["stage"], jobs["deploy"].environment) == ("prod", "prod")
    assert jobs["build"].outputs["digest"] == digest
    assert state(github, "builds") == {f"{IMAGE}:v0.1.0": 1}  # still one build of v0.1.0
    assert not calls(runner, "docker", "buildx", "build")
    assert jobs["build"].step("Attest the image").kind == "skipped"  # attested when it was built
    assert calls(runner, "docker", "buildx", "imagetools", "create") == [
        ["buildx", "imagetools", "create", "-t", f"{IMAGE}:prod", f"{IMAGE}@{digest}"]
    ]
    assert state(github, "images")[f"{IMAGE}:prod"] == digest
    assert not calls(runner, "gh", "release", "create")  # v0.1.0's release exists: published once


def test_a_rollback_deploys_the_older_versions_model(github: GitHub, tmp_path: Path) -> None:
    dev, bot = github.dev, {**env(), **BOT}
    promote = ["ml-gitops", "registry", "promote", "--push"]
    run(promote, cwd=dev, env=bot)  # v0.1.0, as promote.yml's bot would
    conf = dev / "conf/model/logistic_regression.yaml"
    conf.write_text(conf.read_text().replace("C: 1.0", "C: 0.05"))
    run(["ml-gitops", "params", "sync"], cwd=dev)
    run(["dvc", "repro", "-q"], cwd=dev)
    commit_all(dev, "Merge pull request #2 from me/smaller-c")
    run(["dvc", "push", "-q"], cwd=dev)
    run(["git", "push", "-q", "origin", "main"], cwd=dev)
    run(promote, cwd=dev, env=bot)  # v0.2.0
    v1, v2 = lock_md5(github, "model@v0.1.0"), lock_md5(github, "model@v0.2.0")
    assert v1 != v2
    assign = ["ml-gitops", "registry", "assign", "--stage", "prod", "--push", "--version"]
    run([*assign, "v0.2.0"], cwd=dev)
    run([*assign, "v0.1.0"], cwd=dev)  # the rollback: a person's stage tag
    rollback = run(["git", "tag", "--list", "model#prod#*"], cwd=dev).stdout.split()
    rollback.sort(key=lambda t: int(t.rsplit("#", 1)[1]))

    jobs, _runner = deploy(github, f"refs/tags/{rollback[-1]}")
    assert_ok(jobs, "plan", "build", "deploy")
    assert (jobs["plan"].outputs["version"], jobs["plan"].outputs["stage"]) == ("v0.1.0", "prod")
    resolved = key_values(jobs["deploy"].step("Resolve").output)
    assert (resolved["version"], resolved["md5"]) == ("v0.1.0", v1)
    deployed = github.base / "run-1-deploy" / "ws" / "deploy" / "dist" / "deploy" / "model.skops"
    assert md5(deployed) == v1
    assert f"{IMAGE}:v0.1.0" in state(github, "builds") and f"{IMAGE}:v0.2.0" not in state(github, "builds")


def test_a_forged_tag_on_an_unmerged_commit_is_refused_and_nothing_is_released(github: GitHub) -> None:
    dev = github.dev
    run(["git", "checkout", "-q", "-b", "never-reviewed"], cwd=dev)
    (dev / "NOTES.md").write_text("not gated\n")
    commit_all(dev, "never went through the gate")
    run(["git", "tag", "model@v9.0.0"], cwd=dev)  # lightweight, by hand
    run(["git", "tag", "-a", "-m", "assign prod to v9.0.0", "model#prod#6"], cwd=dev)
    run(["git", "push", "-q", "origin", "never-reviewed", "model@v9.0.0", "model#prod#6"], cwd=dev)

    for ref, check in (("refs/tags/model#prod#6", "on-main"), ("refs/tags/model@v9.0.0", "annotated")):
        jobs, runner = deploy(github, ref)
        assert jobs["plan"].status == "failure", jobs["plan"].log
        step = jobs["plan"].step("Plan")
        refusal = [ln for ln in step.output.splitlines() if "refused by provenance check" in ln]
        assert len(refusal) == 1 and f"check {check}:" in refusal[0], step.output
        assert "deploy=true" not in step.output
        assert jobs["build"].status == "skipped" and jobs["deploy"].status == "skipped"
        assert not [c for c in runner.calls if c["tool"] in ("gh", "docker")]
    assert not state(github, "images") and not state(github, "releases") and not state(github, "attestations")
