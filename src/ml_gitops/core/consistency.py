"""Label consistency and leakage checks, by hashing rows.

- Conflicting labels: rows with identical features but different labels. No model can get all of
  them right, so they cap every metric and usually mean a labelling problem.
- Exact duplicates: rows repeated verbatim (often a join or an append run twice).
- Leakage: test rows whose features also occur in the training split; the model has seen their
  answer, which inflates the test metrics.

Each row's chosen columns become one 64-bit hash (`pandas.util.hash_pandas_object`), so the checks
are a factorize or a membership test on integers instead of a multi-column sort or merge. Two
different rows share a hash with probability about n^2 / 2^65 (under 1e-7 at a million rows),
small enough for a report. Before hashing, numeric and boolean columns become float64, so a value
compares equal whatever its dtype (1 in an int column equals 1.0 in a float column, -0.0 equals 0.0)
and every missing value (NaN, None, pd.NA, NaT) equals every other missing value of its column.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

MISSING_HASH = np.uint64(0x9E3779B97F4A7C15)  # stands for every missing value of a non-numeric column


def _check_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: column(s) {missing} not in the table (columns: {list(frame.columns)})")


def row_hashes(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """One uint64 per row over ``columns`` (in that order); equal values give equal hashes across frames."""
    normalised = {}
    for c in columns:
        s = frame[c]
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            normalised[c] = s.to_numpy(dtype=float, na_value=np.nan)
        else:
            # Hash each distinct value once (a column has few): same hash for the same value in any frame.
            codes, uniques = pd.factorize(s, use_na_sentinel=True)
            hashed = pd.util.hash_array(np.asarray(uniques, dtype=object))
            # Code -1 (missing) takes the appended last entry; an all-missing column has no uniques at all.
            normalised[c] = np.append(hashed, MISSING_HASH)[codes]
    table = pd.DataFrame(normalised, copy=False)
    return pd.util.hash_pandas_object(table, index=False).to_numpy()


def _examples(frame: pd.DataFrame, positions: np.ndarray, columns: Sequence[str]) -> list[dict[str, Any]]:
    """JSON-ready example rows: their position in the table and their values (missing as null)."""
    sub = frame.iloc[positions][list(columns)]
    values = json.loads(sub.to_json(orient="records", date_format="iso"))
    return [{"row": int(p), "values": v} for p, v in zip(positions, values, strict=True)]


def _group_examples(
    frame: pd.DataFrame, group: np.ndarray, chosen: np.ndarray, columns: Sequence[str], max_rows: int
) -> list[dict[str, Any]]:
    """The rows of the first groups in ``chosen`` (by first appearance), at most ``max_rows`` rows."""
    out: list[dict[str, Any]] = []
    for number, g in enumerate(chosen):
        rows = np.flatnonzero(group == g)[: max_rows - len(out)]
        out += [{"group": number, **e} for e in _examples(frame, rows, columns)]
        if len(out) >= max_rows:
            break
    return out


def label_conflicts(
    frame: pd.DataFrame, features: Sequence[str], label: str, *, max_examples: int = 10
) -> dict[str, Any]:
    """Groups of rows with identical ``features`` and more than one distinct ``label``.

    Returns ``groups`` (how many such feature vectors), ``rows`` (rows in them), ``share`` of all
    rows, and up to ``max_examples`` example rows grouped by ``group``.
    """
    _check_columns(frame, [*features, label], "label conflicts")
    group = pd.factorize(row_hashes(frame, features))[0]
    labels = pd.factorize(frame[label], use_na_sentinel=False)[0]
    # Any one label of each group serves as its reference (with repeated indices one write wins);
    # a group conflicts when some row's label differs from it.
    reference = np.zeros(group.max(initial=-1) + 1, dtype=labels.dtype)
    reference[group] = labels
    differs = labels != reference[group]
    conflicted = np.bincount(group[differs], minlength=reference.size) > 0
    in_conflict = conflicted[group]
    chosen = np.flatnonzero(conflicted)
    return {
        "features": list(features),
        "label": label,
        "groups": int(chosen.size),
        "rows": int(in_conflict.sum()),
        "share": float(in_conflict.mean()) if group.size else 0.0,
        "examples": _group_examples(frame, group, chosen, [*features, label], max_examples),
    }


def duplicate_rows(
    frame: pd.DataFrame, columns: Sequence[str] | None = None, *, max_examples: int = 10
) -> dict[str, Any]:
    """Rows identical to an earlier row over ``columns`` (default: every column).

    Returns ``rows`` (copies beyond the first of each), ``groups`` (distinct rows that repeat),
    ``share`` of all rows, and example rows grouped by ``group``.
    """
    columns = list(frame.columns) if columns is None else list(columns)
    _check_columns(frame, columns, "duplicate rows")
    group = pd.factorize(row_hashes(frame, columns))[0]
    sizes = np.bincount(group, minlength=group.max(initial=-1) + 1)
    repeated = np.flatnonzero(sizes > 1)
    copies = int((sizes[repeated] - 1).sum())
    return {
        "columns": columns,
        "rows": copies,
        "groups": int(repeated.size),
        "share": copies / len(frame) if len(frame) else 0.0,
        "examples": _group_examples(frame, group, repeated, columns, max_examples),
    }


def train_test_overlap(
    train: pd.DataFrame, test: pd.DataFrame, features: Sequence[str], *, max_examples: int = 10
) -> dict[str, Any]:
    """Test rows whose ``features`` also occur in a training row (the model has seen their answer).

    Returns ``rows`` (leaking test rows), ``test_rows``, ``share`` of the test set, and examples:
    the test row's position, the first training row with the same features, and the values.
    """
    _check_columns(train, features, "leakage (train)")
    _check_columns(test, features, "leakage (test)")
    train_h = row_hashes(train, features)
    test_h = row_hashes(test, features)
    leaked = pd.Series(test_h).isin(pd.Series(train_h)).to_numpy()
    positions = np.flatnonzero(leaked)[:max_examples]
    examples = [
        {**e, "train_row": int(np.flatnonzero(train_h == test_h[e["row"]])[0])}
        for e in _examples(test, positions, features)
    ]
    return {
        "features": list(features),
        "rows": int(leaked.sum()),
        "test_rows": len(test),
        "share": float(leaked.mean()) if len(test) else 0.0,
        "examples": examples,
    }
