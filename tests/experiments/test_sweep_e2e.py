"""`ml-gitops sweep` / `best` on DVC's real experiment queue in a temp git repo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from ..helpers import run

pytestmark = pytest.mark.e2e


def _rows(table: str) -> list[list[str]]:
    lines = [ln for ln in table.splitlines() if ln.startswith("|")]
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in lines]


def test_sweep_queues_runs_sorts_and_best_branches(repo: Path) -> None:
    # Two points of a grid in Hydra syntax; C=0.01 underfits penguins, C=0.3 does not.
    out = run(["ml-gitops", "sweep", "model.C=0.01,0.3", "--jobs", "2"], cwd=repo)
    assert "queueing 2 experiment(s)" in out.stdout
    assert "running with 2 worker(s)" in out.stdout
    rows = _rows(out.stdout)
    header, body = rows[0], rows[2:]
    col, c_col = header.index("balanced_accuracy"), header.index("model.C")
    exps = [r for r in body if r[0].startswith(("├──", "└──"))]
    assert len(exps) == 2 and all(r[header.index("State")] == "Success" for r in exps)
    values = [float(r[col]) for r in exps]
    assert values == sorted(values, reverse=True), "table not sorted by the primary metric"
    assert {r[c_col] for r in exps} == {"0.01", "0.3"}
    assert not any("_ci_" in h for h in header), "sweep.drop should hide the interval columns"
    best_c = exps[0][c_col]

    # The working tree is untouched by the sweep: experiments live in refs.
    assert run(["git", "status", "--porcelain"], cwd=repo).stdout == ""

    out = run(["ml-gitops", "best", "--branch", "sweep/best"], cwd=repo)
    assert f"model.C: 1.0 -> {best_c}" in out.stdout
    params = yaml.safe_load(run(["git", "show", "sweep/best:params.yaml"], cwd=repo).stdout)
    assert str(params["model"]["C"]) == best_c
    metrics = json.loads(run(["git", "show", "sweep/best:reports/metrics.json"], cwd=repo).stdout)
    assert metrics["balanced_accuracy"] == pytest.approx(max(values), abs=1e-4)
    # The branch is a normal commit on top of main: ready to push and open a PR.
    assert run(["git", "merge-base", "--is-ancestor", "main", "sweep/best"], cwd=repo, check=False).returncode == 0


def test_sweep_refuses_keys_no_stage_reads(repo: Path) -> None:
    out = run(["ml-gitops", "sweep", "sweep.jobs=1,2"], cwd=repo, check=False)
    assert out.returncode == 2
    assert "sweep key 'sweep.jobs' is not a params dependency of any stage in dvc.yaml" in out.stderr
    assert "Queued" not in run(["dvc", "queue", "status"], cwd=repo).stdout


def test_best_without_experiments_says_so(repo: Path) -> None:
    out = run(["ml-gitops", "best"], cwd=repo, check=False)
    assert out.returncode == 2
    assert "no successful experiment" in out.stderr and "make sweep" in out.stderr
