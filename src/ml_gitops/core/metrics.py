"""Classification and regression metrics with bootstrap confidence intervals, vectorised.

Every metric is written as a function of per-row weights. A bootstrap
replicate is a vector of multinomial counts, so B replicates are one matrix
product instead of B Python loops, and a *paired* bootstrap (same resampled
rows for two models, as the PR report needs) is the same weights applied to
both sides.
"""

from dataclasses import dataclass

import numpy as np

from ..config.metric_names import LOWER_IS_BETTER as LOWER_IS_BETTER
from ..config.metric_names import METRICS as METRICS
from ..config.metric_names import REGRESSION_METRICS as REGRESSION_METRICS

EPS = 1e-15
BATCH = 64


@dataclass(frozen=True)
class Predictions:
    """Labels as class indices into ``classes`` and a probability per class."""

    y: np.ndarray  # (n,) int
    proba: np.ndarray  # (n, k) float
    classes: list[str]

    @property
    def pred(self) -> np.ndarray:
        return self.proba.argmax(axis=1)


@dataclass(frozen=True)
class Estimates:
    """A regression model's predicted values beside the actual ones."""

    y: np.ndarray  # (n,) float
    pred: np.ndarray  # (n,) float


Scored = Predictions | Estimates


def names_of(p: Scored) -> tuple[str, ...]:
    """The metrics computed for ``p``'s task."""
    return REGRESSION_METRICS if isinstance(p, Estimates) else METRICS


def regression_metrics(w: np.ndarray, p: Estimates) -> dict[str, np.ndarray]:
    """RMSE, MAE and R² for each row of ``w`` (B, n); R² against the weighted mean of that replicate."""
    total = w.sum(axis=1)
    err = p.pred - p.y
    mse = w @ (err**2) / total
    mean = w @ p.y / total
    ss_tot = w @ (p.y**2) / total - mean**2  # the weighted variance of y, per replicate
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = np.where(ss_tot > 0, 1.0 - mse / ss_tot, np.nan)
    return {"rmse": np.sqrt(mse), "mae": w @ np.abs(err) / total, "r2": r2}


