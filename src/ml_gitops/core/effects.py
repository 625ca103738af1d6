"""Partial dependence: how the model's average answer moves when one feature moves.

Permutation importance says which features matter; partial dependence says how. For each
value on a feature's grid, every sampled row gets that value and the model's answers are
averaged: a class's mean probability (classification) or the mean predicted value
(regression). The model is any ``predict(frame) -> array`` (the skops Pipeline or the ONNX
scorer), so this is model-agnostic like the importance it follows.
"""

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

Predict = Callable[[pd.DataFrame], np.ndarray]


def grid(values: pd.Series, points: int) -> list[Any]:
    """Where to evaluate one feature: evenly spaced quantiles (5th-95th) of a numeric column, or
    its ``points`` most frequent values otherwise. Missing values are not grid points."""
    present = values.dropna()
    if present.empty:
        return []
    if pd.api.types.is_numeric_dtype(present) and not pd.api.types.is_bool_dtype(present):
        qs = np.quantile(present.to_numpy(dtype=float), np.linspace(0.05, 0.95, points))
        if pd.api.types.is_integer_dtype(present):
            qs = np.round(qs)
        return sorted({float(round(q, 6)) for q in qs})
    return present.value_counts(sort=True).index[:points].tolist()


def partial_dependence(predict: Predict, frame: pd.DataFrame, column: str, values: list[Any]) -> np.ndarray:
    """The mean answer at each of ``values``: shape (len(values), outputs).

    The copies of ``frame`` for every grid value are stacked into one model call.
    """
    m = len(frame)
    stacked = frame.iloc[np.tile(np.arange(m), len(values))].reset_index(drop=True)
    filled = pd.Series(np.repeat(np.asarray(values, dtype=object), m))
    dtype = frame[column].dtype
    stacked[column] = filled.astype(dtype) if pd.api.types.is_numeric_dtype(dtype) else filled.to_numpy()
    answers = np.asarray(predict(stacked), dtype=float).reshape(len(values), m, -1)
    return answers.mean(axis=1)


def effects(
    predict: Predict,
    frame: pd.DataFrame,
    ranked: list[tuple[str, float]],
    outputs: list[str],
    points: int,
) -> dict[str, Any]:
    """Partial dependence of each (feature, importance) in ``ranked``, for the model card and bundle."""
    features = []
    for column, imp in ranked:
        values = grid(frame[column], points)
        if not values:
            continue
        mean = partial_dependence(predict, frame, column, values)
        features.append(
            {
                "feature": column,
                "importance": imp,
                "grid": [v.item() if isinstance(v, np.generic) else v for v in values],
                "mean": {name: np.round(mean[:, j], 6).tolist() for j, name in enumerate(outputs)},
            }
        )
    return {"method": "partial dependence", "rows": len(frame), "outputs": outputs, "features": features}
