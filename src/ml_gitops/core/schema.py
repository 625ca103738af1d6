"""One schema for the data: validation at ingest, at serving time and in monitoring.

`check_frame` reports every violation at once (column, rule, how many rows, a
few example row numbers) instead of stopping at the first, so a user fixes
their file in one pass.
"""

import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..config.errors import UserError
from ..config.settings import ColumnSpec, SchemaSpec

EXAMPLE_ROWS = 5


@dataclass(frozen=True)
class Violation:
    column: str
    rule: str  # missing_column | extra_column | dtype | null | range | category
    rows: int  # how many rows break the rule (0 for column-level rules)
    detail: str
    examples: list[int] = field(default_factory=list)  # 1-based data row numbers
    severity: str = "error"

    def line(self) -> str:
        where = f", {self.rows} row(s)" if self.rows else ""
        ex = f", e.g. row {', '.join(map(str, self.examples))}" if self.examples else ""
        return f"column {self.column!r}: {self.rule}{where}: {self.detail}{ex}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _examples(mask: Any) -> list[int]:
    idx = np.flatnonzero(np.asarray(mask))[:EXAMPLE_ROWS]
    return [int(i) + 1 for i in idx]


def _numeric(series: pd.Series, spec: ColumnSpec) -> tuple[pd.Series | None, Violation | None]:
    values = pd.to_numeric(series, errors="coerce")
    bad = values.isna() & series.notna()
    if bad.any():
        sample = series[bad].iloc[0]
        return None, Violation(
            str(series.name),
            "dtype",
            int(bad.sum()),
            f"expected {spec.dtype}, found non-numeric value {sample!r}",
            _examples(bad),
        )
    if spec.dtype == "int":
        frac = values.notna() & (values != values.round())
        if frac.any():
            return None, Violation(
                str(series.name),
                "dtype",
                int(frac.sum()),
                f"expected int, found {float(values[frac].iloc[0])!r}",
                _examples(frac),
            )
    return values.astype("float64"), None


def _map_unique(series: pd.Series, fn: Any) -> pd.Series:
    """``fn`` applied to each distinct non-missing value once (missing values become None).

    Columns have few distinct values and many rows, so each distinct value is mapped once.
    """
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    mapped = np.array([*(fn(u) for u in uniques), None], dtype=object)  # code -1 (missing) takes the last
    return pd.Series(mapped[codes], index=series.index, name=series.name)  # dtype inferred, as Series.map did


BOOL_WORDS = {"true": "true", "false": "false", "1": "true", "0": "false"}


def _bool_text(v: Any) -> str:
    """ "true"/"false" for a bool or a bool word ("1", "FALSE", ...); "?" otherwise."""
    return BOOL_WORDS.get(str(v).strip().lower(), "?")


def _category_text(v: Any) -> str:
    """Numbers become their string form ("1" not "1.0" for whole floats)."""
    return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)


def coerce_column(series: pd.Series, spec: ColumnSpec) -> tuple[pd.Series | None, Violation | None]:
    """Convert a column to its canonical dtype (float64 or object str), or say why not."""
    if spec.dtype in {"float", "int"}:
        return _numeric(series, spec)
    if spec.dtype == "bool":
        mapped = _map_unique(series, _bool_text)
        bad = mapped == "?"
        if bad.any():
            return None, Violation(
                str(series.name),
                "dtype",
                int(bad.sum()),
                f"expected bool, found {series[bad].iloc[0]!r}",
                _examples(bad),
            )
        return mapped, None
    if spec.dtype == "date":
        return _dates(series)
    return _map_unique(series, _category_text), None


def parse_dates(values: Any) -> pd.DatetimeIndex:
    """Date text (ISO, or any form pandas reads) as timestamps; what does not parse is NaT.

    Each distinct value is parsed once: a date column has far fewer days than rows.
    """
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    text = pd.Series(uniques, dtype=object).astype(str)
    parsed = pd.to_datetime(text, errors="coerce", format="mixed", utc=True).dt.tz_localize(None)  # zones as UTC
    out = np.append(parsed.to_numpy(dtype="datetime64[ns]"), np.datetime64("NaT", "ns"))
    return pd.DatetimeIndex(out[codes])


