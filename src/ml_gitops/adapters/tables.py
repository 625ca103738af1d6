"""Tables in and out: CSV and Parquet read whole or in batches, Parquet written atomically.

Kept apart from adapters/io.py (files, JSON) because pandas and pyarrow cost about half a second
to import: commands that only read tags or write JSON (`registry`, `release`, `gate`) skip it.
"""

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from ..config.errors import UserError
from .io import atomic_path

# pandas' default NA strings (read_csv keep_default_na=True): the streaming CSV
# reader treats the same strings as missing, so chunked and whole-file reads agree.
DEFAULT_NA_VALUES = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
)  # fmt: skip
# Bytes per block of the streaming CSV reader: memory stays near this times a few.
CSV_BLOCK_BYTES = 16 << 20
# Every Parquet file we write: zstd level 1 (docs/performance.md, "Parquet writes").
PARQUET_WRITE_OPTIONS: dict[str, Any] = {"compression": "zstd", "compression_level": 1}


def parquet_options(schema: pa.Schema) -> dict[str, Any]:
    """Writer options for a table: dictionary encoding for text columns only.

    pyarrow tries a dictionary for every column by default; on float columns with
    many distinct values it builds one, gives up at the page limit and starts over
    plain, for a larger file and a slower write.
    """
    text = [
        f.name
        for f in schema
        if pa.types.is_string(f.type) or pa.types.is_large_string(f.type) or pa.types.is_dictionary(f.type)
    ]
    return {**PARQUET_WRITE_OPTIONS, "use_dictionary": text}


def write_parquet(dest: str | os.PathLike[str], df: pd.DataFrame) -> None:
    """Parquet without pandas metadata timestamps, so equal frames give equal bytes."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    with atomic_path(dest) as tmp:
        pq.write_table(table, tmp, **parquet_options(table.schema))


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
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: file not found")
    if table_format(path, fmt) == "parquet":
        for batch in open_parquet(path).iter_batches(batch_size=batch_rows):
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


class TypeConflict(Exception):
    """A CSV value does not fit the column type the streaming reader chose."""


def iter_csv_arrow(
    path: str | os.PathLike[str],
    *,
    delimiter: str = ",",
    na_values: Iterable[str] = (),
    column_types: dict[str, pa.DataType] | None = None,
    as_text: bool = False,
    block_bytes: int = CSV_BLOCK_BYTES,
) -> Iterator[pa.Table]:
    """Stream a CSV file as Arrow tables (one per block) with pyarrow's reader.

    ``column_types`` fixes the type of the named columns (others are inferred
    from the first block); ``as_text`` reads every column as text instead.
    Raises ``TypeConflict`` when a later value does not fit a column's type (the
    caller retries with ``as_text``), and ``UserError`` naming the file otherwise.
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: file is empty")
    nulls = sorted(set(DEFAULT_NA_VALUES) | set(na_values))
    convert = pcsv.ConvertOptions(
        null_values=nulls,
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        column_types=dict(column_types or {}),
    )
    read = pcsv.ReadOptions(block_size=block_bytes, use_threads=False)
    parse = pcsv.ParseOptions(delimiter=delimiter)

    def fail(err: Exception) -> UserError:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if "Empty CSV file" in first:
            return UserError(f"{path}: file is empty (no header row)")
        return UserError(f"{path}: cannot read as csv: {first}")

    try:
        if as_text:
            # Read the header once to learn the column names, then read all as strings.
            head = pcsv.open_csv(path, read_options=read, parse_options=parse)
            names = head.schema.names
            head.close()
            convert.column_types = dict.fromkeys(names, pa.string())
        reader = pcsv.open_csv(path, read_options=read, parse_options=parse, convert_options=convert)
        with reader:
            for batch in reader:
                yield pa.Table.from_batches([batch])
    except pa.ArrowInvalid as err:
        if "conversion error" in str(err) and not as_text:
            raise TypeConflict(str(err)) from None
        raise fail(err) from None
    except (pa.ArrowException, OSError) as err:
        raise fail(err) from None


class ParquetSink:
    """Append Arrow/pandas batches to one Parquet file in fixed-size row groups.

    Row groups hold exactly ``row_group_rows`` rows (the last one fewer), so the
    bytes do not depend on how the input happened to be chunked. The file is
    written to a temp path and renamed into place by ``close`` (atomic).
    """

    def __init__(self, dest: str | os.PathLike[str], row_group_rows: int) -> None:
        self.dest = Path(dest)
        self.row_group_rows = row_group_rows
        self.rows = 0
        self._ctx = atomic_path(self.dest)
        self._tmp = self._ctx.__enter__()
        self._writer: Any = None
        self._pending: list[pa.Table] = []
        self._pending_rows = 0

    def write(self, batch: pa.Table | pd.DataFrame) -> None:
        table = batch if isinstance(batch, pa.Table) else pa.Table.from_pandas(batch, preserve_index=False)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._tmp, table.schema, **parquet_options(table.schema))
        elif not table.schema.equals(self._writer.schema, check_metadata=False):
            table = table.select(self._writer.schema.names).cast(self._writer.schema)
        self._pending.append(table)
        self._pending_rows += table.num_rows
        self.rows += table.num_rows
        while self._pending_rows >= self.row_group_rows:
            self._flush(self.row_group_rows)

    def _flush(self, n: int) -> None:
        whole = pa.concat_tables(self._pending)
        self._writer.write_table(whole.slice(0, n).combine_chunks(), row_group_size=n)
        rest = whole.slice(n)
        self._pending = [rest] if rest.num_rows else []
        self._pending_rows = rest.num_rows

    def close(self, *, empty_schema: pa.Schema | None = None) -> int:
        """Finish the file and move it into place; returns the row count."""
        try:
            if self._pending_rows:
                self._flush(self._pending_rows)
            if self._writer is None:
                if empty_schema is None:
                    raise ValueError("no batch was written and no schema was given")
                self._writer = pq.ParquetWriter(self._tmp, empty_schema, **parquet_options(empty_schema))
            self._writer.close()
        except BaseException as err:
            self.abort(err)
            raise
        self._ctx.__exit__(None, None, None)
        return self.rows

    def abort(self, err: BaseException | None = None) -> None:
        """Drop the temp file; the previous output stays in place."""
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
        with contextlib.suppress(BaseException):
            self._ctx.__exit__(type(err) if err else RuntimeError, err or RuntimeError("aborted"), None)

    def __enter__(self) -> "ParquetSink":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.abort(exc)


def write_batches(
    dest: str | os.PathLike[str], batches: Iterable[pa.Table | pd.DataFrame], *, row_group_rows: int
) -> int:
    """Stream ``batches`` into one Parquet file atomically; returns the row count."""
    with ParquetSink(dest, row_group_rows) as sink:
        for batch in batches:
            sink.write(batch)
        return sink.close()


def open_parquet(path: str | os.PathLike[str]) -> Any:
    """A ``ParquetFile`` for streaming: without pre-buffering, which (pyarrow 26)
    keeps every batch read so far alive and makes memory grow with the file."""
    return pq.ParquetFile(path, pre_buffer=False)


def parquet_rows(path: str | os.PathLike[str]) -> int:
    """Row count from the Parquet footer (no data read)."""
    return int(open_parquet(path).metadata.num_rows)
