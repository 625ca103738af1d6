"""The PR loop end to end: real git repos with a bare origin and a DVC remote, real dvc repro.

`main` carries the reproduced pipeline. Two pull requests branch off it: one
changes a param harmlessly, one regularises the model into a clearly worse one
(logistic C=0.01: accuracy 0.97 -> 0.91 on penguins). The report must show the
right rows, deltas, intervals and verdicts; the gate must pass the first and
fail the second. A CI-like fresh clone (cold DVC cache) must reach the same answer.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from ml_gitops.adapters.dvc import lock_at, lock_hashes
from ml_gitops.cli.main import PROG
from ml_gitops.core.metrics import METRICS

from ..helpers import ROOT, commit_all, copy_tree, run, run_main

pytestmark = pytest.mark.e2e

SAMPLE = ROOT / "docs" / "sample-pr-comment.md"
SAMPLE_PLOTS_URL = "https://github.com/OWNER/REPO/actions/runs/RUN_ID"


@dataclass
class PR:
    work: Path
    md: str
    report: dict
    gate: subprocess.CompletedProcess[str]


@dataclass
class Loop:
    work: Path
    origin: Path
    remote: Path
    prs: dict[str, PR]


def review_pr(work: Path, branch: str, before_report=None) -> PR:
    """What the PR job does on a pushed branch (see `pr_branches`): check it out, report, gate."""
    run(["git", "checkout", "-q", branch], cwd=work)
    run(["dvc", "checkout", "--force"], cwd=work)
    if before_report:
        before_report(work)
    run([PROG, "pr", "report"], cwd=work)
    gate = run([PROG, "pr", "gate"], cwd=work, check=False)
    return PR(
        work=work,
        md=(work / "reports/pr-report.md").read_text(),
        report=json.loads((work / "reports/pr-report.json").read_text()),
        gate=gate,
    )


def drop_base_predictions_from_cache(work: Path) -> None:
    """Force the base's predictions to come from the DVC remote, as on a cold CI runner."""
    md5 = lock_hashes(lock_at("main", work))["reports/predictions.parquet"]
    obj = work / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]  # DVC 3's local cache layout
    assert obj.is_file()
    obj.chmod(0o644)
    obj.unlink()


@pytest.fixture(scope="module")
def loop(pr_branches: Path, tmp_path_factory: pytest.TempPathFactory) -> Loop:
    """Our own copy of `pr_branches` (its origin and DVC remote too: tests here clone and pull them)."""
    base = copy_tree(pr_branches, tmp_path_factory.mktemp("prloop"))
    work, origin, remote = base / "work", base / "origin.git", base / "dvc-remote"
    prs = {
        "param-change": review_pr(work, "param-change"),
        "worse-model": review_pr(work, "worse-model", before_report=drop_base_predictions_from_cache),
    }
    return Loop(work, origin, remote, prs)


def metric(pr: PR, name: str) -> dict:
    return pr.report["metrics"][name]


def committed_metrics(pr: PR, rev: str) -> dict:
    """reports/metrics.json as committed on ``rev``: what the report must compare."""
    return json.loads(run(["git", "show", f"{rev}:reports/metrics.json"], cwd=pr.work).stdout)


def table_row(md: str, name: str) -> list[str]:
    line = next(ln for ln in md.splitlines() if ln.startswith(f"| {name} "))
    return [c.strip() for c in line.strip("|").split("|")]


def test_param_change_report_and_gate_pass(loop: Loop):
    pr = loop.prs["param-change"]
    assert pr.report["paired"] is True
    assert pr.report["params"] == {"model.C": {"old": 1.0, "new": 0.5}}
    assert "| `model.C` | `1.0` | `0.5` |" in pr.md
    base, head = committed_metrics(pr, "main"), committed_metrics(pr, "param-change")
    # C 1.0 -> 0.5 moves no test prediction: the same labels, so no change and a zero-width interval.
    for name in ("accuracy", "balanced_accuracy", "roc_auc"):
        m = metric(pr, name)
        assert base[name] == head[name]
        assert (m["base"], m["head"], m["delta"], m["ci"], m["status"]) == (
            base[name],
            head[name],
            0.0,
            [0.0, 0.0],
            "unchanged",
        )
        value = f"{base[name]:.4f}"
        assert table_row(pr.md, name)[1:] == [value, value, "+0.0000", "[+0.0000, +0.0000]", "unchanged"]
    # Weaker regularisation -> less confident probabilities: log loss rises, really (paired CI > 0),
    # and the report says so, but log_loss has no allowed-regression rule, so the gate passes.
    ll = metric(pr, "log_loss")
    assert ll["delta"] > 0 and ll["ci"][0] > 0 and ll["status"] == "worse"
    assert pr.report["gate"]["passed"] is True
    assert pr.gate.returncode == 0 and "pr gate: PASS" in pr.gate.stderr, pr.gate.stderr
    assert "**Quality gate: ✅ PASS**" in pr.md
    assert "No data changed" in pr.md and "| test rows | 69 | 69 |" in pr.md
    assert "| passed | yes | yes |" in pr.md