def _dates(series: pd.Series) -> tuple[pd.Series | None, Violation | None]:
    """Date text kept as written, after checking every value parses (the model derives its parts)."""
    text = _map_unique(series, _category_text)
    bad = np.asarray(text.notna()) & np.asarray(parse_dates(text).isna())
    if bad.any():
        first = text[bad].iloc[0]
        return None, Violation(
            str(series.name), "dtype", int(bad.sum()), f"expected a date, found {first!r}", _examples(bad)
        )
    return text, None


def _arrow_examples(mask: pa.ChunkedArray | pa.Array) -> list[int]:
    return [int(i) + 1 for i in pc.indices_nonzero(mask).slice(0, EXAMPLE_ROWS).to_pylist()]


def _from_pandas(series: pd.Series, type_: pa.DataType) -> pa.ChunkedArray:
    """A coerced pandas column as Arrow (NaN and None become null)."""
    return pa.chunked_array([pa.array(series, type=type_, from_pandas=True)], type=type_)


def coerce_array(column: pa.ChunkedArray | pd.Series, spec: ColumnSpec) -> tuple[Any, Violation | None]:
    """An Arrow or pandas column as its canonical Arrow type (float64, or text), or why not.

    Columns that already have their type (numbers for numbers, text for categories,
    Arrow bools for bools) are converted with Arrow compute; any other column
    (numbers stored as text, categories stored as numbers, mixed pandas objects)
    goes through ``coerce_column`` so both paths answer the same.
    """
    if isinstance(column, pa.ChunkedArray):
        t = column.type
        if pa.types.is_dictionary(t):
            column, t = column.cast(t.value_type), t.value_type
        numbers = pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_null(t)
        if spec.dtype in {"float", "int"} and numbers:
            values = column.cast(pa.float64())
            values = pc.if_else(pc.is_nan(values), pa.scalar(None, pa.float64()), values)  # NaN is missing
            if spec.dtype == "int":
                frac = pc.fill_null(pc.not_equal(values, pc.round(values)), pa.scalar(False))
                if pc.any(frac).as_py():
                    first = pc.filter(values, frac)[0].as_py()
                    n = pc.sum(frac).as_py()
                    return None, Violation("", "dtype", n, f"expected int, found {first!r}", _arrow_examples(frac))
            return values, None
        text = pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t)
        if spec.dtype in {"category", "text", "id"} and text:
            return column.cast(pa.large_string()), None
        if spec.dtype == "bool" and pa.types.is_boolean(t):
            yes, no = pa.scalar("true", pa.large_string()), pa.scalar("false", pa.large_string())
            return pc.if_else(column, yes, no), None
        column = column.to_pandas()
    coerced, err = coerce_column(column.reset_index(drop=True), spec)
    if err is not None:
        return None, err
    assert coerced is not None
    return _from_pandas(coerced, pa.float64() if spec.dtype in {"float", "int"} else pa.large_string()), None


