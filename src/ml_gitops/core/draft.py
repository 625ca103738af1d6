"""Draft a data config from a table: a first schema for someone else's file, with the reasons.

`make schema DATA=file.csv` calls :func:`draft`: every column gets a kind (number,
category, bool, date, text, id) from what its values look like, and each decision
comes with one line saying why, so the user can read the draft and correct it.
Pure: a DataFrame in, a config dict and the decision lines out.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import yaml

ID_NAME = re.compile(r"(^|_)(id|uuid|guid|key)$|^id_|identifier", re.IGNORECASE)
DATE_NAME = re.compile(r"date|time|_at$|_on$|timestamp|day$", re.IGNORECASE)


@dataclass(frozen=True)
class DraftOptions:
    """How the draft decides; the defaults suit tabular files of a few columns to a few hundred."""

    target: str | None = None
    max_categories: int = 50  # more distinct strings than this: text, id or left out
    classification_max_classes: int = 20  # a numeric target with at most this many values is a label
    range_margin: float = 0.1  # ranges widen by this share of the observed span on each side
    text_min_words: float = 3.0  # mean words per value from which a string column is free text
    id_min_unique: float = 0.98  # share of distinct values from which a string/int column is an id
    sample_rows: int = 100_000  # values sniffed for dates/text (exact counts use every row)
    seed: int = 0


@dataclass
class Draft:
    config: dict[str, Any]
    decisions: list[str] = field(default_factory=list)


def _round_down(x: float) -> float:
    return float(math.floor(x * 100) / 100) if abs(x) < 1e6 else float(math.floor(x))


def _round_up(x: float) -> float:
    return float(math.ceil(x * 100) / 100) if abs(x) < 1e6 else float(math.ceil(x))


def _numeric_range(values: pd.Series, margin: float, integer: bool) -> tuple[float, float]:
    lo, hi = float(values.min()), float(values.max())
    span = hi - lo if hi > lo else max(abs(hi), 1.0)
    low, high = lo - margin * span, hi + margin * span
    if lo >= 0 > low:  # a non-negative quantity stays non-negative
        low = 0.0
    if integer:
        return float(math.floor(low)), float(math.ceil(high))
    return _round_down(low), _round_up(high)


def _looks_like_dates(sample: pd.Series) -> bool:
    text = sample.dropna().astype(str)
    if text.empty or not text.str.contains(r"\d", regex=True).all():
        return False
    parsed = pd.to_datetime(text, errors="coerce", format="mixed")
    return bool(parsed.notna().mean() >= 0.95)


def _mean_words(sample: pd.Series) -> float:
    text = sample.dropna().astype(str)
    return float(text.str.split().str.len().mean()) if not text.empty else 0.0


def _task(target: pd.Series, opts: DraftOptions) -> tuple[str, str]:
    values = target.dropna()
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return "classification", f"target {target.name!r} holds labels ({values.nunique()} classes)"
    n = values.nunique()
    integral = bool(np.all(np.mod(values.to_numpy(dtype=float), 1) == 0))
    if integral and n <= opts.classification_max_classes:
        return "classification", f"target {target.name!r} has {n} distinct whole numbers: classes"
    return "regression", f"target {target.name!r} is numeric with {n} distinct values: regression"


def draft(df: pd.DataFrame, name: str, source: dict[str, Any], opts: DraftOptions | None = None) -> Draft:
    """A data config (``name``, ``source``, ``schema``) for ``df``, with one decision line per column."""
    opts = opts or DraftOptions()
    out = Draft(config={})
    target = opts.target or str(df.columns[-1])
    if target not in df.columns:
        raise ValueError(f"target column {target!r} is not in the file (columns: {list(df.columns)})")
    if opts.target is None:
        out.decisions.append(f"{target}: target (the last column; pass TARGET=column to choose another)")
    task, why = _task(df[target], opts)
    out.decisions.append(f"{target}: task {task}: {why}")
    sample = df.sample(n=min(len(df), opts.sample_rows), random_state=opts.seed) if len(df) else df
    columns: dict[str, dict[str, Any]] = {}
    for col in df.columns:
        spec, reason = _column(df[col], sample[col], col == target, task, opts)
        columns[str(col)] = spec
        out.decisions.append(f"{col}: {reason}")
    out.config = {
        "name": name,
        "source": source,
        "schema": {"target": target, "task": task, "allow_extra_columns": False, "columns": columns},
        "warn_only": [],
    }
    # Only floors it can defend: an absolute number for data nobody has trained on yet would be a guess.
    out.decisions.append(
        "gate: no absolute floors drafted; conf/gate/default.yaml's relative floor judges this data "
        f"(beat {'DummyRegressor' if task == 'regression' else 'DummyClassifier'} by its margin, on the CI's low end)"
    )
    if task == "regression":
        out.decisions.append(
            "model: a regression task needs a regressor: select one (`- model: ridge` in conf/config.yaml)"
        )
    return out


def _column(
    values: pd.Series, sample: pd.Series, is_target: bool, task: str, opts: DraftOptions
) -> tuple[dict[str, Any], str]:
    """One column's spec and the reason for it."""
    nulls = int(values.isna().sum())
    nullable = nulls > 0
    present = values.dropna()
    unique = int(present.nunique())
    spec: dict[str, Any] = {}
    null_note = f", {nulls} missing" if nulls else ""
    if present.empty:
        return {"dtype": "float", "nullable": True, "feature": False}, "every value is missing: left out of the model"
    if is_target and task == "classification":
        cats = sorted(str(v) for v in present.unique())
        return (
            {"dtype": "category", "categories": cats, "nullable": False},
            f"category target with classes {cats[:10]}{' ...' if len(cats) > 10 else ''}",
        )
    if pd.api.types.is_bool_dtype(present):
        spec = {"dtype": "bool"}
        reason = f"bool{null_note}"
    elif pd.api.types.is_numeric_dtype(present):
        integer = pd.api.types.is_integer_dtype(values)  # a column with missing values reads as float
        ratio = unique / max(len(present), 1)
        if not is_target and integer and ratio >= opts.id_min_unique and ID_NAME.search(str(values.name)):
            return {"dtype": "id", "nullable": nullable}, f"id: whole numbers, {ratio:.0%} distinct, named like an id"
        lo, hi = _numeric_range(present, opts.range_margin, integer)
        spec = {"dtype": "int" if integer else "float", "min": lo, "max": hi}
        reason = (
            f"{spec['dtype']} in [{present.min():g}, {present.max():g}] observed, allowed [{lo:g}, {hi:g}] "
            f"(±{opts.range_margin:.0%} of the span){null_note}"
        )
        if unique == 1:
            reason += "; constant: carries no signal (validate warns)"
    else:
        text = present.astype(str)
        ratio = unique / max(len(present), 1)
        words = _mean_words(sample)
        if _looks_like_dates(sample):
            spec = {"dtype": "date", "date_parts": ["year", "month", "dayofweek", "days_since"]}
            reason = f"date: ≥95 % of sampled values parse as dates; the model sees its parts{null_note}"
        elif words >= opts.text_min_words:
            spec = {"dtype": "text"}
            reason = f"text: {words:.1f} words per value on average (vectorised in the model){null_note}"
        elif ratio >= opts.id_min_unique and unique > opts.max_categories:
            return {"dtype": "id", "nullable": nullable}, f"id: {ratio:.0%} of values distinct: kept out of the model"
        elif unique <= opts.max_categories:
            spec = {"dtype": "category", "categories": sorted(text.unique().tolist())}
            reason = f"category with {unique} values{null_note}"
        else:
            spec = {"dtype": "category", "feature": False}
            reason = (
                f"{unique} distinct strings (> {opts.max_categories}), not dates, not free text: "
                "left out of the model (feature: false); list its categories to use it"
            )
    if nullable:
        spec["nullable"] = True
    elif not is_target:
        spec["nullable"] = False
    return spec, reason


def to_yaml(config: dict[str, Any], command: str) -> str:
    """The drafted config as conf/data YAML: one flow-style line per column, like the shipped ones."""

    def dump(obj: Any, flow: bool) -> str:
        return yaml.safe_dump(obj, sort_keys=False, default_flow_style=flow, width=1 << 16, allow_unicode=True)

    schema = config["schema"]
    head = {k: v for k, v in config.items() if k not in {"schema", "warn_only"}}
    lines = [
        f"# Drafted by `{command}`: read each column, then correct what the data could not tell.",
        dump(head, False),
    ]
    lines.append(dump({"schema": {k: v for k, v in schema.items() if k != "columns"}}, False))
    lines.append("  columns:\n")
    for col, spec in schema["columns"].items():
        lines.append(f"    {dump({col: spec}, True).strip()[1:-1]}\n")
    lines.append("# Rules listed here are reported as warnings instead of stopping the pipeline.\n")
    lines.append(dump({"warn_only": config.get("warn_only", [])}, None))
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
