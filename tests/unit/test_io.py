from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from ml_gitops.adapters.io import clear_stale, replace_dir, write_json, write_text
from ml_gitops.adapters.tables import read_table
from ml_gitops.config.errors import UserError


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    dest = tmp_path / "a" / "out.json"
    write_json(dest, {"b": 1, "a": [1, 2]})
    assert dest.read_text() == '{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1\n}\n'
    assert [p.name for p in dest.parent.iterdir()] == ["out.json"]


def test_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    dest = tmp_path / "out.json"
    write_text(dest, "old")
    with pytest.raises(ValueError):
        write_json(dest, {"x": float("nan")})
    assert dest.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_sigkill_during_write_keeps_the_old_file(tmp_path: Path) -> None:
    dest = tmp_path / "out.bin"
    dest.write_text("old")
    code = (
        "import sys, time\nfrom ml_gitops.adapters.io import atomic_path\n"
        f"with atomic_path({str(dest)!r}) as tmp:\n"
        "    with open(tmp, 'wb') as fh:\n"
        "        fh.write(b'x' * 1000); fh.flush(); print('writing', flush=True); time.sleep(30)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    time.sleep(0.05)
    assert dest.read_text() == "old"


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "file is empty"), (b"\xff\xfe\x00bad", "cannot read as csv")],
)
def test_read_table_names_the_file(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(content)
    with pytest.raises(UserError, match=message) as exc:
        read_table(path)
    assert str(path) in str(exc.value)


def test_read_table_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="file not found"):
        read_table(tmp_path / "nope.parquet")


def test_read_table_parquet_roundtrip(tmp_path: Path) -> None:
    from ml_gitops.adapters.tables import write_parquet

    df = pd.DataFrame({"a": [1.0, None], "b": ["x", "y"]})
    write_parquet(tmp_path / "t.parquet", df)
    pd.testing.assert_frame_equal(read_table(tmp_path / "t.parquet"), df)


def test_github_output_appends_one_line_per_key_and_refuses_newlines(tmp_path: Path) -> None:
    from ml_gitops.adapters.io import append_github_output

    out = tmp_path / "github_output"
    out.write_text("earlier=step\n")
    append_github_output(out, {"version": "v1.2.0", "previous": None})
    append_github_output(None, {"ignored": "x"})  # outside GitHub Actions: nothing to do
    assert out.read_text() == "earlier=step\nversion=v1.2.0\nprevious=\n"
    with pytest.raises(UserError, match=r"GitHub output 'body' must be one line"):
        append_github_output(out, {"body": "two\nlines"})
    assert out.read_text().endswith("previous=\n")  # nothing half-written


def test_replace_dir_swaps_in_the_new_directory_and_leaves_no_temp(tmp_path: Path) -> None:
    dest = tmp_path / "plots"
    (dest / "roc").mkdir(parents=True)
    (dest / "roc" / "old.csv").write_text("old")
    with replace_dir(dest) as tmp:
        assert tmp.parent == dest.parent and tmp != dest
        (tmp / "roc").mkdir()
        (tmp / "roc" / "new.csv").write_text("new")
        assert (dest / "roc" / "old.csv").read_text() == "old"  # untouched until the block succeeds
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*")) == ["roc", "roc/new.csv"]
    assert [p.name for p in tmp_path.iterdir()] == ["plots"]


def test_a_failure_inside_replace_dir_keeps_the_previous_directory(tmp_path: Path) -> None:
    dest = tmp_path / "figures"
    dest.mkdir()
    (dest / "roc.png").write_bytes(b"previous")
    with pytest.raises(RuntimeError, match="drawing failed"), replace_dir(dest) as tmp:
        (tmp / "roc.png").write_bytes(b"half")
        raise RuntimeError("drawing failed")
    assert [p.name for p in dest.iterdir()] == ["roc.png"] and (dest / "roc.png").read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["figures"]


def test_clear_stale_removes_what_a_killed_run_left(tmp_path: Path) -> None:
    figures, metrics = tmp_path / "figures", tmp_path / "metrics.json"
    figures.mkdir()
    (figures / "roc.png").write_bytes(b"png")
    planted = [
        figures / ".roc.png.abc123.tmp",  # atomic_path's temp file inside an output directory
        tmp_path / ".metrics.json.x1y2.tmp",  # atomic_path's temp file beside an output
        tmp_path / ".figures.q9w8e7.tmp",  # replace_dir's temp directory
    ]
    planted[0].write_bytes(b"half")
    planted[1].write_text("{")
    planted[2].mkdir()
    (planted[2] / "roc.png").write_bytes(b"half")
    (tmp_path / "unrelated.tmp").write_text("keep")
    assert sorted(clear_stale(metrics, figures)) == sorted(planted)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figures", "unrelated.tmp"]
    assert [p.name for p in figures.iterdir()] == ["roc.png"]


def test_clear_stale_puts_back_a_directory_parked_by_a_killed_swap(tmp_path: Path) -> None:
    """A kill between replace_dir's two renames: the old directory is parked, dest is missing."""
    dest = tmp_path / "plots"
    parked = tmp_path / ".plots.old.tmp"
    parked.mkdir()
    (parked / "confusion.csv").write_text("actual,predicted\n")
    clear_stale(dest)
    assert (dest / "confusion.csv").read_text() == "actual,predicted\n" and not parked.exists()
