"""ingest: read the configured source and store it as Parquet for the rest of the pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .. import paths
from ..settings import DataSettings, load_settings

if TYPE_CHECKING:
    import pandas as pd


def ingest(data: DataSettings) -> pd.DataFrame:
    """Pure core: the configured source as one DataFrame (columns untouched)."""
    from ..sources import load

    return load(data)


def write_synthetic(data: DataSettings, out: Path) -> int:
    """Stream the generator into Parquet batch by batch: flat memory at any row count."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..io import atomic_path
    from ..sources import synthetic_batches

    rows = 0
    with atomic_path(out) as tmp:
        writer = None
        for frame in synthetic_batches(data.source, data.schema_):
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
            writer.write_table(table.cast(writer.schema))
            rows += len(frame)
        assert writer is not None
        writer.close()
    return rows


def main(params: Path, out: Path = paths.DATASET) -> None:
    from ..io import write_parquet

    data = load_settings(params).data
    if data.source.kind == "synthetic":
        rows = write_synthetic(data, out)
    else:
        df = ingest(data)
        write_parquet(out, df)
        rows = len(df)
    print(f"ingest: {rows} rows from {data.name} ({data.source.kind}) -> {out}")
