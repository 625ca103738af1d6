"""Where the data comes from: a CSV/Parquet file (the embedded one by default) or a generator.

Chosen by `conf/data/*.yaml` (`source.kind`), so pointing the pipeline at
your own CSV or Parquet file is a config change, not a code change.
"""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from ..config.errors import UserError
from ..config.settings import DataSettings, SchemaSpec, SourceSpec
from .tables import CSV_BLOCK_BYTES, iter_csv_arrow, open_parquet, read_table, table_format


def source_path(source: SourceSpec) -> Path | None:
    return Path(str(source.path)) if source.kind == "file" else None


def synthetic_tables(source: SourceSpec, schema: SchemaSpec) -> Iterator[pa.Table]:
    """Yield seeded synthetic rows batch by batch (constant memory for any n_rows).

    The label depends on the numeric and categorical features through a fixed
    random linear model, so models can learn it and metrics mean something.
    Built as Arrow arrays straight from NumPy, missing values as a null mask.
    """
    rng = np.random.default_rng(source.seed)
    feats = schema.feature_columns
    weights = {
        c: rng.normal(size=len(schema.columns[c].categories or [0, 1]))
        if schema.columns[c].dtype == "category"
        else rng.normal()
        for c in feats
    }
    classes = schema.classes
    remaining = source.n_rows
    while remaining > 0:
        n = min(source.batch_rows, remaining)
        remaining -= n
        numbers: dict[str, np.ndarray] = {}
        codes: dict[str, tuple[np.ndarray, list[str]]] = {}  # category columns as codes into their categories
        logit = np.zeros(n)
        for c in feats:
            spec = schema.columns[c]
            if spec.dtype == "category":
                cats = list(spec.categories or [])
                idx = rng.integers(0, len(cats), size=n)
                logit += np.asarray(weights[c])[idx]
                codes[c] = (idx, cats)
            else:
                lo = spec.min if spec.min is not None else -10.0
                hi = spec.max if spec.max is not None else 10.0
                centre, spread = (lo + hi) / 2, (hi - lo) / 8
                x = rng.normal(centre, spread, size=n).clip(lo, hi)
                if spec.dtype == "int":
                    x = np.round(x)
                logit += float(weights[c]) * (x - centre) / spread
                numbers[c] = x
        noise = rng.logistic(size=n)
        score = logit / max(1.0, np.sqrt(len(feats))) + noise
        edges = np.quantile(score, np.linspace(0, 1, len(classes) + 1)[1:-1]) if len(classes) > 2 else [0.0]
        codes[schema.target] = (np.searchsorted(edges, score), list(classes))
        masks: dict[str, np.ndarray] = {}
        if source.missing_rate > 0:
            for c in feats:
                if schema.columns[c].nullable:
                    masks[c] = rng.random(n) < source.missing_rate
        arrays = {c: pa.array(x, mask=masks.get(c)) for c, x in numbers.items()}
        for c, (idx, cats) in codes.items():
            indices = pa.array(idx, mask=masks.get(c))
            arrays[c] = pa.DictionaryArray.from_arrays(indices, pa.array(cats, pa.large_string())).cast(
                pa.large_string()
            )
        yield pa.table({c: arrays[c] for c in schema.columns if c in arrays})


def synthetic_batches(source: SourceSpec, schema: SchemaSpec) -> Iterator[pd.DataFrame]:
    """The same rows as pandas frames (tests, small in-memory use)."""
    for table in synthetic_tables(source, schema):
        yield table.to_pandas()


def _check_delimiter(path: Path, columns: list[str], data: DataSettings) -> None:
    """One column whose name holds another separator: the delimiter is wrong. Say so."""
    expected = set(data.schema_.columns)
    if len(columns) == 1 and str(columns[0]) not in expected and len(expected) > 1:
        head = str(columns[0])
        for sep in [";", "\t", "|", ","]:
            if sep != data.source.delimiter and sep in head:
                raise UserError(
                    f"{path}: found 1 column {head[:60]!r}; the file looks {sep!r}-delimited but "
                    f"source.delimiter is {data.source.delimiter!r}"
                )


def _csv_types(schema: SchemaSpec) -> dict[str, pa.DataType]:
    """Declared columns get a fixed type so every chunk agrees (validate does the real checks):
    the schema's own types, so that validate usually has nothing to convert."""
    return {
        name: pa.float64() if spec.dtype in {"float", "int"} else pa.large_string()
        for name, spec in schema.columns.items()
    }


def iter_source(data: DataSettings, *, as_text: bool = False, block_bytes: int | None = None) -> Iterator[pa.Table]:
    """The configured source, batch by batch, with the same one-line errors as a whole read.

    File sources are streamed with pyarrow (CSV in blocks, Parquet by row
    group), so a file larger than memory ingests in flat memory. CSV columns
    declared in the schema get a fixed type (numbers as float64, the rest as
    text); ``as_text`` reads every column as text (the retry when a value does
    not parse as its declared number, so validate can report it by row).
    """
    src = data.source
    if src.kind == "synthetic":
        yield from synthetic_tables(src, data.schema_)
        return
    path = source_path(src)
    assert path is not None
    if not path.exists():
        raise UserError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: file is empty")
    if table_format(path, src.format) == "parquet":
        batches = _parquet_tables(path, src.batch_rows)
    else:
        batches = iter_csv_arrow(
            path,
            delimiter=src.delimiter,
            na_values=src.na_values,
            column_types=_csv_types(data.schema_),
            as_text=as_text,
            block_bytes=block_bytes or CSV_BLOCK_BYTES,
        )
    rows = 0
    for i, table in enumerate(batches):
        if i == 0:
            _check_delimiter(path, table.column_names, data)
        rows += table.num_rows
        yield table
    if rows == 0:
        raise UserError(f"{path}: file has a header but no data rows")


def _parquet_tables(path: Path, batch_rows: int) -> Iterator[pa.Table]:
    try:
        pf = open_parquet(path)
        for batch in pf.iter_batches(batch_size=batch_rows):
            yield pa.Table.from_batches([batch])
    except (pa.ArrowException, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"{path}: cannot read as parquet: {first}") from None


def load(data: DataSettings) -> pd.DataFrame:
    """Read the configured source whole (the embedded and user files are small-to-medium)."""
    src = data.source
    if src.kind == "synthetic":
        return pd.concat(list(synthetic_batches(src, data.schema_)), ignore_index=True)
    path = source_path(src)
    assert path is not None
    df = read_table(path, fmt=src.format, delimiter=src.delimiter, na_values=src.na_values)
    if df.shape[0] == 0:
        raise UserError(f"{path}: file has a header but no data rows")
    _check_delimiter(path, [str(c) for c in df.columns], data)
    return df
