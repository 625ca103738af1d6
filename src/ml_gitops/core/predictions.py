"""The per-row predictions table (reports/predictions.parquet): evaluate writes it, the PR report reads it.

One row per test row: ``row``, ``actual``, ``predicted`` and a ``proba_<class>`` column per class
(a regression model's table has the values, and no probability columns).
The writer and the reader live together so the two sides of the format cannot drift apart.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .metrics import Estimates, Predictions, Scored

# Evaluate keeps the slice and sensitive columns as ``slice_<column>``, so the PR report can pair slices.
SLICE_PREFIX = "slice_"


def predictions_frame(p: Scored) -> pd.DataFrame:
    """The table of ``p``: labels by name, one probability column per class (or the predicted values)."""
    if isinstance(p, Estimates):
        return pd.DataFrame({"row": np.arange(len(p.y)), "actual": p.y, "predicted": p.pred})
    names = np.asarray(p.classes, dtype=object)
    cols: dict[str, Any] = {
        "row": np.arange(len(p.y)),
        "actual": names[p.y],
        "predicted": names[p.pred],
    }
    for i, c in enumerate(p.classes):
        cols[f"proba_{c}"] = p.proba[:, i]
    return pd.DataFrame(cols)


def read_predictions(df: pd.DataFrame) -> Scored:
    """Inverse of `predictions_frame` (the PR report compares two of these)."""
    if not any(c.startswith("proba_") for c in df.columns):  # regression: values, no probabilities
        return Estimates(df["actual"].to_numpy(dtype=float), df["predicted"].to_numpy(dtype=float))
    classes = [c.removeprefix("proba_") for c in df.columns if c.startswith("proba_")]
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[str(v)] for v in df["actual"]])
    return Predictions(y, df[[f"proba_{c}" for c in classes]].to_numpy(dtype=float), classes)
