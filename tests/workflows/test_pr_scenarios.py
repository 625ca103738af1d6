"""The pull-request loop rehearsed as GitHub runs it: pr.yml on the PR's merge commit, then pr-comment.yml.

Each pull request is what GitHub holds for it in the base repository: the head at
``refs/pull/N/head`` and the merge commit at ``refs/pull/N/merge``, which pr.yml's
checkout fetches. A same-repository PR gets the read-only DVC keys of the ``pr``
environment (here: the shared DVC remote is reachable). A fork PR gets no secrets
and no environment, so the DVC remote is out of reach: nothing of the base can be
pulled and the report must rebuild it from git. The comment is posted by
pr-comment.yml's ``workflow_run`` job from the pr run's artifact, on the default
branch's code.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from ml_gitops.cli.main import PROG

from ..helpers import commit_all, run
from .conftest import WORKFLOWS, GitHub, runner_env
from .runner import Event, JobResult, Runner

# Each pr.yml rehearsal installs the locked environment in a fresh clone and reruns the pipeline.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = "example/ml-gitops"
FORK = "contributor/ml-gitops"
MODEL_CONF = Path("conf/model/logistic_regression.yaml")
READ_KEYS = {"DVC_READ_AWS_ACCESS_KEY_ID": "AKIAREADONLY", "DVC_READ_AWS_SECRET_ACCESS_KEY": "read-only-secret"}
LOCK_LINE = (
    "lock-verify: dvc.lock is not what this branch's pipeline produces: run `make repro` and commit dvc.lock "
    "(merge the base branch first if it moved)"
)


@dataclass
class PullRequest:
    number: int
    head: str  # the PR's head commit
    merge: str  # refs/pull/N/merge: what pr.yml checks out
    fork: bool

    def event(self) -> Event:
        repo = FORK if self.fork else REPO
        return Event(
            "pull_request",
            ref=f"refs/pull/{self.number}/merge",
            sha=self.merge,
            repository=REPO,
            base_ref="main",
            head_ref=f"pr-{self.number}",
            payload={
                "number": self.number,
                "pull_request": {
                    "number": self.number,
                    "head": {"sha": self.head, "ref": f"pr-{self.number}", "repo": {"full_name": repo}},
                    "base": {"ref": "main", "repo": {"full_name": REPO}},
                },
            },
        )


def set_c(dev: Path, value: float) -> None:
    path = dev / MODEL_CONF
    path.write_text(re.sub(r"(?m)^C: .*$", f"C: {value}", path.read_text()))
    run([PROG, "params", "sync"], cwd=dev)


def open_pr(github: GitHub, number: int, c: float, fork: bool = False, commit_lock: bool = True) -> PullRequest:
    """A PR setting model.C, as GitHub holds it: refs/pull/N/head and refs/pull/N/merge in origin."""
    dev = github.dev
    run(["git", "checkout", "-q", "-B", f"pr-{number}", "main"], cwd=dev)
    run(["dvc", "checkout", "--force"], cwd=dev, check=False)
    set_c(dev, c)
    if commit_lock:
        run(["dvc", "repro"], cwd=dev)
    else:  # the PR's author changed the params and forgot `make repro` (and so dvc.lock)
        run(["git", "checkout", "-q", "--", "dvc.lock"], cwd=dev, check=False)
    commit_all(dev, f"model.C = {c}")
    head = github.head()
    run(["git", "checkout", "-q", "--detach", "main"], cwd=dev)
    run(["git", "merge", "-q", "--no-ff", "-m", f"Merge {head} into main", head], cwd=dev)
    merge = github.head()
    refs = [f"{head}:refs/pull/{number}/head", f"{merge}:refs/pull/{number}/merge"]
    if not fork:
        refs.append(f"{head}:refs/heads/pr-{number}")
    run(["git", "push", "-q", "origin", *refs], cwd=dev)
    run(["git", "checkout", "-q", "main"], cwd=dev)
    return PullRequest(number, head, merge, fork)


def rehearse_pr(github: GitHub, pr: PullRequest) -> tuple[JobResult, Runner]:
    """pr.yml for ``pr``: a fork's job gets no secrets and cannot reach the DVC remote."""
    github.runs += 1
    work = github.base / f"run-{github.runs}-pr"
    (work / "ws").mkdir(parents=True)
    if not pr.fork:  # the read-only keys reach the remote; a fork's job has none
        (work / "ws" / "ml-gitops-dvc-remote").symlink_to(github.remote)
    runner = Runner(
        WORKFLOWS / "pr.yml",
        github.origin,
        work,
        pr.event(),
        secrets=None if pr.fork else READ_KEYS,
        extra_env=runner_env(),
        artifacts_from_common_root=True,  # as GitHub stores it: pr-report.md at the artifact's root
    )
    return runner.run()["report"], runner


