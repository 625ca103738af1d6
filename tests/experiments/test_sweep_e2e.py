"""`ml-gitops sweep run` / `sweep best` on DVC's real experiment queue in a temp git repo."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import yaml

from ..helpers import run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # make test-all only


def _rows(table: str) -> list[list[str]]:
    lines = [ln for ln in table.splitlines() if ln.startswith("|")]
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in lines]


def test_sweep_queues_runs_sorts_and_best_branches(repo: Path) -> None:
    # Two points of a grid in Hydra syntax; C=0.01 underfits penguins, C=0.3 does not.
    out = run(["ml-gitops", "sweep", "run", "model.C=0.01,0.3", "--jobs", "2"], cwd=repo)
    assert "queueing 2 experiment(s)" in out.stderr
    assert "running with 2 worker(s)" in out.stderr
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

    out = run(["ml-gitops", "sweep", "best", "--branch", "sweep/best"], cwd=repo)
    assert f"model.C: 1.0 -> {best_c}" in out.stderr
    params = yaml.safe_load(run(["git", "show", "sweep/best:params.yaml"], cwd=repo).stdout)
    assert str(params["model"]["C"]) == best_c
    metrics = json.loads(run(["git", "show", "sweep/best:reports/metrics.json"], cwd=repo).stdout)
    assert metrics["balanced_accuracy"] == pytest.approx(max(values), abs=1e-4)
    # The branch is a normal commit on top of main: ready to push and open a PR.
    assert run(["git", "merge-base", "--is-ancestor", "main", "sweep/best"], cwd=repo, check=False).returncode == 0


def test_sweep_refuses_keys_no_stage_reads(repo: Path) -> None:
    out = run(["ml-gitops", "sweep", "run", "sweep.jobs=1,2"], cwd=repo, check=False)
    assert out.returncode == 2
    assert "sweep key 'sweep.jobs' is not a params dependency of any stage in dvc.yaml" in out.stderr
    assert "Queued" not in run(["dvc", "queue", "status"], cwd=repo).stdout


def test_best_without_experiments_says_so(repo: Path) -> None:
    out = run(["ml-gitops", "sweep", "best"], cwd=repo, check=False)
    assert out.returncode == 2
    assert "no successful experiment" in out.stderr and "make sweep" in out.stderr


def _workers(repo: Path) -> int:
    out = run(["dvc", "queue", "status"], cwd=repo).stdout
    active, idle = re.search(r"Worker status: (\d+) active, (\d+) idle", out).groups()
    return int(active) + int(idle)


def test_a_second_sweep_survives_a_stale_queue_stop(repo: Path) -> None:
    """`dvc queue stop` with no worker listening stays in DVC's broker; the next workers
    (same node names) obey it after one experiment. The sweep must start workers again
    instead of following a queue nobody runs (it used to wait for sweep.timeout_minutes)."""
    run(["ml-gitops", "sweep", "run", "model.C=0.05,0.5", "--jobs", "2"], cwd=repo, timeout=600)
    # Whether the next sweep has to wait for lingering workers depends on timing; that wait is
    # tested deterministically in test_sweep_unit (test_sweep_waits_for_an_earlier_sweeps_idle_workers).
    out = run(["ml-gitops", "sweep", "run", "model.C=0.7", "--jobs", "1"], cwd=repo, timeout=600)
    assert "1/1 done" in out.stderr and _workers(repo) <= 1
    deadline = time.monotonic() + 60
    while _workers(repo) and time.monotonic() < deadline:  # idle workers stop by themselves
        time.sleep(1)
    assert _workers(repo) == 0, "queue workers did not stop once the queue was empty"
    run(["dvc", "queue", "stop"], cwd=repo)  # nobody listens: the message waits in the broker

    out = run(["ml-gitops", "sweep", "run", "model.C=0.02,0.2,2", "--jobs", "2"], cwd=repo, timeout=600)
    assert "3/3 done" in out.stderr
    exps = [r for r in _rows(out.stdout) if r and r[0].startswith(("├──", "└──"))]
    assert len(exps) == 6 and all("Success" in r for r in exps), out.stdout
