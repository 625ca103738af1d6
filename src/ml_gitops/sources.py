"""Where the data comes from: a CSV/Parquet file (the embedded one by default) or a generator.

Chosen by `conf/data/*.yaml` (`source.kind`), so pointing the pipeline at
your own CSV or Parquet file is a config change, not a code change.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import UserError
from .settings import DataSettings, SchemaSpec, SourceSpec

if TYPE_CHECKING:
    import pandas as pd


def source_path(source: SourceSpec) -> Path | None:
    return Path(str(source.path)) if source.kind == "file" else None


def synthetic_batches(source: SourceSpec, schema: SchemaSpec) -> Iterator[pd.DataFrame]:
    """Yield seeded synthetic rows batch by batch (constant memory for any n_rows).

    The label depends on the numeric and categorical features through a fixed
    random linear model, so models can learn it and metrics mean something.
    """
    import numpy as np
    import pandas as pd

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
        cols: dict[str, object] = {}
        logit = np.zeros(n)
        for c in feats:
            spec = schema.columns[c]
            if spec.dtype == "category":
                cats = np.array(spec.categories)
                codes = rng.integers(0, len(cats), size=n)
                logit += np.asarray(weights[c])[codes]
                cols[c] = cats[codes].astype(object)
            else:
                lo = spec.min if spec.min is not None else -10.0
                hi = spec.max if spec.max is not None else 10.0
                centre, spread = (lo + hi) / 2, (hi - lo) / 8
                x = rng.normal(centre, spread, size=n).clip(lo, hi)
                if spec.dtype == "int":
                    x = np.round(x)
                logit += float(weights[c]) * (x - centre) / spread
                cols[c] = x
        noise = rng.logistic(size=n)
        score = logit / max(1.0, np.sqrt(len(feats))) + noise
        edges = np.quantile(score, np.linspace(0, 1, len(classes) + 1)[1:-1]) if len(classes) > 2 else [0.0]
        y = np.asarray(classes, dtype=object)[np.searchsorted(edges, score)]
        frame = pd.DataFrame({schema.target: y, **cols})
        if source.missing_rate > 0:
            for c in feats:
                if schema.columns[c].nullable:
                    mask = rng.random(n) < source.missing_rate
                    frame.loc[mask, c] = None
        yield frame[[c for c in schema.columns if c in frame.columns]]


def load(data: DataSettings) -> pd.DataFrame:
    """Read the configured source whole (the embedded and user files are small-to-medium)."""
    import pandas as pd

    from .io import read_table

    src = data.source
    if src.kind == "synthetic":
        return pd.concat(list(synthetic_batches(src, data.schema_)), ignore_index=True)
    path = source_path(src)
    assert path is not None
    df = read_table(path, fmt=src.format, delimiter=src.delimiter, na_values=src.na_values)
    if df.shape[0] == 0:
        raise UserError(f"{path}: file has a header but no data rows")
    expected = set(data.schema_.columns)
    if df.shape[1] == 1 and str(df.columns[0]) not in expected and len(expected) > 1:
        head = str(df.columns[0])
        for sep in [";", "\t", "|", ","]:
            if sep != src.delimiter and sep in head:
                raise UserError(
                    f"{path}: found 1 column {head[:60]!r}; the file looks {sep!r}-delimited but "
                    f"source.delimiter is {src.delimiter!r}"
                )
    return df
