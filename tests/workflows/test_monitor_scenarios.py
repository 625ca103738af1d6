"""monitor.yml and template-sync.yml rehearsed as a clean runner runs them (tests/workflows/runner.py).

monitor.yml: v0.1.0 is promoted and assigned to prod; the prediction log (a real SQLite file,
written the way serving writes it, handed in as the MONITOR_LOG_URL secret) holds that
version's traffic. Without drift the run succeeds, opens no PR and says there was nothing to
do; with drift and new data the retrain job pushes a retrain/ branch and asks for the PR; with
drift but unchanged data the retrain job succeeds without a branch or a PR.

template-sync.yml: the template repository itself (no .cruft.json) skips every step; a project
made with `cruft create` from a template clone opens no PR while in sync, and pushes a
template-update/ branch and asks for its PR once the template moved on.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from ml_gitops.config.registry import GITHUB_ACTIONS_BOT

from ..helpers import BIN, ROOT, commit_all, copy_project, env, run
from ..monitoring.logdata import draw, log_window, reference
from .conftest import GitHub, runner_env
from .runner import Event, JobResult, Runner

# Each scenario installs the locked environment in fresh clones (a minute or more): the full suite runs them.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SCHEDULE = Event("schedule", ref="refs/heads/main")
DISPATCH = Event("workflow_dispatch", ref="refs/heads/main")
BOT = {"GIT_COMMITTER_NAME": "github-actions[bot]", "GIT_COMMITTER_EMAIL": GITHUB_ACTIONS_BOT}


def gh_calls(runner: Runner, *argv: str) -> list[list[str]]:
    return [c["argv"] for c in runner.calls if c["tool"] == "gh" and c["argv"][: len(argv)] == list(argv)]


def origin_branches(origin: Path, prefix: str) -> list[str]:
    out = run(["git", "for-each-ref", "--format=%(refname:strip=2)", f"refs/heads/{prefix}"], cwd=origin).stdout
    return out.split()


# ------------------------------------------------------------------ monitor.yml
def deployed_with_traffic(github: GitHub, frame: pd.DataFrame) -> dict[str, str]:
    """Promote v0.1.0, assign it to prod, log ``frame`` as its traffic; the secrets a run gets."""
    dev = github.dev
    run(["ml-gitops", "registry", "promote", "--push"], cwd=dev, env={**env(), **BOT})
    run(["ml-gitops", "registry", "assign", "--stage", "prod", "--version", "v0.1.0", "--push"], cwd=dev)
    db = github.base / "serving" / "predictions.db"
    db.parent.mkdir()
    url = f"sqlite:///{db}"
    log_window(dev, frame, url)  # every row logged as served by v0.1.0
    return {"MONITOR_LOG_URL": url, "AWS_ACCESS_KEY_ID": "standin", "AWS_SECRET_ACCESS_KEY": "standin"}


def test_scheduled_monitoring_without_drift_succeeds_and_has_nothing_to_do(github: GitHub) -> None:
    secrets = deployed_with_traffic(github, draw(reference(github.dev), 300, seed=1))
    jobs, runner = github.rehearse("monitor.yml", SCHEDULE, secrets=secrets)
    mon = jobs["monitor"]
    assert mon.status == "success", mon.log
    assert mon.environment == "monitor"
    assert mon.outputs["status"] == "healthy", mon.log
    assert mon.outputs["version"] == "v0.1.0" and mon.outputs["retrain"] == "false"
    assert "Judged: version `v0.1.0` (stage `prod`)" in mon.summary, mon.summary
    assert "Retraining: nothing to do (retrain.enabled is false)" in mon.summary, mon.summary
    assert mon.step("monitoring issue").kind == "skipped"
    assert jobs["retrain"].status == "skipped"
    assert not gh_calls(runner, "pr") and not gh_calls(runner, "issue")
    assert not origin_branches(github.origin, "retrain/")
    report = json.loads((runner.artifacts / "monitor-report" / "reports" / "monitor.json").read_text())
    assert report["deployed"]["tag"] == "model@v0.1.0" and report["window"]["version"] == "v0.1.0"
    assert report["reference"]["rev"] == "model@v0.1.0"  # the version's own reference, read at its tag


def test_scheduled_monitoring_with_drift_retrains_on_a_branch_and_asks_for_the_pr(github: GitHub) -> None:
    dev = github.dev
    drifted = draw(reference(dev), 300, seed=2)
    drifted["body_mass_g"] = drifted["body_mass_g"] + 1500.0
    drifted["flipper_length_mm"] = drifted["flipper_length_mm"] + 25.0
    secrets = deployed_with_traffic(github, drifted)
    # Retraining switched on, and new data arrived on main after v0.1.0 (main's dvc.lock is now stale).
    conf = dev / "conf" / "retrain" / "default.yaml"
    conf.write_text(conf.read_text().replace("enabled: false", "enabled: true", 1))
    run(["ml-gitops", "params", "sync"], cwd=dev)
    source = dev / "src" / "ml_gitops" / "datasets" / "penguins.csv"
    lines = source.read_text().splitlines()
    source.write_text("\n".join(lines + lines[1:40]) + "\n")
    commit_all(dev, "retraining on; new rows in the source")
    run(["git", "push", "-q", "origin", "main"], cwd=dev)

    jobs, runner = github.rehearse("monitor.yml", SCHEDULE, secrets={**secrets, "RETRAIN_TOKEN": "ghp_standin"})
    mon, re = jobs["monitor"], jobs["retrain"]
    assert mon.status == "success", mon.log
    assert mon.outputs["status"] == "breach", mon.log
    assert set(mon.outputs["reasons"].split(",")) >= {"drift", "new_data"}, mon.outputs
    assert gh_calls(runner, "issue", "create"), runner.calls  # the one monitoring issue
    assert re.status == "success", re.log
    assert re.environment == "retrain"
    branch = re.step("Retrain").outputs["branch"]
    assert branch.startswith("retrain/"), re.log
    assert origin_branches(github.origin, "retrain/") == [branch]
    creates = gh_calls(runner, "pr", "create")
    assert len(creates) == 1 and creates[0][creates[0].index("--head") + 1] == branch, creates
    pr = next(c for c in runner.calls if c["tool"] == "gh" and c["argv"][:2] == ["pr", "create"])
    assert pr["env"]["GH_TOKEN"] == "ghp_standin"  # the token that lets the PR trigger the gate
    assert f"Retraining: pushed `{branch}`" in re.summary


def test_drift_without_new_data_retrains_nothing_and_the_run_still_succeeds(github: GitHub) -> None:
    """The usual outcome once a trigger fires: the data and outputs are unchanged, so no branch and no PR."""
    dev = github.dev
    drifted = draw(reference(dev), 300, seed=3)
    drifted["body_mass_g"] = drifted["body_mass_g"] + 1500.0
    secrets = deployed_with_traffic(github, drifted)
    conf = dev / "conf" / "retrain" / "default.yaml"
    conf.write_text(conf.read_text().replace("enabled: false", "enabled: true", 1))
    run(["ml-gitops", "params", "sync"], cwd=dev)
    commit_all(dev, "retraining on")
    run(["git", "push", "-q", "origin", "main"], cwd=dev)

    jobs, runner = github.rehearse("monitor.yml", SCHEDULE, secrets=secrets)
    mon, re = jobs["monitor"], jobs["retrain"]
    assert mon.status == "success" and mon.outputs["retrain"] == "true", mon.log
    assert mon.outputs["reasons"] == "drift", mon.outputs
    assert re.status == "success", re.log  # was: `make retrain-pr` exited 2 on every such run
    assert re.step("Retrain").outputs["branch"] == "", re.log
    assert re.step("Open the pull request").kind == "skipped"
    assert "Retraining: nothing to do (data and outputs unchanged)" in re.summary, re.summary
    assert not gh_calls(runner, "pr") and not origin_branches(github.origin, "retrain/")


def test_dispatched_monitoring_of_an_unassigned_stage_fails_in_one_line(github: GitHub) -> None:
    run(["ml-gitops", "registry", "promote", "--push"], cwd=github.dev, env={**env(), **BOT})  # staging only
    secrets = {"MONITOR_LOG_URL": f"sqlite:///{github.base / 'none.db'}"}
    jobs, runner = github.rehearse("monitor.yml", DISPATCH, secrets=secrets, only=["monitor"])
    mon = jobs["monitor"]
    assert mon.status == "failure" and mon.outputs["status"] == "error", mon.log
    step = mon.step("Monitor the deployed version")
    assert "registry stage 'prod' has no version assigned" in step.output and "Traceback" not in step.output
    assert "retrain" not in jobs and not gh_calls(runner, "pr")


# ------------------------------------------------------------------ template-sync.yml
def sync(origin: Path, work: Path, workflow: Path) -> tuple[JobResult, Runner]:
    (work / "ws").mkdir(parents=True)
    r = Runner(workflow, origin, work, SCHEDULE, secrets={"TEMPLATE_SYNC_TOKEN": "ghp_sync"}, extra_env=runner_env())
    return r.run()["sync"], r


def test_template_sync_in_the_template_itself_skips_everything(tmp_path: Path) -> None:
    origin = tmp_path / "origin.git"
    run(["git", "init", "--bare", "-q", "-b", "main", str(origin)], cwd=tmp_path)
    here = copy_project(tmp_path / "template")
    run(["git", "init", "-q", "-b", "main"], cwd=here)
    commit_all(here, "template")
    run(["git", "push", "-q", str(origin), "main"], cwd=here)
    job, runner = sync(origin, tmp_path / "run", ROOT / ".github" / "workflows" / "template-sync.yml")
    assert job.status == "success" and job.environment == "template-sync", job.log
    assert [s.kind for s in job.steps] == ["uses", "skipped", "skipped", "skipped", "skipped"], job.log
    assert not [c for c in runner.calls if c["tool"] == "gh"]


@pytest.fixture
def crufted(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(template repo we may change, the project's bare origin, the project) from `cruft create`."""
    template = copy_project(tmp_path / "template")
    run(["git", "init", "-q", "-b", "main"], cwd=template)
    commit_all(template, "template")
    answers = json.dumps({"project_name": "Synced Thing", "package_name": "synced"})
    run([str(BIN / "cruft"), "create", "--no-input", "--extra-context", answers, str(template)], cwd=tmp_path)
    project = tmp_path / "synced-thing"
    origin = tmp_path / "project.git"
    run(["git", "init", "--bare", "-q", "-b", "main", str(origin)], cwd=tmp_path)
    run(["git", "init", "-q", "-b", "main"], cwd=project)
    commit_all(project, "start")
    run(["git", "push", "-q", str(origin), "main"], cwd=project)
    return template, origin, project