def _auc(w: np.ndarray, score: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Weighted one-vs-rest ROC AUC for each row of ``w`` (ties count one half).

    In score order, a positive row outranks the negative weight before its group
    of equal scores and half of the negative weight inside that group. With
    ``cn`` the running sum of the negative rows' weights, that is
    ``(cn[lo] + cn[hi]) / 2`` for the row's group bounds ``lo, hi`` counted in
    negative rows, which depend on the scores only: per batch of replicates,
    one cumulative sum and a few gathers (the bootstrap's largest cost).
    """
    order = np.argsort(score, kind="mergesort")
    s, p = score[order], pos[order]
    first = np.r_[True, s[1:] != s[:-1]]  # first row of each group of equal scores
    group = np.cumsum(first) - 1
    neg_before = np.r_[0, np.cumsum(~p)]  # negative rows among the first k sorted rows
    starts = np.flatnonzero(first)
    lo = neg_before[starts][group][p]
    hi = neg_before[np.r_[starts[1:], len(s)]][group][p]
    cn = np.zeros((w.shape[0], int(neg_before[-1]) + 1))
    np.cumsum(np.take(w, order[~p], axis=1), axis=1, out=cn[:, 1:])
    wp = np.take(w, order[p], axis=1)
    num = 0.5 * (wp * (np.take(cn, lo, axis=1) + np.take(cn, hi, axis=1))).sum(axis=1)
    den = wp.sum(axis=1) * cn[:, -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def weighted_metrics(w: np.ndarray, p: Scored) -> dict[str, np.ndarray]:
    """Each metric for each row of the weight matrix ``w`` (shape (B, n))."""
    if isinstance(p, Estimates):
        return regression_metrics(w, p)
    k = len(p.classes)
    pred = p.pred
    total = w.sum(axis=1)
    correct = (pred == p.y).astype(float)
    out: dict[str, np.ndarray] = {"accuracy": w @ correct / total}
    recalls, f1s = [], []
    for c in range(k):
        is_c, pred_c = (p.y == c).astype(float), (pred == c).astype(float)
        tp = w @ (is_c * pred_c)
        fn = w @ (is_c * (1 - pred_c))
        fp = w @ ((1 - is_c) * pred_c)
        with np.errstate(invalid="ignore", divide="ignore"):
            recalls.append(np.where(tp + fn > 0, tp / (tp + fn), np.nan))
            f1s.append(np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0))
    with np.errstate(invalid="ignore"):
        out["balanced_accuracy"] = np.nanmean(np.vstack(recalls), axis=0)
    out["f1_macro"] = np.mean(np.vstack(f1s), axis=0)
    if k == 2:
        out["roc_auc"] = _auc(w, p.proba[:, 1], p.y == 1)
    else:
        aucs = np.vstack([_auc(w, p.proba[:, c], p.y == c) for c in range(k)])
        with np.errstate(invalid="ignore"):
            out["roc_auc"] = np.nanmean(aucs, axis=0)
    p_true = np.clip(p.proba[np.arange(len(p.y)), p.y], EPS, 1.0)
    out["log_loss"] = w @ (-np.log(p_true)) / total
    return out


def point_metrics(p: Scored) -> dict[str, float]:
    w = np.ones((1, len(p.y)))
    return {m: float(v[0]) for m, v in weighted_metrics(w, p).items()}


def bootstrap_weights(n: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) multinomial resampling counts from one seeded generator."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    flat = (idx + (np.arange(n_boot) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=n_boot * n).reshape(n_boot, n).astype(float)


def _replicates(sides: list[Scored], n_boot: int, seed: int) -> list[dict[str, np.ndarray]]:
    n = len(sides[0].y)
    chunks: list[list[dict[str, np.ndarray]]] = [[] for _ in sides]
    done = 0
    rng = np.random.default_rng(seed)
    while done < n_boot:
        b = min(BATCH, n_boot - done)
        w = bootstrap_weights(n, b, int(rng.integers(0, 2**31 - 1)))
        for i, side in enumerate(sides):
            chunks[i].append(weighted_metrics(w, side))
        done += b
    return [{m: np.concatenate([c[m] for c in side]) for m in side[0]} for side in chunks]


def subsample(p: Scored, max_rows: int, seed: int) -> Scored:
    """A seeded subsample for the bootstrap when the test set is very large."""
    if len(p.y) <= max_rows:
        return p
    keep = np.sort(np.random.default_rng(seed).choice(len(p.y), size=max_rows, replace=False))
    if isinstance(p, Estimates):
        return Estimates(p.y[keep], p.pred[keep])
    return Predictions(p.y[keep], p.proba[keep], p.classes)


def interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """The bootstrap percentile interval, ignoring replicates where the metric is undefined."""
    alpha = (1 - confidence) / 2
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(finite, [alpha, 1 - alpha])
    return float(lo), float(hi)


def with_intervals(p: Scored, n_boot: int, confidence: float, seed: int) -> dict[str, float]:
    """Flat, DVC-readable metrics: ``name``, ``name_ci_low``, ``name_ci_high``."""
    point = point_metrics(p)
    reps = _replicates([p], n_boot, seed)[0]
    out: dict[str, float] = {}
    for m in names_of(p):
        lo, hi = interval(reps[m], confidence)
        out[m] = round(point[m], 6)
        out[f"{m}_ci_low"] = round(lo, 6)
        out[f"{m}_ci_high"] = round(hi, 6)
    return out


def paired_delta(
    base: Scored,
    head: Scored,
    n_boot: int,
    confidence: float,
    seed: int,
) -> dict[str, tuple[float, float, float]]:
    """Delta (head - base) per metric with a paired-bootstrap interval over the same rows."""
    pb, ph = point_metrics(base), point_metrics(head)
    rb, rh = _replicates([base, head], n_boot, seed)
    out = {}
    for m in names_of(head):
        lo, hi = interval(rh[m] - rb[m], confidence)
        out[m] = (ph[m] - pb[m], lo, hi)
    return out


def improvement(name: str, delta: tuple[float, float, float]) -> tuple[float, float, float]:
    """A (delta, low, high) of ``name`` turned so that positive means better, whatever its direction."""
    d, lo, hi = delta
    return (-d, -hi, -lo) if name in LOWER_IS_BETTER else (d, lo, hi)


def versus_baseline(
    baseline: Scored, model: Scored, n_boot: int, confidence: float, seed: int
) -> dict[str, dict[str, float]]:
    """Per metric: the baseline's value and the model's paired-bootstrap improvement over it (positive = better).

    The relative floor (``gate.baseline``) judges the improvement's low end, so a dataset
    passes or fails against a model that ignores the features, not against absolute numbers.
    """
    base = point_metrics(baseline)
    out = {}
    for m, delta in paired_delta(baseline, model, n_boot, confidence, seed).items():
        gain, lo, hi = improvement(m, delta)
        out[m] = {
            "baseline": round(base[m], 6),
            "improvement": round(gain, 6),
            "improvement_ci_low": round(lo, 6),
            "improvement_ci_high": round(hi, 6),
        }
    return out


def baseline_verdict(comparison: dict[str, dict[str, float]], margins: dict[str, float]) -> tuple[list[str], list[str]]:
    """(failures, not applicable) of the relative floor: the improvement's CI low end must exceed each margin.

    ``comparison`` is `versus_baseline`'s output (metrics.json's ``baseline``); a margin on a metric it
    does not have belongs to the other task and is not applicable. A NaN low end (undefined) fails, and
    so does an unknown metric name.
    """
    failures, skipped = [], []
    for name, margin in sorted(margins.items()):
        if name not in METRICS + REGRESSION_METRICS:  # a typo must not pass as "not applicable"
            failures.append(f"gate.baseline.{name}: unknown metric (known: {', '.join(METRICS + REGRESSION_METRICS)})")
            continue
        row = comparison.get(name)
        if row is None:
            skipped.append(name)
            continue
        low = float(row["improvement_ci_low"])
        if not low > margin:
            failures.append(
                f"{name}: improvement over the baseline {row['improvement']:.4f} [{low:.4f}, "
                f"{row['improvement_ci_high']:.4f}] does not clear margin {margin:g} (baseline {row['baseline']:.4f})"
            )
    return failures, skipped