def rehearse_comment(github: GitHub, pr: PullRequest, pr_run: Runner, conclusion: str) -> tuple[JobResult, Runner]:
    """pr-comment.yml for the completed pr run: its artifact, on the default branch's code."""
    github.runs += 1
    work = github.base / f"run-{github.runs}-pr-comment"
    work.mkdir(parents=True)
    main = run(["git", "rev-parse", "main"], cwd=github.origin).stdout.strip()
    event = Event(
        "workflow_run",
        ref="refs/heads/main",
        sha=main,
        repository=REPO,
        payload={
            "workflow_run": {
                "id": 1,
                "event": "pull_request",
                "conclusion": conclusion,
                "head_sha": pr.head,
                "head_repository": {"full_name": FORK if pr.fork else REPO},
                "pull_requests": [] if pr.fork else [{"number": pr.number}],
            }
        },
    )
    runner = Runner(
        WORKFLOWS / "pr-comment.yml",
        github.origin,
        work,
        event,
        extra_env=runner_env(),
        artifacts=pr_run.artifacts,
        replies={"gh": {f"api repos/{REPO}/pulls/{pr.number}": pr.head}},
        extra_standins=("npm",),
    )
    return runner.run()["comment"], runner


def artifact_file(runner: Runner, name: str) -> Path:
    """A file of the pr-report artifact (stored relative to its paths' common folder, as GitHub does)."""
    return next((runner.artifacts / "pr-report").rglob(name))


def report_json(runner: Runner) -> dict:
    return json.loads(artifact_file(runner, "pr-report.json").read_text())


def assert_comment_posted(github: GitHub, pr: PullRequest, pr_run: Runner, conclusion: str) -> None:
    """The one sticky comment for PR N, from the artifact, by a job that ran main's code only."""
    job, runner = rehearse_comment(github, pr, pr_run, conclusion)
    assert job.status == "success", job.log
    checkout = next(c for c in runner.calls if c["tool"] == "uses" and c["argv"] == ["actions/checkout"])
    assert "ref" not in checkout["with"]
    workspace = runner.work / "ws" / "comment"
    main = run(["git", "rev-parse", "main"], cwd=github.origin).stdout.strip()
    assert run(["git", "rev-parse", "HEAD"], cwd=workspace).stdout.strip() == main != pr.head
    assert "C: 1.0" in (workspace / MODEL_CONF).read_text()  # main's tree, not the PR's change
    (cml,) = [c for c in runner.calls if c["tool"] == "cml"]
    report_dir = runner.work / "runner-temp" / "pr-report"
    assert cml["argv"] == [
        "comment",
        "update",
        f"{report_dir}/pr-report.md",
        f"--target=pr/{pr.number}",
        "--watermark-title=ml-gitops PR report",
        "--no-publish",
    ]
    assert cml["env"]["REPO_TOKEN"] == "ghs_standin_token"
    assert (report_dir / "pr-report.md").read_text().startswith("## Model report")


def test_same_repo_pr_report_comment_and_passing_gate(github: GitHub) -> None:
    pr = open_pr(github, 7, c=0.5)
    job, runner = rehearse_pr(github, pr)
    assert job.status == "success", job.log
    assert job.environment == "pr"  # the read-only keys' environment
    assert "PASS" in job.step("Quality gate").output
    data = report_json(runner)
    assert data["paired"] is True and "rebuilt" not in data["pairing_note"]  # base pulled, not rebuilt
    assert data["params"]["model.C"] == {"old": 1.0, "new": 0.5}
    assert artifact_file(runner, "pr-number").read_text() == "7\n"
    assert "## Model report" in job.summary
    assert not any(c["tool"] == "cml" for c in runner.calls), "pr.yml itself never comments"
    assert_comment_posted(github, pr, runner, "success")


def test_fork_pr_rebuilds_the_base_and_is_commented_by_workflow_run(github: GitHub) -> None:
    pr = open_pr(github, 8, c=0.5, fork=True)
    job, runner = rehearse_pr(github, pr)
    assert job.status == "success", job.log
    assert job.environment == ""  # no environment, no secrets
    pull = job.step("Pull DVC outputs")
    assert pull.rc == 0 and "do not exist neither locally nor on remote" in pull.output, pull.output
    data = report_json(runner)
    assert data["paired"] is True and "rebuilt from git with `dvc repro`" in data["pairing_note"]
    assert data["gate"]["passed"] is True
    assert_comment_posted(github, pr, runner, "success")


@pytest.mark.parametrize("fork", [False, True], ids=["same-repo", "fork"])
def test_regression_fails_the_gate_same_repo_and_fork(github: GitHub, fork: bool) -> None:
    pr = open_pr(github, 9, c=0.01, fork=fork)
    job, runner = rehearse_pr(github, pr)
    assert job.status == "failure", job.log
    gate = job.step("Quality gate")
    assert gate.rc == 2 and "ml-gitops pr gate: error: FAIL: accuracy worse by" in gate.output, job.log  # make: 2
    data = report_json(runner)
    assert data["paired"] is True and data["metrics"]["accuracy"]["status"] == "worse"
    assert ("rebuilt from git" in data["pairing_note"]) is fork
    if fork:  # the failing run's report still reaches the PR
        assert_comment_posted(github, pr, runner, "failure")


def test_pr_that_forgot_to_commit_dvc_lock_fails_with_one_line(github: GitHub) -> None:
    pr = open_pr(github, 10, c=0.5, commit_lock=False)
    job, _ = rehearse_pr(github, pr)
    assert job.status == "failure", job.log
    step = job.step("The committed dvc.lock")
    assert step.rc == 2, step.output
    assert step.output.splitlines()[0] == LOCK_LINE, step.output
    assert "dvc.lock" in step.output.splitlines()[1]  # then git's diffstat of it
    assert job.step("Compare with the base branch").kind == "skipped"
    assert job.step("Quality gate").kind == "skipped"