def check_columns(
    columns: dict[str, Any],
    schema: SchemaSpec,
    *,
    warn_only: frozenset[str] = frozenset(),
    require_target: bool = True,
    max_abs: float = 1e150,
) -> tuple[pa.Table, list[Violation]]:
    """Validate and coerce named columns (Arrow arrays or pandas Series) against ``schema``.

    Returns the coerced table (schema columns only, in schema order: numbers as
    float64, categories and bools as text) and every violation found. Rules in
    ``warn_only`` are reported with severity "warning". Infinite numbers and any
    above ``max_abs`` in magnitude are refused whether or not the column has a range.
    """
    violations: list[Violation] = []

    def add(v: Violation) -> None:
        sev = "warning" if v.rule in warn_only else "error"
        violations.append(Violation(v.column, v.rule, v.rows, v.detail, v.examples, sev))

    expected = [c for c in schema.columns if require_target or c != schema.target]
    for col in expected:
        if col not in columns:
            add(Violation(col, "missing_column", 0, "column is absent"))
    if not schema.allow_extra_columns:
        for col in columns:
            if col not in schema.columns:
                add(Violation(str(col), "extra_column", 0, "column is not in the schema"))

    out: dict[str, pa.ChunkedArray] = {}
    for col in expected:
        if col not in columns:
            continue
        spec = schema.columns[col]
        values, err = coerce_array(columns[col], spec)
        if err is not None:
            add(Violation(col, err.rule, err.rows, err.detail, err.examples))
            continue
        out[col] = values
        if (not spec.nullable or col == schema.target) and values.null_count:
            what = "target" if col == schema.target else "non-nullable column"
            nulls = pc.is_null(values)
            add(Violation(col, "null", values.null_count, f"missing values in {what}", _arrow_examples(nulls)))
        if spec.dtype in {"float", "int"}:
            infinite = pc.fill_null(pc.is_inf(values), pa.scalar(False))
            if pc.any(infinite).as_py():
                first = pc.filter(values, infinite)[0].as_py()
                n = pc.sum(infinite).as_py()
                add(Violation(col, "non_finite", n, f"infinite value {first!r}", _arrow_examples(infinite)))
                values = pc.if_else(infinite, pa.scalar(None, pa.float64()), values)  # reported once, not as range
            huge = pc.fill_null(pc.greater(pc.abs(values), max_abs), pa.scalar(False))
            if pc.any(huge).as_py():
                first = pc.filter(values, huge)[0].as_py()
                n = pc.sum(huge).as_py()
                detail = f"|value| above data.max_abs_value {max_abs:g}, e.g. {first!r}"
                add(Violation(col, "magnitude", n, detail, _arrow_examples(huge)))
            lo = -float("inf") if spec.min is None else spec.min
            hi = float("inf") if spec.max is None else spec.max
            below, above = pc.less(values, lo), pc.greater(values, hi)
            outside = pc.fill_null(pc.or_(below, above), pa.scalar(False))
            if pc.any(outside).as_py():
                first = pc.filter(values, outside)[0].as_py()
                add(
                    Violation(
                        col,
                        "range",
                        pc.sum(outside).as_py(),
                        f"values outside [{spec.min}, {spec.max}], e.g. {first!r}",
                        _arrow_examples(outside),
                    )
                )
        elif spec.dtype == "category" and spec.categories:
            allowed = pa.array(spec.categories or [], pa.large_string())
            unseen = pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, value_set=allowed)))
            if pc.any(unseen).as_py():
                found = sorted(pc.unique(pc.filter(values, unseen)).to_pylist())[:5]
                add(
                    Violation(
                        col,
                        "category",
                        pc.sum(unseen).as_py(),
                        f"values not in {sorted(spec.categories or [])}: {found}",
                        _arrow_examples(unseen),
                    )
                )
    return pa.table({c: out[c] for c in expected if c in out}), violations


def check_table(table: pa.Table, schema: SchemaSpec, **kw: Any) -> tuple[pa.Table, list[Violation]]:
    """``check_columns`` on an Arrow table (the validate stage: no pandas round trip)."""
    names = table.column_names
    if len(set(names)) < len(names):  # a dict would keep one of each: name the duplicates first
        dup = next(n for i, n in enumerate(names) if n in names[:i])
        return pa.table({}), [Violation(dup, "duplicate_column", 0, "the header names this column more than once")]
    return check_columns({name: table.column(i) for i, name in enumerate(names)}, schema, **kw)


def frame_columns(df: pd.DataFrame) -> dict[str, Any]:
    """A frame's columns as Arrow where they convert cleanly, else as the pandas Series."""
    columns: dict[str, Any] = {}
    for name in df.columns:
        series = df[name].reset_index(drop=True)
        try:
            columns[str(name)] = pa.chunked_array([pa.array(series, from_pandas=True)])
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            columns[str(name)] = series  # mixed objects: the pandas path names the bad values
    return columns


