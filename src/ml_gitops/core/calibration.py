"""Calibration tables that stay honest on small test sets.

Bins hold equal shares of the rows (quantile bins of the predicted probability), so no bin is a
line drawn through two points. Each bin carries its row count and a Wilson interval on the observed
rate. When the test set cannot fill the requested bins with ``min_per_bin`` rows each, the table
uses fewer bins and says so in ``note``; below two such bins it returns the note alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

import numpy as np

from .slices import number


def wilson_interval(successes: np.ndarray, trials: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """The Wilson score interval of a proportion: sound at 0 or 1 and for small counts, unlike p +- z*se."""
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    # At k = 0 (k = n) the bound is exactly 0 (1); rounding would leave it a hair off.
    lo = np.where(n > 0, np.where(k == 0, 0.0, np.clip(centre - half, 0.0, 1.0)), np.nan)
    hi = np.where(n > 0, np.where(k == n, 1.0, np.clip(centre + half, 0.0, 1.0)), np.nan)
    return lo, hi


def _merge_small(edges: list[float], score: np.ndarray, min_per_bin: int) -> list[float]:
    """Drop edges until every bin holds ``min_per_bin`` rows: the smallest bin joins its smaller neighbour.

    Needed when many rows share one score (a confident model predicts 1.0 often): their tie moves a
    whole block of rows into one bin and can leave its neighbour nearly empty.
    """
    while edges:
        counts = np.bincount(np.searchsorted(edges, score, side="right"), minlength=len(edges) + 1)
        i = int(np.argmin(counts))
        if counts[i] >= min_per_bin:
            break
        if i == 0:
            del edges[0]
        elif i == len(counts) - 1 or counts[i - 1] <= counts[i + 1]:
            del edges[i - 1]
        else:
            del edges[i]
    return edges


def calibration_table(
    event: np.ndarray,
    score: np.ndarray,
    *,
    bins: int = 10,
    min_per_bin: int = 10,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Observed rate of ``event`` against the mean ``score`` per quantile bin of the score.

    Returns ``rows``, ``bins_requested``, ``bins`` (used), ``note`` (``None`` when the requested
    bins were used) and ``table``: one dict per bin with ``count``, ``score_low``, ``score_high``,
    ``mean_predicted``, ``observed``, ``ci_low``, ``ci_high``.
    """
    event = np.asarray(event, dtype=bool)
    score = np.asarray(score, dtype=float)
    n = int(score.size)
    out: dict[str, Any] = {"rows": n, "bins_requested": bins, "bins": 0, "note": None, "table": []}
    fit = min(bins, n // min_per_bin)
    if fit < 2:
        out["note"] = (
            f"{n} test rows are too few to judge calibration: two bins of at least {min_per_bin} rows "
            f"need {2 * min_per_bin}"
        )
        return out
    inner = np.quantile(score, np.linspace(0, 1, fit + 1)[1:-1])
    edges = _merge_small(sorted(set(inner.tolist())), score, min_per_bin)
    if not edges:
        out["note"] = f"the predicted probabilities take too few distinct values to form two bins of {min_per_bin} rows"
        return out
    which = np.searchsorted(edges, score, side="right")
    k = len(edges) + 1
    count = np.bincount(which, minlength=k)
    hits = np.bincount(which, weights=event, minlength=k)
    total = np.bincount(which, weights=score, minlength=k)
    lo, hi = wilson_interval(hits, count, confidence)
    for b in range(k):
        in_bin = score[which == b]
        out["table"].append(
            {
                "count": int(count[b]),
                "score_low": number(in_bin.min()),
                "score_high": number(in_bin.max()),
                "mean_predicted": number(total[b] / count[b]),
                "observed": number(hits[b] / count[b]),
                "ci_low": number(lo[b]),
                "ci_high": number(hi[b]),
            }
        )
    out["bins"] = k
    if k < bins:
        why = " (rows sharing one predicted probability merged bins)" if k < fit else ""
        out["note"] = f"{k} bins instead of {bins} so that each holds at least {min_per_bin} of the {n} test rows{why}"
    return out


def calibration_by_class(
    actual: np.ndarray,
    proba: np.ndarray,
    classes: Sequence[str],
    *,
    bins: int = 10,
    min_per_bin: int = 10,
    confidence: float = 0.95,
) -> dict[str, dict[str, Any]]:
    """One-vs-rest calibration tables: the positive class of a binary problem, else every class.

    ``actual`` holds class indices into ``classes`` (as `core.metrics.Predictions.y`), ``proba`` one
    column per class.
    """
    actual = np.asarray(actual)
    classes = list(classes)
    chosen = range(1, 2) if len(classes) == 2 else range(len(classes))
    return {
        classes[c]: calibration_table(
            actual == c, proba[:, c], bins=bins, min_per_bin=min_per_bin, confidence=confidence
        )
        for c in chosen
    }
