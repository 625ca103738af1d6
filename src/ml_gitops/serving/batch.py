"""Batch scoring: CSV or Parquet in, Parquet out, in chunks so memory stays flat.

Each row is validated by /predict's own field types (`validation.validate_columns`: types,
ranges, categories, nulls, the same missing spellings); bad rows go to the reject file with
every reason, good rows are scored. A CSV line that is not a record (an unbalanced quote,
too many or too few fields, not UTF-8) goes to the reject file with its line number and the
reason, and the run goes on: CSV is read line by line here, so one broken line cannot eat
the lines after it (a quoted value cannot span lines). Columns that are not features (ids,
the target, timestamps) are carried through to the output as strings, so the output schema
is the same for every chunk whatever pandas infers per chunk.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..adapters.io import atomic_path
from ..adapters.progress import progress
from ..adapters.tables import iter_table_batches, parquet_options, parquet_rows, table_format
from ..config.errors import UserError
from .model import ServedModel
from .validation import MISSING_TEXT, RequestModels, build, is_missing, validate_columns


@dataclass
class ScoreSummary:
    rows: int = 0  # data lines (CSV) or rows (Parquet) read
    records: int = 0  # of which well-formed records (numbered 0.. in the `row` column)
    scored: int = 0
    rejected: int = 0  # invalid records + malformed lines
    malformed: int = 0
    seconds: float = 0.0

    def line(self, output: Path, rejects: Path | None) -> str:
        where = f", rejects in {rejects}" if rejects and self.rejected else ""
        if self.malformed:
            where = f" ({self.malformed} malformed CSV line(s)){where}"
        rate = self.rows / self.seconds if self.seconds else 0.0
        return (
            f"score: {self.rows} rows: {self.scored} scored -> {output}, {self.rejected} rejected{where} "
            f"({self.seconds:.1f} s, {rate:,.0f} rows/s)"
        )


def _text_mask(col: pd.Series, raw: np.ndarray) -> np.ndarray:
    """Which cells are strings: by dtype when it says (typed Parquet, CSV text), else cell by cell."""
    if pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype):
        return np.zeros(len(raw), dtype=bool)
    if isinstance(col.dtype, pd.StringDtype) or pd.api.types.infer_dtype(col, skipna=True) in {"string", "empty"}:
        return col.notna().to_numpy(dtype=bool, copy=True)
    return np.fromiter((isinstance(v, str) for v in raw), dtype=bool, count=len(raw))


def decode_column(col: pd.Series, dtype: str) -> tuple[list[Any], Any]:
    """A file's column as the JSON values /predict would get, and the column for the model.

    Only the file format is decoded here (every CSV cell is text): missing spellings become None
    (`is_missing`, the rule /predict applies), text that reads as a number becomes that number for
    a number feature, "true"/"false" a bool for a bool feature. Whether a value is valid is
    `validate_columns`' decision alone: text that is not a number stays text, and is refused with
    /predict's message.
    """
    numeric = pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype)
    if dtype in {"float", "int"} and numeric:  # typed Parquet: no text to decode
        nums = col.to_numpy(dtype="float64", na_value=np.nan)
        if dtype == "int" and pd.api.types.is_integer_dtype(col.dtype):
            return col.to_numpy(dtype=object, na_value=None).tolist(), nums
        nan = np.isnan(nums)
        if not nan.any():
            return nums.tolist(), nums
        values = nums.astype(object)
        values[nan] = None
        return values.tolist(), nums
    raw = col.to_numpy(dtype=object, na_value=None, copy=True)
    text = _text_mask(col, raw)
    if text.any():
        missing = text & pd.Series(raw, dtype=object).isin(MISSING_TEXT).to_numpy()
        raw[missing] = None
        text &= ~missing
    if dtype in {"float", "int"}:
        if pd.api.types.is_bool_dtype(col.dtype):
            return raw.tolist(), np.full(len(raw), np.nan)  # booleans are not numbers, as in JSON
        nums = pd.to_numeric(pd.Series(raw, dtype=object), errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        values = raw.copy()
        parsed = text & ~np.isnan(nums)
        values[parsed] = nums[parsed]
        out = values.tolist()
        if dtype == "int":  # "12" is 12: keep integers exact (a float would do for the validator too)
            for k in np.flatnonzero(parsed):
                if raw[k].strip().lstrip("+-").isdigit():
                    out[k] = int(raw[k])
        return out, nums
    if dtype == "bool":
        values = raw.copy()
        for k in np.flatnonzero(text):
            values[k] = {"true": True, "false": False}.get(raw[k].lower(), raw[k])
        model = [None if v is None else ("true" if v is True else "false" if v is False else v) for v in values]
        return values.tolist(), pd.Series(model, dtype=object)
    return raw.tolist(), pd.Series(raw, dtype=object)


def check_rows(
    chunk: pd.DataFrame, features: Mapping[str, Mapping[str, Any]], models: RequestModels
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The valid rows' feature columns, the mask of rejected rows, and each rejected row's reasons.

    The rules are /predict's field types (`validation.validate_columns`), one column at a time.
    """
    values: dict[str, list[Any]] = {}
    model: dict[str, Any] = {}
    for name, spec in features.items():
        values[name], model[name] = decode_column(chunk[name], spec["dtype"])
    bad_list, reasons = validate_columns(models, values, len(chunk))
    bad = np.asarray(bad_list, dtype=bool)
    good = ~bad
    frame = pd.DataFrame(
        {n: (c[good] if isinstance(c, np.ndarray) else c[good].reset_index(drop=True)) for n, c in model.items()}
    )
    return frame, bad, np.array(reasons, dtype=object)


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


