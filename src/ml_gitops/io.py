"""Atomic file output and tabular input.

Every output is written to a temp file in the destination folder and renamed
into place, so a crash (even SIGKILL) leaves either the old file or the new
one, never a half-written file that a rerun would trust.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import UserError

if TYPE_CHECKING:
    import pandas as pd


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp path beside ``dest``; rename it onto ``dest`` on success."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, dest)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_bytes(dest: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)


def write_text(dest: str | os.PathLike[str], text: str) -> None:
    write_bytes(dest, text.encode("utf-8"))


def dump_json(obj: Any) -> str:
    """Stable JSON: sorted keys, fixed indent, trailing newline (byte-identical reruns)."""
    return json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n"


def write_json(dest: str | os.PathLike[str], obj: Any) -> None:
    write_text(dest, dump_json(obj))


def read_json(path: str | os.PathLike[str]) -> Any:
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: file not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise UserError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None


def write_parquet(dest: str | os.PathLike[str], df: pd.DataFrame) -> None:
    """Parquet without pandas metadata timestamps, so equal frames give equal bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    with atomic_path(dest) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def table_format(path: Path, declared: str | None = None) -> str:
    fmt = (declared or path.suffix.lstrip(".")).lower()
    if fmt in {"csv", "txt", "tsv"}:
        return "csv"
    if fmt in {"parquet", "pq"}:
        return "parquet"
    raise UserError(f"{path}: unknown table format {fmt!r} (expected csv or parquet)")


def read_table(
    path: str | os.PathLike[str],
    *,
    fmt: str | None = None,
    delimiter: str = ",",
    na_values: list[str] | None = None,
    columns: list[str] | None = None,
) -> pd.DataFrame:
    """Read a CSV or Parquet file whole, with errors that name the file."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: file is empty")
    kind = table_format(path, fmt)
    try:
        if kind == "parquet":
            return pd.read_parquet(path, columns=columns)
        return pd.read_csv(
            path,
            sep=delimiter,
            na_values=na_values,
            keep_default_na=True,
            usecols=columns,
            dtype_backend="numpy_nullable",
        )
    except pd.errors.EmptyDataError:
        raise UserError(f"{path}: file is empty (no header row)") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"{path}: cannot read as {kind}: {first}") from None


def iter_table_batches(
    path: str | os.PathLike[str],
    *,
    batch_rows: int,
    fmt: str | None = None,
    delimiter: str = ",",
    na_values: list[str] | None = None,
) -> Iterator[pd.DataFrame]:
    """Stream a CSV or Parquet file in batches so memory stays flat."""
    import pandas as pd
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: file not found")
    if table_format(path, fmt) == "parquet":
        for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
            yield batch.to_pandas()
        return
    reader = pd.read_csv(
        path,
        sep=delimiter,
        na_values=na_values,
        chunksize=batch_rows,
        dtype_backend="numpy_nullable",
    )
    with reader:
        yield from reader
