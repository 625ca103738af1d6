"""Batch scoring: CSV or Parquet in, Parquet out, in chunks so memory stays flat.

Each chunk is checked row by row against the signature (the same rules as
/predict: types, ranges, categories, nulls); bad rows go to the reject file
with every reason, good rows are scored. Columns that are not features (ids,
the target, timestamps) are carried through to the output as strings, so the
output schema is the same for every chunk whatever pandas infers per chunk.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config.errors import UserError
from .model import ServedModel

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa


@dataclass
class ScoreSummary:
    rows: int = 0
    scored: int = 0
    rejected: int = 0
    seconds: float = 0.0

    def line(self, output: Path, rejects: Path | None) -> str:
        where = f", rejects in {rejects}" if rejects and self.rejected else ""
        rate = self.rows / self.seconds if self.seconds else 0.0
        return (
            f"score: {self.rows} rows: {self.scored} scored -> {output}, {self.rejected} rejected{where} "
            f"({self.seconds:.1f} s, {rate:,.0f} rows/s)"
        )


def check_rows(
    chunk: pd.DataFrame, features: Mapping[str, Mapping[str, Any]]
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Coerced feature columns, the mask of rejected rows, and each rejected row's reasons.

    Reasons are built for rejected rows only: a clean chunk of 100,000 rows costs no
    per-row string work (it used to be ~40 % of batch scoring).
    """
    import numpy as np
    import pandas as pd

    n = len(chunk)
    found: list[tuple[np.ndarray, Any]] = []  # (row positions, one text or a text per position)
    out: dict[str, Any] = {}

    def flag(mask: Any, text: Any) -> None:
        where = np.flatnonzero(np.asarray(mask, dtype=bool))
        if where.size:
            found.append((where, text))

    for name, spec in features.items():
        raw = chunk[name]
        present = raw.notna().to_numpy()
        if spec["dtype"] in {"float", "int"}:
            if pd.api.types.is_bool_dtype(raw.dtype):
                values = pd.Series(np.nan, index=raw.index)
                flag(present, f"{name}: expected a number")
            else:
                values = pd.to_numeric(raw, errors="coerce").astype("float64")
                flag(present & values.isna().to_numpy(), f"{name}: expected a number")
            arr = values.to_numpy(dtype="float64", na_value=np.nan)
            if spec["dtype"] == "int":
                flag(~np.isnan(arr) & (arr != np.round(arr)), f"{name}: expected an integer")
            lo, hi = spec.get("min"), spec.get("max")
            if lo is not None or hi is not None:
                outside = ~np.isnan(arr) & (
                    (arr < (lo if lo is not None else -np.inf)) | (arr > (hi if hi is not None else np.inf))
                )
                flag(outside, [f"{name}: {float(v)!r} outside [{lo}, {hi}]" for v in arr[outside]])
            out[name] = arr
        else:
            strs = as_strings(raw)
            allowed = ["true", "false"] if spec["dtype"] == "bool" else [str(c) for c in spec["categories"]]
            text = raw if isinstance(raw.dtype, pd.StringDtype) else pd.Series(strs, dtype=object, copy=False)
            unseen = present & ~text.isin(allowed).to_numpy()  # Arrow's isin when the column is Arrow text
            flag(unseen, [f"{name}: unseen category {v!r}" for v in strs[unseen]])
            out[name] = pd.Series(strs, index=chunk.index, dtype=object, copy=False)  # no str inference
        if not spec.get("nullable", True):
            flag(~present, f"{name}: missing value")
    frame = pd.DataFrame(out, index=chunk.index)
    bad = np.zeros(n, dtype=bool)
    for where, _ in found:
        bad[where] = True
    rejected = np.flatnonzero(bad)
    texts: list[list[str]] = [[] for _ in range(rejected.size)]
    for where, text in found:  # in feature order, so a row's reasons read left to right
        slots = np.searchsorted(rejected, where)
        for i, slot in enumerate(slots):
            texts[slot].append(text if isinstance(text, str) else text[i])
    return frame, bad, np.array(["; ".join(t) for t in texts], dtype=object)


def as_strings(col: pd.Series) -> Any:
    """Vectorised str() of a column as an object array, None for missing (booleans as "true"/"false")."""
    import pandas as pd

    if isinstance(col.dtype, pd.StringDtype):
        return col.to_numpy(dtype=object, na_value=None)
    if pd.api.types.is_bool_dtype(col.dtype):
        col = col.map({True: "true", False: "false"})
    elif col.dtype == object and pd.api.types.infer_dtype(col, skipna=True) not in {"string", "empty"}:
        col = col.map(lambda v: str(v).lower() if isinstance(v, bool) else v)
    return col.astype("string").to_numpy(dtype=object, na_value=None)