def test_worse_model_is_caught_with_a_paired_interval_and_fails_the_gate(loop: Loop):
    pr = loop.prs["worse-model"]
    # The base predictions were not in the local cache: they came from the DVC remote.
    assert pr.report["paired"] is True and "Paired bootstrap" in pr.report["pairing_note"]
    base, head = committed_metrics(pr, "main"), committed_metrics(pr, "worse-model")
    acc = metric(pr, "accuracy")
    assert acc["base"] == base["accuracy"] and acc["head"] == head["accuracy"]
    assert acc["head"] == pytest.approx(0.913, abs=1e-3)  # 6 of 69 test rows more are wrong
    assert acc["delta"] == pytest.approx(head["accuracy"] - base["accuracy"], abs=1e-6)
    assert acc["delta"] < -0.02  # beyond the regression the gate allows
    lo, hi = acc["ci"]
    assert lo <= acc["delta"] <= hi < 0 and acc["status"] == "worse"
    assert metric(pr, "balanced_accuracy")["status"] == "worse"
    row = table_row(pr.md, "accuracy")
    expected = [f"{base['accuracy']:.4f}", f"{head['accuracy']:.4f}", f"{acc['delta']:+.4f}"]
    assert row[1:4] == expected and row[5] == "❌ worse"
    assert pr.report["gate"]["passed"] is False
    # Floors still hold (0.91 > 0.80): it is the regression rule that fails.
    assert all("worse by" in f for f in pr.report["gate"]["failures"])
    assert pr.gate.returncode == 1
    err = pr.gate.stderr.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith(
        f"{PROG} pr gate: error: FAIL: accuracy worse by {-acc['delta']:.4f} (> 0.02 allowed; CI of delta ["
    )
    assert "**Quality gate: ❌ FAIL**" in pr.md
    assert "| `model.C` | `1.0` | `0.01` |" in pr.md
    assert sorted(p.name for p in (pr.work / "reports/pr").glob("*.png")) == [
        "confusion.png",
        "precision_recall.png",
        "roc.png",
    ]
    assert "![confusion: base" in pr.md and "](pr/confusion.png)" in pr.md


def test_ci_like_fresh_clone_with_a_cold_cache(loop: Loop, tmp_path: Path):
    """What pr.yml does: clone, dvc pull (cold cache), report and gate against origin/main."""
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", "--branch", "worse-model", str(loop.origin), str(clone)], cwd=tmp_path)
    run(["dvc", "remote", "add", "--local", "-f", "-d", "local", str(loop.remote)], cwd=clone)
    run(["dvc", "pull"], cwd=clone)
    run([PROG, "pr", "report", "--base", "origin/main"], cwd=clone)
    data = json.loads((clone / "reports/pr-report.json").read_text())
    assert data["paired"] is True
    assert data["metrics"]["accuracy"] == loop.prs["worse-model"].report["metrics"]["accuracy"]
    gate = run([PROG, "pr", "gate", "--base", "origin/main"], cwd=clone, check=False)
    assert gate.returncode == 1 and "accuracy worse by" in gate.stderr


@pytest.mark.slow  # ~20 s: the base's train and evaluate rerun in a worktree
def test_unreachable_base_predictions_are_rebuilt_from_git(loop: Loop, tmp_path: Path):
    """A fork PR's runner: no DVC credentials, so the base's predictions are rebuilt, never skipped."""
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", "--branch", "worse-model", str(loop.origin), str(clone)], cwd=tmp_path)
    run(["dvc", "remote", "add", "--local", "-f", "-d", "local", str(loop.remote)], cwd=clone)
    run(["dvc", "pull"], cwd=clone)
    run(["dvc", "remote", "modify", "--local", "local", "url", str(tmp_path / "nowhere")], cwd=clone)
    run([PROG, "pr", "report", "--base", "origin/main"], cwd=clone)
    data = json.loads((clone / "reports/pr-report.json").read_text())
    assert data["paired"] is True and "rebuilt from git with `dvc repro`" in data["pairing_note"]
    assert data["metrics"]["accuracy"] == loop.prs["worse-model"].report["metrics"]["accuracy"]
    # The rebuilt predictions are now in the local cache: the gate reads them, and fails the regression.
    gate = run([PROG, "pr", "gate", "--base", "origin/main"], cwd=clone, check=False)
    assert gate.returncode == 1 and "accuracy worse by" in gate.stderr, gate.stderr


