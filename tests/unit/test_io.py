from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from ml_gitops.adapters.io import numpy_array, read_table, scalar, string_array, to_numpy, write_json, write_text
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
    from ml_gitops.adapters.io import write_parquet

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


@pytest.mark.parametrize(
    "values",
    [
        np.array([True, False, True] * 5),
        np.arange(-3, 17, dtype=np.int32),
        np.arange(20, dtype=np.uint8),
        np.linspace(-1.0, 1.0, 13),
        np.arange(40, dtype=np.int64)[::3],  # not contiguous
    ],
)
@pytest.mark.parametrize("with_mask", [False, True])
def test_numpy_array_equals_pa_array(values: np.ndarray, with_mask: bool) -> None:
    mask = (np.arange(len(values)) % 4 == 1) if with_mask else None
    got = numpy_array(values, mask=mask)
    want = pa.array(values, mask=mask)
    assert got.equals(want) and got.type == want.type and got.null_count == want.null_count
    got.validate(full=True)
    if mask is None:
        assert to_numpy(got).tolist() == values.tolist()


def test_numpy_array_refuses_2d() -> None:
    with pytest.raises(ValueError, match="1-d"):
        numpy_array(np.zeros((2, 2)))


@pytest.mark.parametrize("values", [[], ["a"], ["Adelie", "", "Gentoo", "Chinstrap", "é ü 企鹅"]])
def test_string_array_equals_pa_array(values: list[str]) -> None:
    got = string_array(values)
    got.validate(full=True)
    assert got.equals(pa.array(values, pa.large_string()))


@pytest.mark.parametrize(
    ("value", "type_"),
    [(None, pa.float64()), (False, pa.bool_()), (True, pa.bool_()), (2.5, pa.float64()), (3, pa.float64()),
     (-float("inf"), pa.float64()), ("true", pa.large_string()), (7, pa.int64())],
)  # fmt: skip
def test_scalar_equals_pa_scalar(value: object, type_: pa.DataType) -> None:
    got = scalar(value, type_)  # type: ignore[arg-type]
    assert got.type == type_ and got.equals(pa.scalar(value, type_))


def test_to_numpy_reads_sliced_and_chunked_arrays() -> None:
    base = pa.array(np.arange(100, dtype=np.int32))
    sliced = base.slice(7, 20)
    assert to_numpy(sliced).tolist() == list(range(7, 27))
    chunked = pa.chunked_array([pa.array([1.5, 2.5]), pa.array([3.5])])
    assert to_numpy(chunked).tolist() == [1.5, 2.5, 3.5]
    with_nulls = pa.array([1.0, None])  # falls back to Arrow's conversion: NaN for null
    assert np.isnan(to_numpy(with_nulls)[1])