class _ParquetSink:
    """Append-only Parquet writer to a temp file, renamed into place on success (atomic)."""

    def __init__(self, dest: Path) -> None:
        from ..adapters.io import atomic_path

        self.dest = dest
        self._ctx = atomic_path(dest)
        self._tmp = self._ctx.__enter__()
        self._writer: Any = None
        self.schema: pa.Schema | None = None

    def write(self, df: pd.DataFrame | pa.Table) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        from ..adapters.io import parquet_options

        if isinstance(df, pa.Table):
            table = df.cast(self.schema) if self.schema is not None else df
        else:
            table = pa.Table.from_pandas(df, schema=self.schema, preserve_index=False)
        if self._writer is None:
            # An all-missing text column in the first chunk would infer the null type: pin it to string.
            fields = [pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f for f in table.schema]
            self.schema = pa.schema(fields)
            table = table.cast(self.schema)
            table = table.replace_schema_metadata(None)
            self._writer = pq.ParquetWriter(self._tmp, self.schema, **parquet_options(self.schema))
        self._writer.write_table(table.replace_schema_metadata(None))

    def close(self, empty: pd.DataFrame, ok: bool) -> None:
        if self._writer is None and ok:
            self.write(empty)
        if self._writer is not None:
            self._writer.close()
        self._ctx.__exit__(None if ok else RuntimeError, None, None)


def score(
    served: ServedModel,
    input_path: Path,
    output: Path,
    rejects: Path | None,
    batch_rows: int,
    progress: bool = True,
) -> ScoreSummary:
    """Score ``input_path`` chunk by chunk; write predictions (and rejects) as Parquet."""
    import time

    import numpy as np
    import pandas as pd
    import pyarrow as pa
    from tqdm import tqdm

    from ..adapters.io import iter_table_batches, table_format

    features = served.signature["features"]
    total = None
    if table_format(input_path) == "parquet":
        import pyarrow.parquet as pq

        total = pq.ParquetFile(input_path).metadata.num_rows
    proba_cols = [f"proba_{c}" for c in served.classes]
    classes = pa.array([str(c) for c in served.classes], type=pa.string())
    numeric = {n for n, s in features.items() if s["dtype"] in {"float", "int"}}
    summary = ScoreSummary()
    start = time.perf_counter()
    sink = _ParquetSink(output)
    reject_sink = _ParquetSink(rejects) if rejects else None
    ok = False
    empty_out = pd.DataFrame(
        {
            "row": pd.Series(dtype="int64"),
            **{
                n: pd.Series(dtype="float64" if s["dtype"] in {"float", "int"} else object) for n, s in features.items()
            },
            "prediction": pd.Series(dtype=object),
            **{c: pd.Series(dtype="float64") for c in proba_cols},
        }
    )
    try:
        bar = tqdm(total=total, unit="rows", unit_scale=True, disable=not progress, file=sys.stderr, desc="score")
        with bar:
            for chunk in iter_table_batches(input_path, batch_rows=batch_rows):
                missing = [c for c in features if c not in chunk.columns]
                if missing:
                    raise UserError(f"{input_path}: feature column(s) {missing} are missing")
                rows = np.arange(summary.rows, summary.rows + len(chunk), dtype="int64")
                frame, bad, reasons = check_rows(chunk, features)
                extra = [c for c in chunk.columns if c not in features]
                if bad.any() and reject_sink is not None:
                    rej = chunk[bad].astype("string").astype(object)
                    rej.insert(0, "reason", reasons)
                    rej.insert(0, "row", rows[bad])
                    reject_sink.write(rej.reset_index(drop=True))
                good = ~bad
                if good.any():
                    fgood = frame[good].reset_index(drop=True)
                    proba = np.asarray(served.proba_frame(fgood), dtype="float64")
                    # Built in Arrow, not pandas: pandas would infer (and convert) every text column again.
                    result: dict[str, Any] = {"row": pa.array(rows[good])}
                    for c in extra:
                        result[c] = pa.array(chunk[c][good].astype("string").to_numpy(dtype=object, na_value=None))
                    for c in features:
                        result[c] = pa.array(fgood[c].to_numpy(), type=None if c in numeric else pa.string())
                    result["prediction"] = classes.take(pa.array(proba.argmax(axis=1)))
                    for i, c in enumerate(proba_cols):
                        result[c] = pa.array(np.ascontiguousarray(proba[:, i]))
                    sink.write(pa.table(result))
                summary.rows += len(chunk)
                summary.scored += int(good.sum())
                summary.rejected += int(bad.sum())
                bar.update(len(chunk))
        ok = True
    finally:
        sink.close(empty_out, ok)
        if reject_sink is not None:
            reject_sink.close(pd.DataFrame({"row": pd.Series(dtype="int64"), "reason": pd.Series(dtype=object)}), ok)
    summary.seconds = time.perf_counter() - start
    return summary