def test_first_pr_base_without_outputs(repo: Path):
    # main = the project without any pipeline output; the PR adds the first outputs.
    run(["git", "checkout", "-q", "--orphan", "first"], cwd=repo)
    run(["git", "rm", "-r", "-q", "--cached", "reports", "dvc.lock", "models"], cwd=repo)
    run(["git", "commit", "-q", "-m", "project, never run"], cwd=repo)
    run(["git", "branch", "-q", "-D", "main"], cwd=repo)
    run(["git", "branch", "-q", "-m", "first", "main"], cwd=repo)
    run(["git", "checkout", "-q", "-b", "first-pr"], cwd=repo)
    commit_all(repo, "first pipeline run")
    run([PROG, "pr", "report"], cwd=repo)
    md = (repo / "reports/pr-report.md").read_text()
    data = json.loads((repo / "reports/pr-report.json").read_text())
    assert data["paired"] is False and "The base has no metrics yet" in md
    for name in METRICS:
        assert data["metrics"][name]["base"] is None
        assert data["metrics"][name]["status"] == "new (the base has no metrics)"
        assert table_row(md, name)[1] == "—"
    assert "**Quality gate: ✅ PASS**" in md and "no base value, regression not checked" in md
    assert "| test rows | — | 69 |" in md
    gate = run([PROG, "pr", "gate"], cwd=repo, check=False)
    assert gate.returncode == 0, gate.stderr

    # No main and no origin/main at all: still a report, saying there is no base. (In this process: the
    # real `pr report` and `pr gate` processes ran above.)
    run(["git", "branch", "-q", "-D", "main"], cwd=repo)
    run(["git", "update-ref", "-d", "refs/remotes/origin/main"], cwd=repo)
    assert run_main(["pr", "report"], cwd=repo).returncode == 0
    assert "vs base (none)" in (repo / "reports/pr-report.md").read_text()

    bad = run_main(["pr", "report", "--base", "no-such-branch"], cwd=repo)
    assert bad.returncode == 2
    assert (
        bad.stderr.strip()
        == f"{PROG} pr report: error: --base no-such-branch: not a commit in this repository (fetch it first?)"
    )


# ------------------------------------------------------------------ the committed sample comment
def skeleton(md: str) -> list[str]:
    """Headings and the first cell of every table row: what must not drift from the code."""
    out = []
    for line in md.splitlines():
        if line.startswith("#") or line.startswith("**Quality gate"):
            out.append(line.split(":")[0])
        elif line.startswith("| "):
            out.append(line.split("|")[1].strip())
    return out


def test_sample_pr_comment_is_current(loop: Loop, tmp_path: Path):
    """docs/sample-pr-comment.md is this test's output (`make sample-pr-comment` rewrites it)."""
    work = loop.prs["worse-model"].work
    run(["git", "checkout", "-q", "worse-model"], cwd=work)
    out = tmp_path / "sample.md"
    args = ["--out", str(out), "--json", str(tmp_path / "s.json"), "--figures", str(tmp_path / "fig")]
    run([PROG, "pr", "report", *args, "--plots-url", SAMPLE_PLOTS_URL], cwd=work)
    short = run(["git", "rev-parse", "--short", "main"], cwd=work).stdout.strip()
    fresh = out.read_text().replace(f"`{short}`", "`main`")
    if os.environ.get("UPDATE_SAMPLE") == "1":
        SAMPLE.write_text(fresh)
    committed = SAMPLE.read_text()
    assert skeleton(committed) == skeleton(fresh), "docs/sample-pr-comment.md is stale: make sample-pr-comment"
    for name in METRICS:
        assert any(line.startswith(f"| {name} ") for line in committed.splitlines())
    assert "**Quality gate: ❌ FAIL**" in committed and SAMPLE_PLOTS_URL in committed
