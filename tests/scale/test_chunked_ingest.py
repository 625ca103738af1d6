"""Chunked ingest of CSV and Parquet gives the same dataset as a whole-file read, with the same errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ml_gitops.adapters.sources import iter_source, synthetic_batches
from ml_gitops.adapters.tables import read_table
from ml_gitops.config.errors import UserError
from ml_gitops.core.schema import check_frame, check_table
from ml_gitops.pipeline.ingest import write_dataset
from ml_gitops.pipeline.validate import Report, validate

ROWS = 5_000
SMALL_BLOCK = 16 << 10  # ~300 CSV rows per block: many chunks


def frame(make_settings) -> pd.DataFrame:
    s = make_settings({"n_rows": ROWS, "batch_rows": 1_000, "missing_rate": 0.05})
    return pd.concat(synthetic_batches(s.data.source, s.data.schema_), ignore_index=True)


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def file_settings(make_settings, path: Path, fmt: str, batch_rows: int = 1_000, **source):
    return make_settings({"kind": "file", "path": str(path), "format": fmt, "batch_rows": batch_rows, **source})


def coerced(df: pd.DataFrame, s) -> pd.DataFrame:
    out, violations = check_frame(df, s.data.schema_)
    assert not violations
    return out


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_chunked_ingest_equals_whole_file_read(make_settings, tmp_path: Path, fmt: str) -> None:
    df = frame(make_settings)
    src = tmp_path / f"in.{fmt}"
    if fmt == "csv":
        df.to_csv(src, index=False, na_rep="NA")
    else:
        df.to_parquet(src, row_group_size=700)
    s = file_settings(make_settings, src, fmt, na_values=["NA"])
    chunks = list(iter_source(s.data, block_bytes=SMALL_BLOCK))
    assert len(chunks) > 3, "the reader did not chunk the input"

    chunked, whole = tmp_path / "chunked.parquet", tmp_path / "whole.parquet"
    assert write_dataset(s.data, chunked, block_bytes=SMALL_BLOCK) == ROWS
    assert write_dataset(s.data, whole, block_bytes=64 << 20) == ROWS
    # Fixed row groups: the bytes do not depend on how the reader chunked the file.
    assert md5(chunked) == md5(whole)
    assert pq.ParquetFile(chunked).metadata.num_row_groups == ROWS // 1_000
    # Same data as the whole-file pandas read, once the schema has coerced both.
    reference = read_table(src, na_values=["NA"])
    pd.testing.assert_frame_equal(coerced(pd.read_parquet(chunked), s), coerced(reference, s))


def test_synthetic_ingest_is_independent_of_batching_of_the_writer(make_settings, tmp_path: Path) -> None:
    s = make_settings({"n_rows": 3_000, "batch_rows": 1_000})
    out = tmp_path / "a.parquet"
    assert write_dataset(s.data, out) == 3_000
    pd.testing.assert_frame_equal(
        pd.read_parquet(out), pd.concat(synthetic_batches(s.data.source, s.data.schema_), ignore_index=True)
    )


def test_bad_number_in_a_late_chunk_reaches_validate_with_its_global_row(make_settings, tmp_path: Path) -> None:
    """pyarrow types columns per block; a late non-number is re-read as text so validate names its row."""
    df = frame(make_settings)
    df["num_2"] = df["num_2"].astype(object)
    df.loc[4_321, "num_2"] = "oops"
    src = tmp_path / "in.csv"
    df.to_csv(src, index=False, na_rep="NA")
    s = file_settings(make_settings, src, "csv", na_values=["NA"])
    out = tmp_path / "ds.parquet"
    assert write_dataset(s.data, out, block_bytes=SMALL_BLOCK) == ROWS
    report = Report(s.data)
    for batch in pq.ParquetFile(out).iter_batches(batch_size=1_000):
        table = pa.Table.from_batches([batch])
        f, v = check_table(table, s.data.schema_)
        report.add(table.num_rows, table.num_columns, f, v)
    (v,) = report.all_violations
    assert (v.column, v.rule, v.rows, v.examples) == ("num_2", "dtype", 1, [4_322])
    assert "'oops'" in v.detail
    # the whole-frame core reports the same violation
    _, whole = validate(pd.read_parquet(out), s.data)
    assert whole["violations"] == [v.to_dict()]


HEADER = "label,num_0,num_1,num_2,num_3,num_4,num_5,cat_0,cat_1"
ROW = "yes,1,2,3,4,5,6,a,u"
BAD = {
    "empty file": ("", "file is empty"),
    "blank line only": ("\n", "file is empty (no header row)"),
    "header only": (HEADER + "\n", "file has a header but no data rows"),
    "wrong delimiter": ((HEADER + "\n" + ROW + "\n").replace(",", ";"), "the file looks ';'-delimited"),
    "ragged row": (
        HEADER + "\n" + ROW + ",extra\n",
        "cannot read as csv: CSV parse error: Row #2: Expected 9 columns, got 10",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_files_give_one_line_naming_the_file_and_keep_the_old_output(
    make_settings, tmp_path: Path, case: str
) -> None:
    text, expected = BAD[case]
    src = tmp_path / "in.csv"
    src.write_text(text)
    out = tmp_path / "ds.parquet"
    out.write_bytes(b"previous good output")
    s = file_settings(make_settings, src, "csv")
    with pytest.raises(UserError) as exc:
        write_dataset(s.data, out)
    msg = str(exc.value)
    assert msg.startswith(f"{src}: ") and expected in msg and "\n" not in msg, msg
    assert out.read_bytes() == b"previous good output"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds.parquet", "in.csv"]


def test_bad_number_in_the_first_chunk_is_left_to_validate(make_settings, tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text(HEADER + "\n" + ROW.replace(",3,", ",long,") + "\n" + ROW + "\n")
    s = file_settings(make_settings, src, "csv")
    out = tmp_path / "ds.parquet"
    assert write_dataset(s.data, out) == 2
    _, report = validate(pd.read_parquet(out), s.data)
    # Two rows make every other column constant: those quality warnings are not what this test is about.
    found = [(v["column"], v["rule"], v["examples"]) for v in report["violations"] if v["rule"] != "constant"]
    assert found == [("num_2", "dtype", [1])]
