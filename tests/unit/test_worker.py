"""The forked worker that finishes part of a stage on the other core."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ml_gitops.adapters.worker import ForkedWorker
from ml_gitops.config.errors import UserError


def write_marker(job: dict) -> str:
    Path(job["path"]).write_text(f"{job['value']} from {os.getpid()}")
    return f"wrote {job['path']}"


def refuse(job: dict) -> None:
    raise UserError(f"{job['path']}: refused")


def crash(job: dict) -> None:
    raise RuntimeError("boom")


def test_the_step_runs_in_a_reaped_child_with_the_payload(tmp_path: Path, capfd) -> None:
    out = tmp_path / "marker"
    with ForkedWorker(write_marker, warm=["json"], what="marker") as worker:
        child = worker.pid
        assert child and child != os.getpid()
        worker.submit({"path": str(out), "value": 42})
    assert out.read_text() == f"42 from {child}"
    assert f"wrote {out}" in capfd.readouterr().out
    with pytest.raises(ChildProcessError):
        os.waitpid(child, os.WNOHANG)  # already reaped: no zombie left behind


def test_a_failing_step_fails_the_block_with_its_exit_code(tmp_path: Path, capfd) -> None:
    failed = pytest.raises(UserError, match=r"marker failed \(exit 2; its error is above\)")
    with failed as err, ForkedWorker(refuse, what="marker") as worker:
        worker.submit({"path": "x.csv"})
    assert err.value.exit_code == 2
    assert "marker: error: x.csv: refused" in capfd.readouterr().err
    with pytest.raises(UserError, match=r"exit 1"), ForkedWorker(crash, what="marker") as worker:
        worker.submit({})
    assert "RuntimeError: boom" in capfd.readouterr().err


def test_an_error_before_submit_skips_the_step(tmp_path: Path) -> None:
    out = tmp_path / "never"
    with pytest.raises(KeyError), ForkedWorker(write_marker, what="marker"):
        raise KeyError("bad input before the payload was ready")
    assert not out.exists()


def test_without_fork_the_step_runs_in_the_parent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "fork")
    out = tmp_path / "marker"
    with ForkedWorker(write_marker, what="marker") as worker:
        assert worker.pid == 0
        worker.submit({"path": str(out), "value": 7})
    assert out.read_text() == f"7 from {os.getpid()}"


def test_a_waiting_worker_runs_the_step_here_after_stay(tmp_path: Path) -> None:
    """start=False: the child imports nothing until start(); stay() sends it away and runs the step here."""
    out = tmp_path / "marker"
    with ForkedWorker(write_marker, warm=["json"], what="marker", start=False) as worker:
        child = worker.pid
        worker.stay()
        assert worker.pid == 0
        worker.submit({"path": str(out), "value": 1})
    assert out.read_text() == f"1 from {os.getpid()}"
    with pytest.raises(ChildProcessError):
        os.waitpid(child, os.WNOHANG)
    # Without start() or stay(), submit starts the child itself.
    with ForkedWorker(write_marker, what="marker", start=False) as worker:
        child = worker.pid
        worker.submit({"path": str(out), "value": 2})
    assert out.read_text() == f"2 from {child}"
