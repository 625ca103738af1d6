"""Group fairness for one sensitive column: selection rates, TPR and FPR per group, and their gaps.

Definitions follow fairlearn's, for one chosen positive class (a multiclass problem is read as
"this class" against the rest; a regression caller binarises first, e.g. ``predicted > threshold``):

- selection rate: share of the group's rows predicted positive;
- demographic parity difference: max - min selection rate across groups;
- equalized-odds difference: the larger of the TPR gap and the FPR gap (each max - min across groups).

Groups smaller than ``min_rows`` are reported but left out of the differences, where one tiny group
would otherwise decide the verdict. A group without positives (negatives) has no TPR (FPR) and is
left out of that gap only. Rates carry Wilson intervals; the differences carry bootstrap intervals
that resample the rows of each group separately (group sizes stay as observed). A max - min over
noisy rates is biased upwards, so a difference near zero gets an interval that does not reach zero:
read it as "at most", and let the gate fail only when even the interval's low end is over the limit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .calibration import wilson_interval
from .metrics import interval
from .slices import MISSING, number, slice_rng


def _rate(k: float, n: float, confidence: float) -> dict[str, Any]:
    lo, hi = wilson_interval(np.array([k]), np.array([n]), confidence)
    return {"value": number(k / n) if n else None, "ci_low": number(lo[0]), "ci_high": number(hi[0])}


def _spread(rates: np.ndarray) -> np.ndarray:
    """max - min over the defined entries of each row (NaN when fewer than two are defined)."""
    defined = np.isfinite(rates)
    hi = np.where(defined, rates, -np.inf).max(axis=1)
    lo = np.where(defined, rates, np.inf).min(axis=1)
    return np.where(defined.sum(axis=1) >= 2, hi - lo, np.nan)


def _rates(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Selection rate, TPR and FPR from (..., groups, 4) counts ordered tp, fn, fp, tn."""
    tp, fn, fp, tn = (cells[..., i].astype(float) for i in range(4))
    with np.errstate(invalid="ignore", divide="ignore"):
        selection = (tp + fp) / (tp + fn + fp + tn)
        tpr = np.where(tp + fn > 0, tp / (tp + fn), np.nan)
        fpr = np.where(fp + tn > 0, fp / (fp + tn), np.nan)
    return selection, tpr, fpr


def _difference(point: np.ndarray, reps: np.ndarray, confidence: float) -> dict[str, Any]:
    lo, hi = interval(reps, confidence)
    return {"value": number(point[0]), "ci_low": number(lo), "ci_high": number(hi)}


def fairness_report(
    actual: np.ndarray,
    predicted: np.ndarray,
    groups: pd.Series,
    positive: str,
    *,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    min_rows: int = 30,
) -> dict[str, Any]:
    """Per group of ``groups`` (the sensitive column, same rows as the labels) its rates, and the two differences.

    Labels are compared as strings with ``positive``, so the predictions table's labels work as they are.
    """
    column = str(groups.name)
    if len(actual) != len(groups) or len(predicted) != len(groups):
        raise ValueError(
            f"fairness {column!r}: {len(actual)} labels and {len(predicted)} predictions for {len(groups)} rows"
        )
    truth = np.asarray(actual).astype(str) == str(positive)
    pred = np.asarray(predicted).astype(str) == str(positive)
    codes, uniques = pd.factorize(groups, sort=True)
    names = [str(v) for v in uniques] + ([MISSING] if (codes == -1).any() else [])
    codes = np.where(codes == -1, len(uniques), codes)
    # Per group the 2x2 counts in the order tp, fn, fp, tn.
    cell = np.where(truth, np.where(pred, 0, 1), np.where(pred, 2, 3))
    cells = np.bincount(codes * 4 + cell, minlength=len(names) * 4).reshape(len(names), 4)
    rows = cells.sum(axis=1)
    judged = rows >= min_rows

    table = []
    for g, name in enumerate(names):
        tp, fn, fp, tn = (int(x) for x in cells[g])
        table.append(
            {
                "group": name,
                "rows": int(rows[g]),
                "judged": bool(judged[g]),
                "positives": tp + fn,
                "selection_rate": _rate(tp + fp, rows[g], confidence),
                "tpr": _rate(tp, tp + fn, confidence),
                "fpr": _rate(fp, fp + tn, confidence),
            }
        )

    kept = cells[judged]
    rng = slice_rng(seed, f"fairness:{column}")
    # Each judged group's rows are resampled on their own: a multinomial over its four cells.
    draws = np.zeros((n_boot, len(kept), 4))
    for g, c in enumerate(kept):
        draws[:, g] = rng.multinomial(c.sum(), c / c.sum(), size=n_boot)
    sel_p, tpr_p, fpr_p = _rates(kept[None])
    sel_r, tpr_r, fpr_r = _rates(draws)
    odds_p = np.fmax(_spread(tpr_p), _spread(fpr_p))
    odds_r = np.fmax(_spread(tpr_r), _spread(fpr_r))
    return {
        "column": column,
        "positive": str(positive),
        "min_rows": min_rows,
        "n_boot": n_boot,
        "confidence": confidence,
        "seed": seed,
        "groups": table,
        "demographic_parity_difference": _difference(_spread(sel_p), _spread(sel_r), confidence),
        "tpr_difference": _difference(_spread(tpr_p), _spread(tpr_r), confidence),
        "fpr_difference": _difference(_spread(fpr_p), _spread(fpr_r), confidence),
        "equalized_odds_difference": _difference(odds_p, odds_r, confidence),
    }


def fairness_verdict(
    report: dict[str, Any],
    *,
    max_demographic_parity: float | None = None,
    max_equalized_odds: float | None = None,
) -> dict[str, Any]:
    """The gate's fairness rule: fail a difference only when its interval's low end is over the limit.

    Without a limit, fairness is a report and this passes.
    """
    failures = []
    limits = {
        "demographic_parity_difference": max_demographic_parity,
        "equalized_odds_difference": max_equalized_odds,
    }
    for key, limit in limits.items():
        low = report[key]["ci_low"]
        if limit is not None and low is not None and low > limit:
            failures.append({"column": report["column"], "difference": key, **report[key], "limit": limit})
    return {"passed": not failures, "failures": failures}
