"""Batch scoring: CSV or Parquet in, Parquet out, in chunks so memory stays flat.

Each chunk is checked row by row against the signature (the same rules as
/predict: types, ranges, categories, nulls); bad rows go to the reject file
with every reason, good rows are scored. Columns that are not features (ids,
the target, timestamps) are carried through to the output as strings, so the
output schema is the same for every chunk whatever pandas infers per chunk.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..adapters.io import atomic_path, iter_table_batches, parquet_options, parquet_rows, table_format
from ..adapters.progress import progress
from ..config.errors import UserError
from .model import ServedModel


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

    Reasons are built for rejected rows only, so a clean chunk costs no per-row string work.
    """
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
    if isinstance(col.dtype, pd.StringDtype):
        return col.to_numpy(dtype=object, na_value=None)
    if pd.api.types.is_bool_dtype(col.dtype):
        col = col.map({True: "true", False: "false"})
    elif col.dtype == object and pd.api.types.infer_dtype(col, skipna=True) not in {"string", "empty"}:
        col = col.map(lambda v: str(v).lower() if isinstance(v, bool) else v)
    return col.astype("string").to_numpy(dtype=object, na_value=None)


class ParquetSink:
    """Appends tables to one Parquet file; the schema is fixed by the first table written."""

    def __init__(self, path: Path, empty: pd.DataFrame) -> None:
        self.path = path
        self.empty = empty  # written when nothing else was, so the file always has the schema
        self.schema: pa.Schema | None = None
        self._writer: pq.ParquetWriter | None = None

    def write(self, data: pd.DataFrame | pa.Table) -> None:
        if isinstance(data, pa.Table):
            table = data.cast(self.schema) if self.schema is not None else data
        else:
            table = pa.Table.from_pandas(data, schema=self.schema, preserve_index=False)
        table = table.replace_schema_metadata(None)
        if self._writer is None:
            # An all-missing text column in the first chunk would infer the null type: pin it to string.
            fields = [pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f for f in table.schema]
            self.schema = pa.schema(fields)
            table = table.cast(self.schema)
            self._writer = pq.ParquetWriter(self.path, self.schema, **parquet_options(self.schema))
        self._writer.write_table(table)

    def close(self) -> None:
        if self._writer is None:
            self.write(self.empty)
        assert self._writer is not None
        self._writer.close()


def _output_frame(features: Mapping[str, Mapping[str, Any]], proba_cols: list[str]) -> pd.DataFrame:
    """The (empty) output columns: row, features, prediction, one probability per class."""
    feature_cols = {
        n: pd.Series(dtype="float64" if s["dtype"] in {"float", "int"} else object) for n, s in features.items()
    }
    return pd.DataFrame(
        {
            "row": pd.Series(dtype="int64"),
            **feature_cols,
            "prediction": pd.Series(dtype=object),
            **{c: pd.Series(dtype="float64") for c in proba_cols},
        }
    )


def _rejects_frame(chunk: pd.DataFrame, rows: np.ndarray, bad: np.ndarray, reasons: np.ndarray) -> pd.DataFrame:
    """Rejected rows as text, with their row number and reasons first."""
    rej = chunk[bad].astype("string").astype(object)
    rej.insert(0, "reason", reasons)
    rej.insert(0, "row", rows[bad])
    return rej.reset_index(drop=True)


def _scored_table(
    served: ServedModel, chunk: pd.DataFrame, frame: pd.DataFrame, rows: np.ndarray, good: np.ndarray
) -> pa.Table:
    """Predictions for the valid rows, with the carried-through columns.

    Built in Arrow, not pandas: pandas would infer (and convert) every text column again.
    """
    features = served.signature["features"]
    fgood = frame[good].reset_index(drop=True)
    proba = np.asarray(served.proba_frame(fgood), dtype="float64")
    result: dict[str, Any] = {"row": pa.array(rows[good])}
    for c in chunk.columns:
        if c not in features:
            result[c] = pa.array(chunk[c][good].astype("string").to_numpy(dtype=object, na_value=None))
    for c, spec in features.items():
        numeric = spec["dtype"] in {"float", "int"}
        result[c] = pa.array(fgood[c].to_numpy(), type=None if numeric else pa.string())
    classes = pa.array([str(c) for c in served.classes], type=pa.string())
    result["prediction"] = classes.take(pa.array(proba.argmax(axis=1)))
    for i, c in enumerate(served.classes):
        result[f"proba_{c}"] = pa.array(np.ascontiguousarray(proba[:, i]))
    return pa.table(result)


def _batches(input_path: Path, batch_rows: int, show_progress: bool) -> Iterator[pd.DataFrame]:
    """The input in chunks, behind a progress bar (a known total for Parquet, whose footer has the rows)."""
    batches = iter_table_batches(input_path, batch_rows=batch_rows)
    if not show_progress:
        return batches
    total = None
    if table_format(input_path) == "parquet":
        total = math.ceil(parquet_rows(input_path) / batch_rows)
    return progress(batches, desc="score", total=total, unit="batch")


def score(
    served: ServedModel,
    input_path: Path,
    output: Path,
    rejects: Path | None,
    batch_rows: int,
    show_progress: bool = True,
) -> ScoreSummary:
    """Score ``input_path`` chunk by chunk; write predictions (and rejects) as Parquet.

    Both files are written to a temp file beside their destination and renamed on success.
    """
    features = served.signature["features"]
    summary = ScoreSummary()
    start = time.perf_counter()
    with ExitStack() as stack:
        sink = ParquetSink(
            stack.enter_context(atomic_path(output)), _output_frame(features, [f"proba_{c}" for c in served.classes])
        )
        reject_sink = None
        if rejects is not None:
            empty = pd.DataFrame({"row": pd.Series(dtype="int64"), "reason": pd.Series(dtype=object)})
            reject_sink = ParquetSink(stack.enter_context(atomic_path(rejects)), empty)
        for chunk in _batches(input_path, batch_rows, show_progress):
            missing = [c for c in features if c not in chunk.columns]
            if missing:
                raise UserError(f"{input_path}: feature column(s) {missing} are missing")
            rows = np.arange(summary.rows, summary.rows + len(chunk), dtype="int64")
            frame, bad, reasons = check_rows(chunk, features)
            if bad.any() and reject_sink is not None:
                reject_sink.write(_rejects_frame(chunk, rows, bad, reasons))
            good = ~bad
            if good.any():
                sink.write(_scored_table(served, chunk, frame, rows, good))
            summary.rows += len(chunk)
            summary.scored += int(good.sum())
            summary.rejected += int(bad.sum())
        sink.close()
        if reject_sink is not None:
            reject_sink.close()
    summary.seconds = time.perf_counter() - start
    return summary
