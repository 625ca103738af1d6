"""ingest: read the configured source and store it as Parquet for the rest of the pipeline.

The source is streamed batch by batch (CSV blocks, Parquet row groups, or
generated batches) into a Parquet writer, so memory stays flat however large
the input is.
"""

import logging
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa

from ..adapters.io import clear_stale
from ..adapters.progress import progress, timed
from ..adapters.sources import iter_source, load
from ..adapters.tables import TypeConflict, write_batches
from ..config import paths
from ..config.settings import DataSettings, load_settings

log = logging.getLogger(__name__)


def ingest(data: DataSettings) -> pd.DataFrame:
    """Pure core: the configured source as one DataFrame (columns untouched; small data, tests)."""
    return load(data)


def write_dataset(data: DataSettings, out: Path, *, block_bytes: int | None = None) -> int:
    """Stream the source into ``out`` (atomic); returns the row count.

    Row groups hold ``source.batch_rows`` rows, so the bytes do not depend on
    how the reader chunked the input. When a CSV value does not parse as its
    declared number, the file is re-read with every column as text, so that
    validate (not a parser) reports the culprit with its column and rows.
    """
    rows_per_group = data.source.batch_rows

    def batches(as_text: bool = False) -> Iterator[pa.Table]:
        return progress(iter_source(data, as_text=as_text, block_bytes=block_bytes), desc="ingest", unit="batch")

    try:
        return write_batches(out, batches(), row_group_rows=rows_per_group)
    except TypeConflict:
        log.info("ingest: a value does not parse as its declared type; reading every column as text")
        return write_batches(out, batches(as_text=True), row_group_rows=rows_per_group)


def main(params: Path, out: Path = paths.DATASET) -> None:
    clear_stale(out)
    data = load_settings(params).data
    with timed(log, "ingest: read and write"):
        rows = write_dataset(data, out)
    log.info("ingest: %d rows from %s (%s) -> %s", rows, data.name, data.source.kind, out)
