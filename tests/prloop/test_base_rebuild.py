"""The gate fails closed: a base whose predictions cannot be pulled is rebuilt from git, else "cannot compare".

Real git and DVC: a copy of the reproduced project, a branch that regularises the
model into a clearly worse one (model.C 1.0 -> 0.01), and the base's predictions
neither in the local DVC cache nor in a reachable remote, as on a fork PR.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ml_gitops.adapters.dvc import lock_at, lock_hashes
from ml_gitops.cli.main import PROG
from ml_gitops.config.settings import load_settings
from ml_gitops.prloop.report import Side, compare

from ..helpers import ROOT, copy_tree, run

pytestmark = pytest.mark.e2e


def _unpullable_base(repo: Path, rev: str = "main") -> None:
    """The base's predictions gone from the local cache and the DVC remote unreachable (no credentials)."""
    md5 = lock_hashes(lock_at(rev, repo))["reports/predictions.parquet"]
    obj = repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    obj.chmod(0o644)
    obj.unlink()
    run(["dvc", "remote", "modify", "--local", "local", "url", str(repo.parent / "nowhere")], cwd=repo)


@pytest.fixture(scope="module")
def worse(pr_branches: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Branch `worse`: main with model.C = 0.01, reproduced and committed (`pr_branches`' worse-model)."""
    repo = copy_tree(pr_branches, tmp_path_factory.mktemp("base-rebuild")) / "work"
    run(["git", "checkout", "-q", "-b", "worse", "worse-model"], cwd=repo)
    run(["dvc", "checkout", "--force"], cwd=repo)
    return repo


@pytest.fixture
def fork_like(worse: Path, tmp_path: Path) -> Path:
    """A private copy of the worse branch whose base predictions cannot be pulled."""
    repo = tmp_path / "work"
    shutil.copytree(worse, repo, symlinks=True)
    _unpullable_base(repo)
    return repo


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


# ------------------------------------------------------------------ the pure core
def test_an_unavailable_base_is_a_gate_failure_never_a_pass() -> None:
    settings = load_settings(ROOT / "params.yaml")
    head = Side("this branch", metrics={"accuracy": 0.99, "balanced_accuracy": 0.99, "roc_auc": 0.99})
    base = Side("`abc1234`", metrics={"accuracy": 0.5}, unavailable="its predictions are nowhere")
    c = compare(base, head, settings.gate, settings.evaluate)
    assert c.gate.passed is False and c.gate.cannot_compare is True
    assert c.gate.line == "cannot compare with abc1234: its predictions are nowhere"
    # The same sides without the marker: unpaired, so the drop would only be noted.
    plain = compare(Side("`abc1234`", metrics={"accuracy": 0.5}), head, settings.gate, settings.evaluate)
    assert plain.gate.cannot_compare is False


# ------------------------------------------------------------------ real git and DVC
def test_without_rebuild_the_gate_cannot_compare_and_fails(fork_like: Path) -> None:
    short = run(["git", "rev-parse", "--short", "main"], cwd=fork_like).stdout.strip()
    gate = run([PROG, "pr", "gate", "--no-rebuild"], cwd=fork_like, check=False)
    assert gate.returncode == 1, gate.stderr
    err = last_line(gate.stderr)
    assert err == (
        f"{PROG} pr gate: error: cannot compare with {short}: its reports/predictions.parquet is neither in the "
        "DVC cache nor in a reachable DVC remote (rebuilding from git is turned off)"
    )
    run([PROG, "pr", "report", "--no-rebuild"], cwd=fork_like)
    data = json.loads((fork_like / "reports/pr-report.json").read_text())
    assert data["gate"]["passed"] is False and data["gate"]["cannot_compare"] is True
    md = (fork_like / "reports/pr-report.md").read_text()
    assert f"**Quality gate: ❌ CANNOT COMPARE**: cannot compare with {short}: " in md


@pytest.mark.slow  # ~20 s: base's evaluate reruns in the worktree (test_report_e2e covers the fast path)
def test_unpullable_base_is_rebuilt_from_git_and_the_regression_fails(fork_like: Path) -> None:
    run([PROG, "pr", "report"], cwd=fork_like)
    data = json.loads((fork_like / "reports/pr-report.json").read_text())
    assert data["paired"] is True, data["pairing_note"]
    assert "rebuilt from git with `dvc repro`" in data["pairing_note"]
    acc = data["metrics"]["accuracy"]
    assert acc["status"] == "worse" and acc["ci"][1] < 0
    # The rebuilt base is the committed one: same metrics as main's reports/metrics.json.
    committed = json.loads(run(["git", "show", "main:reports/metrics.json"], cwd=fork_like).stdout)
    assert acc["base"] == committed["accuracy"]
    assert data["gate"]["passed"] is False and not data["gate"]["cannot_compare"]
    # The worktree is gone; the branch's own outputs are untouched.
    assert run(["git", "worktree", "list", "--porcelain"], cwd=fork_like).stdout.count("worktree ") == 1
    assert run(["dvc", "status", "--quiet"], cwd=fork_like, check=False).returncode == 0
    gate = run([PROG, "pr", "gate"], cwd=fork_like, check=False)
    assert gate.returncode == 1 and "accuracy worse by" in gate.stderr, gate.stderr


def test_a_base_that_cannot_be_rebuilt_cannot_compare(fork_like: Path) -> None:
    # A base whose evaluate stage no longer runs: its predictions cannot be rebuilt either.
    run(["git", "checkout", "-q", "-b", "broken-base", "main"], cwd=fork_like)
    dvc_yaml = fork_like / "dvc.yaml"
    text = dvc_yaml.read_text().replace("cmd: >-\n      ml-gitops evaluate", "cmd: >-\n      false && x", 1)
    dvc_yaml.write_text(text)
    run(["git", "commit", "-q", "-am", "evaluate broken"], cwd=fork_like)
    run(["git", "checkout", "-q", "worse"], cwd=fork_like)
    run(["dvc", "checkout", "--force"], cwd=fork_like, check=False)
    short = run(["git", "rev-parse", "--short", "broken-base"], cwd=fork_like).stdout.strip()
    gate = run([PROG, "pr", "gate", "--base", "broken-base"], cwd=fork_like, check=False)
    assert gate.returncode == 1, gate.stderr
    err = last_line(gate.stderr)
    assert err.startswith(f"{PROG} pr gate: error: cannot compare with {short}: "), err
    assert "rebuilding it from git failed: `dvc repro at " in err and "failed to reproduce 'evaluate'" in err, err
    assert "PASS" not in gate.stderr