def test_template_sync_opens_a_pr_only_when_the_template_moved_on(
    crufted: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    template, origin, project = crufted
    workflow = project / ".github" / "workflows" / "template-sync.yml"  # the project's own copy
    # ---- in sync: checked, nothing applied, no PR
    job, runner = sync(origin, tmp_path / "run-1", workflow)
    assert job.status == "success", job.log
    assert job.step("Is the template ahead").rc == 0, job.log
    assert job.step("Apply the template").kind == "skipped" and job.step("pull request").kind == "skipped"
    assert not gh_calls(runner, "pr") and not origin_branches(origin, "template-update/")
    # ---- the template moves on: a template-update/<sha> branch on origin and one PR asked for
    readme = template / "README.md"
    readme.write_text(readme.read_text() + "\nA line the template added later.\n")
    commit_all(template, "template: a README line")
    head = run(["git", "rev-parse", "HEAD"], cwd=template).stdout.strip()
    job, runner = sync(origin, tmp_path / "run-2", workflow)
    assert job.status == "success", job.log
    assert job.step("Is the template ahead").rc != 0  # continue-on-error: out of date
    assert job.step("Apply the template").outputs["updated"] == "true", job.log
    branch = f"template-update/{head[:12]}"
    assert origin_branches(origin, "template-update/") == [branch], job.log
    pushed = run(["git", "show", f"{branch}:README.md"], cwd=origin).stdout
    assert "A line the template added later." in pushed
    creates = gh_calls(runner, "pr", "create")
    assert len(creates) == 1 and creates[0][creates[0].index("--head") + 1] == branch, runner.calls
    assert gh_calls(runner, "auth", "setup-git")
    shutil.rmtree(tmp_path / "run-1", ignore_errors=True)