def check_frame(df: pd.DataFrame, schema: SchemaSpec, **kw: Any) -> tuple[pd.DataFrame, list[Violation]]:
    """``check_columns`` on a pandas frame; the coerced frame comes back as pandas."""
    if df.columns.has_duplicates:
        dup = str(df.columns[df.columns.duplicated()][0])
        return df.iloc[:0], [Violation(dup, "duplicate_column", 0, "the header names this column more than once")]
    table, violations = check_columns(frame_columns(df), schema, **kw)
    return table.to_pandas(), violations


def errors_of(violations: list[Violation]) -> list[Violation]:
    return [v for v in violations if v.severity == "error"]


def onnx_input_names(columns: list[str]) -> dict[str, str]:
    """column -> ONNX graph input name, for the columns whose name is not an identifier.

    skl2onnx renames such inputs (``a/b`` becomes ``a_b``) and ONNX Runtime then wants
    the new name: the export uses these names and the predictor feeds by them.
    """
    taken = {c for c in columns if c.isidentifier()}
    out: dict[str, str] = {}
    for col in columns:
        if col.isidentifier():
            continue
        base = re.sub(r"\W", "_", col)
        base = base if base[:1].isalpha() or base[:1] == "_" else f"_{base}"
        name, i = base, 1
        while name in taken:
            name, i = f"{base}_{i}", i + 1
        taken.add(name)
        out[col] = name
    return out


def signature(schema: SchemaSpec) -> dict[str, Any]:
    """The model's input/output contract, saved beside the model and in release bundles."""
    renamed = onnx_input_names(schema.feature_columns)
    extra = {"onnx_inputs": renamed} if renamed else {}  # only when needed: other signatures are unchanged
    return {
        "target": schema.target,
        "classes": schema.classes,
        "features": {
            name: schema.columns[name].model_dump(exclude={"feature"}, exclude_none=True)
            for name in schema.feature_columns
        },
        "feature_order": schema.feature_columns,  # JSON files sort "features" by name
        **extra,
    }


def signature_schema(sig: dict[str, Any]) -> SchemaSpec:
    """The schema a model was trained on, back from its signature: what evaluate scores by."""
    order = sig.get("feature_order") or list(sig["features"])
    columns = {name: sig["features"][name] for name in order}
    if sig.get("task") == "regression":  # a regression signature carries no classes
        columns[sig["target"]] = {"dtype": "float", "nullable": False}
        return SchemaSpec.model_validate({"target": sig["target"], "task": "regression", "columns": columns})
    columns[sig["target"]] = {"dtype": "category", "categories": list(sig["classes"]), "nullable": False}
    return SchemaSpec.model_validate({"target": sig["target"], "columns": columns})


def schema_document(schema: SchemaSpec) -> dict[str, Any]:
    """The schema as JSON that keeps its column order (JSON files here sort keys)."""
    doc = schema.model_dump(exclude_none=True)
    if doc.get("task") == "classification":
        del doc["task"]  # the default: a classification schema's file (and its md5 in dvc.lock) is unchanged
    return {**doc, "column_order": list(schema.columns)}


def read_schema(path: Path) -> SchemaSpec:
    """The schema validate enforced (``schema_document``), for the stages after it."""

    def build(doc: dict[str, Any]) -> SchemaSpec:
        columns = {name: doc["columns"][name] for name in doc["column_order"]}
        return SchemaSpec.model_validate({**{k: v for k, v in doc.items() if k != "column_order"}, "columns": columns})

    return _read_schema_file(path, build, "a schema written by validate")


def read_signature_schema(path: Path) -> SchemaSpec:
    """``signature_schema`` of a model's signature file (evaluate scores by it)."""
    return _read_schema_file(path, signature_schema, "a model signature written by train")


def _read_schema_file(path: Path, build: Callable[[dict[str, Any]], SchemaSpec], what: str) -> SchemaSpec:
    """Read JSON and build a schema from it; anything malformed is one error naming the file."""
    if not path.exists():
        raise UserError(f"{path}: file not found")
    try:
        return build(json.loads(path.read_text(encoding="utf-8")))
    except json.JSONDecodeError as err:
        raise UserError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise UserError(f"{path}: not {what} ({type(err).__name__}: {err})") from None
