"""`make run` as the README writes it: metrics shown when the gate fails, never stale ones."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ..helpers import ROOT, run

pytestmark = pytest.mark.e2e


def _make_run(repo: Path) -> tuple[int, str]:
    """`make run` in ``repo`` with this checkout's installed venv (`-o`: make does not reinstall it)."""
    venv = repo / ".venv"
    if not venv.exists():
        venv.symlink_to(ROOT / ".venv")
    proc = run(["make", "-o", ".venv/.run-deps", "run"], cwd=repo, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def _set(repo: Path, dotted: str, value: object) -> None:
    """Change one parameter in params.yaml (what `make params` composes from conf/)."""
    params = yaml.safe_load((repo / "params.yaml").read_text())
    node = params
    *parents, leaf = dotted.split(".")
    for key in parents:
        node = node[key]
    node[leaf] = value
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def test_failing_gate_still_prints_this_runs_metrics(repo: Path) -> None:
    _set(repo, "gate.floors.accuracy", 1.01)
    code, out = _make_run(repo)
    assert code != 0, out
    assert "FAIL: accuracy" in out and "floor 1.0100" in out, out  # the gate's verdict names the floor it missed
    assert "| accuracy |" in out and "test rows" in out, out  # and the metrics table still shows


def test_no_stale_metrics_when_train_fails(repo: Path) -> None:
    _set(repo, "model.C", -1.0)  # refused by the estimator: train stops, evaluate never runs
    code, out = _make_run(repo)
    assert code != 0, out
    assert "no metrics: the pipeline stopped before evaluate" in out, out
