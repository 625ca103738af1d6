"""Metrics per slice of the test set, so a review sees where the model fails, not just its average.

A slice is the rows sharing one value of a categorical column, or one bin of a numeric column
(explicit edges, or quantile bins of the test set's own values). Each slice gets its row count and
the task's metrics with a seeded bootstrap interval. Slices smaller than ``min_rows`` are reported
but never judged: they are left out of the worst slice, the largest gap and the gate.

Classification metrics depend only on the confusion matrix, so resampling the rows is the same as
drawing a confusion matrix from a multinomial over its cells: the bootstrap costs the same for
60 rows and for a million. Regression metrics need the rows; their bootstrap runs on a seeded
subsample of at most ``max_rows`` rows per slice, which gives a wider (conservative) interval.

Everything returned is plain dicts, lists, strings and floats (``None`` for undefined values),
ready for ``json.dump`` into ``reports/slices.json``.
"""

from __future__ import annotations

import itertools
import math
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from .metrics import interval

Task = Literal["classification", "regression"]

CLASSIFICATION_METRICS: tuple[str, ...] = ("accuracy", "balanced_accuracy", "f1_macro")
REGRESSION_METRICS: tuple[str, ...] = ("rmse", "mae")
LOWER_IS_BETTER: frozenset[str] = frozenset({"rmse", "mae"})
MISSING = "missing"
# Elements per batch of resampled regression errors (bounds the bootstrap's memory).
BATCH_ELEMENTS = 4_000_000


@dataclass(frozen=True)
class SliceColumn:
    """One column to slice by: by value (no edges, no quantiles), by explicit edges, or by quantile bins."""

    column: str
    edges: tuple[float, ...] = ()
    quantiles: int = 0


@dataclass(frozen=True)
class Slice:
    column: str
    value: str
    rows: np.ndarray  # positions into the test rows

    @property
    def name(self) -> str:
        return f"{self.column}={self.value}"


def metric_names(task: Task) -> tuple[str, ...]:
    return CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS


def number(x: float) -> float | None:
    """A JSON-safe float: rounded, and ``None`` for NaN or infinity."""
    x = float(x)
    return round(x, 6) if math.isfinite(x) else None


