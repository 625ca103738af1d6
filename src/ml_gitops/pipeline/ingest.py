"""ingest: read the configured source and store it as Parquet for the rest of the pipeline.

The source is streamed batch by batch (CSV blocks, Parquet row groups, or
generated batches) into a Parquet writer, so memory stays flat however large
the input is: see docs/performance.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..config import paths
from ..config.settings import DataSettings, load_settings

if TYPE_CHECKING:
    import pandas as pd


def ingest(data: DataSettings) -> pd.DataFrame:
    """Pure core: the configured source as one DataFrame (columns untouched; small data, tests)."""
    from ..adapters.sources import load

    return load(data)


def write_dataset(data: DataSettings, out: Path, *, block_bytes: int | None = None) -> int:
    """Stream the source into ``out`` (atomic); returns the row count.

    Row groups hold ``source.batch_rows`` rows, so the bytes do not depend on
    how the reader chunked the input. When a CSV value does not parse as its
    declared number, the file is re-read with every column as text, so that
    validate (not a parser) reports the culprit with its column and rows.
    """
    from ..adapters.io import TypeConflict, write_batches
    from ..adapters.sources import iter_source

    rows_per_group = data.source.batch_rows
    try:
        return write_batches(out, iter_source(data, block_bytes=block_bytes), row_group_rows=rows_per_group)
    except TypeConflict:
        return write_batches(
            out, iter_source(data, as_text=True, block_bytes=block_bytes), row_group_rows=rows_per_group
        )


def write_synthetic(data: DataSettings, out: Path) -> int:
    """Stream the generator into Parquet batch by batch: flat memory at any row count."""
    return write_dataset(data, out)


def main(params: Path, out: Path = paths.DATASET) -> None:
    data = load_settings(params).data
    rows = write_dataset(data, out)
    print(f"ingest: {rows} rows from {data.name} ({data.source.kind}) -> {out}")