def _output_frame(features: Mapping[str, Mapping[str, Any]], proba_cols: list[str], regression: bool) -> pd.DataFrame:
    """The (empty) output columns: row, features, prediction (a regressor's float), one probability per class."""
    feature_cols = {
        n: pd.Series(dtype="float64" if s["dtype"] in {"float", "int"} else object) for n, s in features.items()
    }
    return pd.DataFrame(
        {
            "row": pd.Series(dtype="int64"),
            **feature_cols,
            "prediction": pd.Series(dtype="float64" if regression else object),
            **{c: pd.Series(dtype="float64") for c in proba_cols},
        }
    )


@dataclass
class Chunk:
    """Records of the input (CSV cells as text), their CSV line numbers, and the lines that were not records."""

    frame: pd.DataFrame
    lines: np.ndarray | None = None
    malformed: list[tuple[int, str]] = field(default_factory=list)


def _parse_line(raw: bytes, width: int) -> tuple[list[str] | None, str | None]:
    """A CSV line's fields, or why it is not a record of ``width`` fields ((None, None): blank line)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, "not UTF-8 text"
    if not text.strip():
        return None, None  # blank lines are skipped, as pandas does
    try:
        [fields] = csv.reader([text], strict=True)
    except csv.Error as err:
        reason = "unbalanced quote" if "unexpected end of data" in str(err) else f"malformed quoting ({err})"
        return None, reason
    if len(fields) != width:
        return None, f"{len(fields)} fields, expected {width} (the header's)"
    return fields, None


def check_input(path: Path) -> None:
    """Refuse a missing or empty input with one line before the model is loaded."""
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    if table_format(path) == "csv":
        with path.open("rb") as f:
            if not any(line.strip() for line in f):
                raise UserError(f"{path}: file is empty (no header row)")
    elif path.stat().st_size == 0:
        raise UserError(f"{path}: file is empty")


def iter_csv_chunks(path: Path, batch_rows: int) -> Iterator[Chunk]:
    """A CSV file in chunks of records (text cells, missing spellings as None) and malformed lines."""
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    with path.open("rb") as f:
        header: list[str] | None = None
        lineno = 0
        for raw in f:
            lineno += 1
            if not raw.strip():
                continue
            try:
                [header] = csv.reader([raw.decode("utf-8-sig")], strict=True)
            except (UnicodeDecodeError, csv.Error) as err:
                raise UserError(f"{path}: line {lineno} (the header) is not a CSV header ({err})") from None
            break
        if header is None:
            raise UserError(f"{path}: file is empty (no header row)")
        rows: list[list[str]] = []
        lines: list[int] = []
        malformed: list[tuple[int, str]] = []
        for raw in f:
            lineno += 1
            fields, reason = _parse_line(raw, len(header))
            if reason is not None:
                malformed.append((lineno, reason))
            elif fields is not None:
                rows.append([None if is_missing(v) else v for v in fields])
                lines.append(lineno)
            if len(rows) + len(malformed) >= batch_rows:
                yield Chunk(pd.DataFrame(rows, columns=header, dtype=object), np.array(lines, dtype="int64"), malformed)
                rows, lines, malformed = [], [], []
        if rows or malformed:
            yield Chunk(pd.DataFrame(rows, columns=header, dtype=object), np.array(lines, dtype="int64"), malformed)


def _rejects_frame(chunk: Chunk, rows: np.ndarray, bad: np.ndarray, reasons: np.ndarray) -> pd.DataFrame:
    """Rejected rows as text, with their row number, CSV line and reasons first; then the malformed lines."""
    rej = chunk.frame[bad].astype("string").astype(object).reset_index(drop=True)
    rej.insert(0, "reason", reasons)
    rej.insert(0, "line", pd.array(chunk.lines[bad] if chunk.lines is not None else [None] * len(rej), dtype="Int64"))
    rej.insert(0, "row", pd.array(rows[bad], dtype="Int64"))
    if chunk.malformed:
        broken = pd.DataFrame(
            {
                "row": pd.array([None] * len(chunk.malformed), dtype="Int64"),
                "line": pd.array([n for n, _ in chunk.malformed], dtype="Int64"),
                "reason": [f"line {n}: {why}" for n, why in chunk.malformed],
                **{c: pd.Series([None] * len(chunk.malformed), dtype=object) for c in chunk.frame.columns},
            }
        )
        rej = pd.concat([rej, broken], ignore_index=True) if len(rej) else broken
    return rej


def _scored_table(
    served: ServedModel, chunk: pd.DataFrame, fgood: pd.DataFrame, rows: np.ndarray, good: np.ndarray
) -> pa.Table:
    """Predictions for the valid rows (``fgood``: their validated features), with the carried-through columns.

    Built in Arrow, not pandas: pandas would infer (and convert) every text column again.
    """
    features = served.signature["features"]
    scores = np.asarray(served.predict_frame(fgood), dtype="float64")
    result: dict[str, Any] = {"row": pa.array(rows[good])}
    for c in chunk.columns:
        if c not in features:
            result[c] = pa.array(chunk[c][good].astype("string").to_numpy(dtype=object, na_value=None))
    for c, spec in features.items():
        numeric = spec["dtype"] in {"float", "int"}
        result[c] = pa.array(fgood[c].to_numpy(), type=None if numeric else pa.string())
    if served.task == "regression":
        result["prediction"] = pa.array(scores, type=pa.float64())
        return pa.table(result)
    classes = pa.array([str(c) for c in served.classes], type=pa.string())
    result["prediction"] = classes.take(pa.array(scores.argmax(axis=1)))
    for i, c in enumerate(served.classes):
        result[f"proba_{c}"] = pa.array(np.ascontiguousarray(scores[:, i]))
    return pa.table(result)


def _batches(input_path: Path, batch_rows: int, show_progress: bool) -> Iterator[Chunk]:
    """The input in chunks, behind a progress bar (a known total for Parquet, whose footer has the rows)."""
    if table_format(input_path) == "csv":
        batches: Iterator[Chunk] = iter_csv_chunks(input_path, batch_rows)
    else:
        batches = (Chunk(df) for df in iter_table_batches(input_path, batch_rows=batch_rows))
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
    models = build(served.signature, max_records=1)
    summary = ScoreSummary()
    start = time.perf_counter()
    with ExitStack() as stack:
        empty_out = _output_frame(features, [f"proba_{c}" for c in served.classes], served.task == "regression")
        sink = ParquetSink(stack.enter_context(atomic_path(output)), empty_out)
        reject_sink = None
        if rejects is not None:
            empty = pd.DataFrame(
                {"row": pd.Series(dtype="Int64"), "line": pd.Series(dtype="Int64"), "reason": pd.Series(dtype=object)}
            )
            reject_sink = ParquetSink(stack.enter_context(atomic_path(rejects)), empty)
        for chunk in _batches(input_path, batch_rows, show_progress):
            missing = [c for c in features if c not in chunk.frame.columns]
            if missing:
                raise UserError(f"{input_path}: feature column(s) {missing} are missing")
            rows = np.arange(summary.records, summary.records + len(chunk.frame), dtype="int64")
            fgood, bad, reasons = check_rows(chunk.frame, features, models)
            if (bad.any() or chunk.malformed) and reject_sink is not None:
                reject_sink.write(_rejects_frame(chunk, rows, bad, reasons))
            good = ~bad
            if good.any():
                sink.write(_scored_table(served, chunk.frame, fgood, rows, good))
            summary.records += len(chunk.frame)
            summary.rows += len(chunk.frame) + len(chunk.malformed)
            summary.scored += int(good.sum())
            summary.rejected += int(bad.sum()) + len(chunk.malformed)
            summary.malformed += len(chunk.malformed)
        sink.close()
        if reject_sink is not None:
            reject_sink.close()
    summary.seconds = time.perf_counter() - start
    return summary