def slice_rng(seed: int, name: str) -> np.random.Generator:
    """A generator per slice keyed by its name, so adding a slice does not move the others' intervals."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


# ------------------------------------------------------------------ slicing
def _fmt(x: float) -> str:
    return f"{x:g}"


def _bin_labels(edges: np.ndarray) -> list[str]:
    """Labels of the bins ``searchsorted(edges, x, side="right")`` assigns: [a, b) intervals, open at the ends."""
    if edges.size == 0:
        return ["all"]
    labels = [f"< {_fmt(edges[0])}"]
    labels += [f"[{_fmt(a)}, {_fmt(b)})" for a, b in itertools.pairwise(edges)]
    labels.append(f">= {_fmt(edges[-1])}")
    return labels


def _numeric_slices(values: pd.Series, col: SliceColumn) -> list[Slice]:
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        raise ValueError(f"slice column {col.column!r}: bins need a numeric column, got dtype {values.dtype}")
    x = values.to_numpy(dtype=float, na_value=np.nan)
    present = ~np.isnan(x)
    if col.edges:
        edges = np.asarray(col.edges, dtype=float)
        if np.any(np.diff(edges) <= 0):
            raise ValueError(f"slice column {col.column!r}: edges must increase strictly, got {list(col.edges)}")
    else:
        inner = np.linspace(0, 1, col.quantiles + 1)[1:-1]
        edges = np.unique(np.quantile(x[present], inner)) if present.any() else np.array([])
    bins = np.searchsorted(edges, x, side="right")
    out = [
        Slice(col.column, label, np.flatnonzero(present & (bins == i))) for i, label in enumerate(_bin_labels(edges))
    ]
    out.append(Slice(col.column, MISSING, np.flatnonzero(~present)))
    return [s for s in out if s.rows.size]


def _categorical_slices(values: pd.Series, col: SliceColumn) -> list[Slice]:
    codes, uniques = pd.factorize(values, sort=True)
    out = [Slice(col.column, str(v), np.flatnonzero(codes == i)) for i, v in enumerate(uniques)]
    out.append(Slice(col.column, MISSING, np.flatnonzero(codes == -1)))
    return [s for s in out if s.rows.size]


def assign_slices(frame: pd.DataFrame, spec: Sequence[SliceColumn]) -> list[Slice]:
    """The non-empty slices of ``frame`` (one row per test row, in the predictions' order)."""
    out: list[Slice] = []
    for col in spec:
        if col.column not in frame.columns:
            raise ValueError(f"slice column {col.column!r} is not in the test table (columns: {list(frame.columns)})")
        if col.edges and col.quantiles:
            raise ValueError(f"slice column {col.column!r}: set either edges or quantiles, not both")
        if col.quantiles < 0 or col.quantiles == 1:
            raise ValueError(f"slice column {col.column!r}: quantiles must be 0 (by value) or at least 2")
        values = frame[col.column]
        out += _numeric_slices(values, col) if col.edges or col.quantiles else _categorical_slices(values, col)
    return out


# ------------------------------------------------------------------ metrics
def encode_labels(*labels: np.ndarray) -> list[np.ndarray]:
    """Class labels of several arrays as indices into one shared, sorted set of classes."""
    joined = np.concatenate([np.asarray(a).astype(str) for a in labels])
    _, codes = np.unique(joined, return_inverse=True)
    return np.split(codes, np.cumsum([len(a) for a in labels])[:-1])


def confusion_metrics(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Accuracy, balanced accuracy and macro F1 of each confusion matrix in ``cm`` (B, k, k), rows = truth.

    Like scikit-learn: balanced accuracy averages the recall of the classes present in the truth,
    macro F1 averages over the classes present in the truth or the predictions.
    """
    cm = np.asarray(cm, dtype=float)
    tp = np.diagonal(cm, axis1=1, axis2=2)
    actual, predicted = cm.sum(axis=2), cm.sum(axis=1)
    total = cm.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(actual > 0, tp / actual, np.nan)
        f1 = np.where(actual + predicted > 0, 2 * tp / (actual + predicted), np.nan)
        return {
            "accuracy": tp.sum(axis=1) / total,
            "balanced_accuracy": _nanmean(recall),
            "f1_macro": _nanmean(f1),
        }


def _nanmean(x: np.ndarray) -> np.ndarray:
    """Row means over the defined entries (NaN where a row has none), without numpy's empty-slice warning."""
    defined = np.isfinite(x)
    count = defined.sum(axis=1)
    return np.where(count > 0, np.where(defined, x, 0.0).sum(axis=1) / np.maximum(count, 1), np.nan)


def confusion(y: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    return np.bincount(y * k + pred, minlength=k * k).reshape(k, k)


def _error_metrics(err: np.ndarray) -> dict[str, np.ndarray]:
    """RMSE and MAE of each row of ``err`` (B, n)."""
    return {"rmse": np.sqrt(np.mean(err**2, axis=1)), "mae": np.mean(np.abs(err), axis=1)}


def _subsample(values: np.ndarray, rng: np.random.Generator, max_rows: int) -> np.ndarray:
    """At most ``max_rows`` rows of ``values`` (axis 0), seeded, so the regression bootstrap stays bounded."""
    if values.shape[0] <= max_rows:
        return values
    return values[np.sort(rng.choice(values.shape[0], size=max_rows, replace=False))]


def _bootstrap_indices(n: int, n_boot: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """``n_boot`` resamplings of ``n`` row positions, in batches of at most BATCH_ELEMENTS positions."""
    batch = max(1, BATCH_ELEMENTS // max(n, 1))
    for start in range(0, n_boot, batch):
        yield rng.integers(0, n, size=(min(batch, n_boot - start), n))


def _summary(point: Mapping[str, np.ndarray], reps: Mapping[str, np.ndarray], confidence: float) -> dict[str, Any]:
    out = {}
    for m, v in point.items():
        lo, hi = interval(reps[m], confidence)
        out[m] = {"value": number(v[0]), "ci_low": number(lo), "ci_high": number(hi)}
    return out


def _slice_metrics(
    task: Task,
    truth: np.ndarray,
    pred: np.ndarray,
    k: int,
    n_boot: int,
    confidence: float,
    rng: np.random.Generator,
    max_rows: int,
) -> dict[str, Any]:
    if task == "classification":
        cm = confusion(truth, pred, k)
        n = int(cm.sum())
        draws = rng.multinomial(n, cm.ravel() / n, size=n_boot).reshape(n_boot, k, k)
        return _summary(confusion_metrics(cm[None]), confusion_metrics(draws), confidence)
    err = pred - truth
    sample = _subsample(err, rng, max_rows)
    chunks = [_error_metrics(sample[idx]) for idx in _bootstrap_indices(sample.size, n_boot, rng)]
    reps = {m: np.concatenate([c[m] for c in chunks]) for m in REGRESSION_METRICS}
    return _summary(_error_metrics(err[None]), reps, confidence)


def _prepare(task: Task, actual: np.ndarray, *predicted: np.ndarray) -> tuple[list[np.ndarray], int]:
    if task == "classification":
        codes = encode_labels(actual, *predicted)
        return codes, int(max(c.max(initial=0) for c in codes)) + 1
    return [np.asarray(a, dtype=float) for a in (actual, *predicted)], 0


def _worst_and_gap(slices: list[dict[str, Any]], metrics: Sequence[str]) -> tuple[dict, dict]:
    """Per metric: the judged slice with the worst value, and the column whose judged slices differ most."""
    worst: dict[str, Any] = {}
    gap: dict[str, Any] = {}
    for m in metrics:
        sign = -1.0 if m in LOWER_IS_BETTER else 1.0  # sign * value: higher is better
        scored = [(s, s["metrics"][m]["value"]) for s in slices if s["judged"] and s["metrics"][m]["value"] is not None]
        if not scored:
            worst[m] = gap[m] = None
            continue
        worst_slice, worst_value = min(scored, key=lambda sv: sign * sv[1])
        worst[m] = {"slice": worst_slice["name"], "value": worst_value}
        best_gap = None
        for column in dict.fromkeys(sl["column"] for sl, _ in scored):
            own = [(sl, v) for sl, v in scored if sl["column"] == column]
            if len(own) < 2:
                continue
            low = min(own, key=lambda sv: sign * sv[1])
            high = max(own, key=lambda sv: sign * sv[1])
            size = abs(high[1] - low[1])
            if best_gap is None or size > best_gap["gap"]:
                best_gap = {"column": column, "best": high[0]["name"], "worst": low[0]["name"], "gap": number(size)}
        gap[m] = best_gap
    return worst, gap


def slice_report(
    actual: np.ndarray,
    predicted: np.ndarray,
    frame: pd.DataFrame,
    spec: Sequence[SliceColumn],
    task: Task,
    *,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    min_rows: int = 30,
    max_rows: int = 20_000,
) -> dict[str, Any]:
    """The slice table: per slice its rows and metrics with intervals, the worst slice and the largest gap.

    ``actual`` and ``predicted`` are labels (classification) or numbers (regression), one per row of
    ``frame``, which holds the slice columns' values for the same rows in the same order.
    """
    if len(actual) != len(frame) or len(predicted) != len(frame):
        raise ValueError(f"slices: {len(actual)} labels and {len(predicted)} predictions for {len(frame)} rows")
    (truth, pred), k = _prepare(task, actual, predicted)
    slices = []
    for s in assign_slices(frame, spec):
        rng = slice_rng(seed, s.name)
        metrics = _slice_metrics(task, truth[s.rows], pred[s.rows], k, n_boot, confidence, rng, max_rows)
        slices.append(
            {
                "name": s.name,
                "column": s.column,
                "value": s.value,
                "rows": int(s.rows.size),
                "judged": bool(s.rows.size >= min_rows),
                "metrics": metrics,
            }
        )
    names = metric_names(task)
    worst, gap = _worst_and_gap(slices, names)
    return {
        "task": task,
        "metrics": list(names),
        "n_boot": n_boot,
        "confidence": confidence,
        "seed": seed,
        "min_rows": min_rows,
        "slices": slices,
        "worst": worst,
        "largest_gap": gap,
    }


# ------------------------------------------------------------------ base vs head
def _signed(m: str, x: float) -> float:
    return -x if m in LOWER_IS_BETTER else x


def compare_slices(base: Mapping[str, Any], head: Mapping[str, Any]) -> dict[str, Any]:
    """Per-slice deltas (head - base) from two slice tables; significant when the two intervals do not overlap.

    Non-overlapping intervals are a conservative test (it misses some real differences), but it needs
    only the two reports. `paired_slice_deltas` is sharper when both sides' predictions are at hand.
    """
    base_by_name = {s["name"]: s for s in base["slices"]}
    min_rows = int(head["min_rows"])
    rows = []
    for h in head["slices"]:
        b = base_by_name.get(h["name"])
        if b is None:
            continue
        metrics = {}
        for m in head["metrics"]:
            bm, hm = b["metrics"].get(m), h["metrics"][m]
            if bm is None or bm["value"] is None or hm["value"] is None:
                metrics[m] = {"base": None, "head": hm["value"], "delta": None, "significant": False}
                continue
            apart = None not in (bm["ci_low"], bm["ci_high"], hm["ci_low"], hm["ci_high"]) and (
                hm["ci_high"] < bm["ci_low"] or hm["ci_low"] > bm["ci_high"]
            )
            metrics[m] = {
                "base": bm["value"],
                "head": hm["value"],
                "delta": number(hm["value"] - bm["value"]),
                "significant": bool(apart),
            }
        judged = b["rows"] >= min_rows and h["rows"] >= min_rows
        rows.append(
            {"name": h["name"], "rows_base": b["rows"], "rows_head": h["rows"], "judged": judged, "metrics": metrics}
        )
    head_names = {s["name"] for s in head["slices"]}
    return {
        "method": "ci_overlap",
        "slices": rows,
        "new": [s["name"] for s in head["slices"] if s["name"] not in base_by_name],
        "gone": [n for n in base_by_name if n not in head_names],
    }


def paired_slice_deltas(
    actual: np.ndarray,
    base_predicted: np.ndarray,
    head_predicted: np.ndarray,
    frame: pd.DataFrame,
    spec: Sequence[SliceColumn],
    task: Task,
    *,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    min_rows: int = 30,
    max_rows: int = 20_000,
) -> dict[str, Any]:
    """Per-slice deltas (head - base) on the same test rows, with a paired-bootstrap interval.

    Both models are scored on the same resampled rows, so the noise they share cancels; a delta is
    significant when its interval excludes zero. Same shape as `compare_slices` (plus the delta's interval).
    """
    (truth, pb, ph), k = _prepare(task, actual, base_predicted, head_predicted)
    rows = []
    for s in assign_slices(frame, spec):
        rng = slice_rng(seed, s.name)
        t, b, h = truth[s.rows], pb[s.rows], ph[s.rows]
        if task == "classification":
            # One multinomial over the (truth, base, head) cells resamples rows for both sides at once.
            joint = np.bincount((t * k + b) * k + h, minlength=k**3)
            draws = rng.multinomial(s.rows.size, joint / s.rows.size, size=n_boot).reshape(n_boot, k, k, k)
            joint = joint.reshape(1, k, k, k)
            point_b, point_h = confusion_metrics(joint.sum(axis=3)), confusion_metrics(joint.sum(axis=2))
            rep_b, rep_h = confusion_metrics(draws.sum(axis=3)), confusion_metrics(draws.sum(axis=2))
        else:
            eb, eh = b - t, h - t
            point_b, point_h = _error_metrics(eb[None]), _error_metrics(eh[None])
            both = _subsample(np.stack([eb, eh], axis=1), rng, max_rows)  # resample rows once for both sides
            chunks = [
                (_error_metrics(both[idx, 0]), _error_metrics(both[idx, 1]))
                for idx in _bootstrap_indices(both.shape[0], n_boot, rng)
            ]
            rep_b = {m: np.concatenate([c[0][m] for c in chunks]) for m in REGRESSION_METRICS}
            rep_h = {m: np.concatenate([c[1][m] for c in chunks]) for m in REGRESSION_METRICS}
        metrics = {}
        for m in metric_names(task):
            lo, hi = interval(rep_h[m] - rep_b[m], confidence)
            metrics[m] = {
                "base": number(point_b[m][0]),
                "head": number(point_h[m][0]),
                "delta": number(point_h[m][0] - point_b[m][0]),
                "ci_low": number(lo),
                "ci_high": number(hi),
                "significant": bool(lo > 0 or hi < 0),
            }
        n = int(s.rows.size)
        rows.append({"name": s.name, "rows_base": n, "rows_head": n, "judged": n >= min_rows, "metrics": metrics})
    return {"method": "paired_bootstrap", "slices": rows, "new": [], "gone": []}


# ------------------------------------------------------------------ gate
def slice_regressions(
    base: Mapping[str, Any],
    head: Mapping[str, Any],
    max_drop: Mapping[str, float],
    min_rows: int | None = None,
) -> dict[str, Any]:
    """The gate's slice rule: which judged slices regress beyond the allowed drop, with confidence.

    A slice regresses on a higher-is-better metric when even the top of the head's interval is below
    ``base value - max_drop[metric]`` (for RMSE/MAE: the bottom of the head's interval is above
    ``base value + max_drop``). The base value is taken as fixed, so this is a one-sided test at level
    (1 - confidence) / 2. Slices below ``min_rows`` (default: the head report's) on either side, and
    slices the base does not have, are listed as not judged.
    """
    unknown = sorted(set(max_drop) - set(head["metrics"]))
    if unknown:
        raise ValueError(f"slice gate: unknown metric(s) {unknown}; this task has {head['metrics']}")
    floor = int(head["min_rows"] if min_rows is None else min_rows)
    base_by_name = {s["name"]: s for s in base["slices"]}
    failures, not_judged = [], []
    for h in head["slices"]:
        b = base_by_name.get(h["name"])
        if b is None or b["rows"] < floor or h["rows"] < floor:
            not_judged.append(h["name"])
            continue
        for m, drop in max_drop.items():
            bv, hm = b["metrics"][m]["value"], h["metrics"][m]
            edge = hm["ci_low"] if m in LOWER_IS_BETTER else hm["ci_high"]
            if bv is None or edge is None:
                continue
            if _signed(m, edge) < _signed(m, bv) - drop:
                failures.append(
                    {
                        "slice": h["name"],
                        "metric": m,
                        "base": bv,
                        "head": hm["value"],
                        "head_ci_low": hm["ci_low"],
                        "head_ci_high": hm["ci_high"],
                        "max_drop": drop,
                    }
                )
    return {"passed": not failures, "failures": failures, "not_judged": not_judged, "min_rows": floor}
