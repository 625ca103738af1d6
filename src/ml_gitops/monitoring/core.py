"""The monitor's pure core: a reference and a current window in, a judged report out.

Decision rule (one family of tests per run, so many features do not mean many
false alarms): every check that has a p-value (KS per numeric feature,
chi-square per categorical feature, a proportion test per missing rate, a
chi-square on the predicted classes and a KS per class score) joins one family;
the p-values are adjusted with Holm (or Bonferroni) at family-wise level
``alpha``. A check breaches only when its adjusted p-value is under ``alpha``
AND its effect size reaches its threshold (PSI, Wasserstein / reference std,
category-share change, missing-rate rise). Significance alone fires on tiny,
harmless shifts once windows are large; effect size alone fires on noise when
windows are small: requiring both avoids each failure mode.
A regressor (its signature has no classes) gets the same numeric test on its
predicted value instead of class shares and scores, and RMSE / MAE / R² from
numeric feedback, judged against absolute limits and against the reference
predictions' own error (`monitor.performance.max_increase`).
Checks without sampling noise (values outside the schema's range, categories
never seen in training) breach on their share alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..config.monitor import FeatureOverride, MonitorSettings
from ..core import drift as stats
from ..core.metrics import LOWER_IS_BETTER, Estimates, Predictions, point_metrics, subsample, with_intervals

if TYPE_CHECKING:
    from .logsource import Current

UNSEEN_EXAMPLES = 10


@dataclass
class Reference:
    features: pd.DataFrame
    predicted: pd.Series | None  # predicted class (str), or a regressor's value (float)
    proba: pd.DataFrame | None
    meta: dict[str, Any]
    actual: pd.Series | None = None  # a regressor's held-out targets: its reference error


def numbers(s: pd.Series) -> np.ndarray:
    """Finite floats of a column logged as text (a regressor's values and labels)."""
    v = pd.to_numeric(pd.Series(s), errors="coerce").to_numpy(dtype=float)
    return v[np.isfinite(v)]


def is_numeric(spec: dict[str, Any]) -> bool:
    return spec["dtype"] in {"float", "int"}


def as_category(s: pd.Series) -> pd.Series:
    """Categories as strings, whatever the source typed them as (1.0 -> "1", True -> "true")."""

    if pd.api.types.is_bool_dtype(s):
        return s.astype("string").str.lower()
    if pd.api.types.is_numeric_dtype(s):
        f = s.astype("float64")
        vals = f.dropna().to_numpy()
        if vals.size == 0 or np.all(vals == np.floor(vals)):
            return f.astype("Int64").astype("string")
        return f.astype("string")
    return s.astype("string")


def typed(df: pd.DataFrame, features: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Feature columns in canonical types: float64 for numbers, string for categories.

    Absent columns become all-missing (reported as a missing-rate shift), values
    that are not numbers in numeric columns become missing too.
    """

    out = {}
    for name, spec in features.items():
        col = df[name] if name in df.columns else pd.Series([None] * len(df), dtype=object)
        if is_numeric(spec):
            out[name] = pd.to_numeric(col, errors="coerce").astype("float64").reset_index(drop=True)
        else:
            out[name] = as_category(col).reset_index(drop=True)
    return pd.DataFrame(out)


def clean(obj: Any) -> Any:
    """JSON-safe: NaN/inf become None, NumPy scalars become Python numbers, floats rounded."""

    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [clean(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        if not math.isfinite(obj):
            return None
        return float(f"{obj:.6g}")
    return obj


class _Family:
    """Collects p-values across all checks, then adjusts them together."""

    def __init__(self) -> None:
        self.entries: list[tuple[dict[str, Any], float]] = []

    def add(self, record: dict[str, Any], p: float) -> None:
        self.entries.append((record, p))

    def adjust(self, method: str) -> int:
        adjusted = stats.adjust([p for _, p in self.entries], method)
        for (record, _), q in zip(self.entries, adjusted, strict=True):
            record["p_adjusted"] = q
        return sum(1 for _, p in self.entries if not math.isnan(p))


def _significant(record: dict[str, Any], alpha: float) -> bool:
    q = record.get("p_adjusted")
    return q is not None and not math.isnan(q) and q < alpha


def _category_counts(ref: pd.Series, cur: pd.Series, known: list[str]) -> tuple[list[str], Any, Any]:
    rc = ref.value_counts(dropna=True)
    cc = cur.value_counts(dropna=True)
    extra = sorted((set(rc.index) | set(cc.index)) - set(known))
    cats = [*known, *extra]
    return cats, rc.reindex(cats, fill_value=0).to_numpy(), cc.reindex(cats, fill_value=0).to_numpy()


def feature_checks(
    ref: pd.DataFrame,
    cur: pd.DataFrame,
    features: dict[str, dict[str, Any]],
    cfg: MonitorSettings,
    family: _Family,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per-feature drift and data quality records (p-values registered in ``family``)."""
    drift: dict[str, Any] = {}
    quality: dict[str, Any] = {}
    for name, spec in features.items():
        ov = cfg.features.get(name, FeatureOverride())
        r, c = ref[name], cur[name]
        n_r, n_c = len(r), len(c)
        miss_r, miss_c = int(r.isna().sum()), int(c.isna().sum())
        q: dict[str, Any] = {
            "missing_rate_reference": miss_r / n_r if n_r else math.nan,
            "missing_rate_current": miss_c / n_c if n_c else math.nan,
            "missing_threshold": cfg.quality.missing_increase,
        }
        family.add(q, stats.proportion_test(miss_r, n_r, miss_c, n_c))
        q["p_value"] = family.entries[-1][1]
        if is_numeric(spec):
            rv = r.dropna().to_numpy(dtype=float)
            cv = c.dropna().to_numpy(dtype=float)
            res = stats.numeric_drift(rv, cv, cfg.bins)
            thr = {
                "psi": ov.psi or cfg.numeric.psi,
                "wasserstein": ov.wasserstein or cfg.numeric.wasserstein,
            }
            d = {"kind": "numeric", "test": "ks", **res, "thresholds": thr}
            lo = spec.get("min", -math.inf)
            hi = spec.get("max", math.inf)
            outside = int(((cv < lo) | (cv > hi)).sum())
            q["out_of_range"] = outside
            q["out_of_range_share"] = outside / n_c if n_c else math.nan
            q["range"] = [spec.get("min"), spec.get("max")]
            q["reference_range"] = [float(rv.min()), float(rv.max())] if rv.size else [None, None]
        else:
            known = [str(v) for v in spec.get("categories") or []]
            cats, rcnt, ccnt = _category_counts(r, c, known)
            res = stats.categorical_drift(rcnt, ccnt)
            thr = {"psi": ov.psi or cfg.categorical.psi, "share": ov.share or cfg.categorical.share}
            d = {"kind": "categorical", "test": "chi2", **res, "thresholds": thr}
            d["shares_reference"] = dict(zip(cats, (rcnt / max(rcnt.sum(), 1)).tolist(), strict=True))
            d["shares_current"] = dict(zip(cats, (ccnt / max(ccnt.sum(), 1)).tolist(), strict=True))
            seen = set(known) | set(r.dropna().unique())
            unseen = {k: int(v) for k, v in zip(cats, ccnt, strict=True) if k not in seen and v > 0}
            top = dict(sorted(unseen.items(), key=lambda kv: (-kv[1], kv[0]))[:UNSEEN_EXAMPLES])
            q["unseen"] = top
            q["unseen_count"] = int(sum(unseen.values()))
            q["unseen_share"] = q["unseen_count"] / n_c if n_c else math.nan
        d["enabled"] = ov.enabled
        if ov.enabled:
            family.add(d, res["p_value"])
        drift[name] = d
        quality[name] = q
    return drift, quality


def prediction_checks(ref: Reference, cur: Current, classes: list[str], cfg: MonitorSettings, family: _Family) -> dict:
    """Predicted-class shares and each class's score distribution vs the reference predictions."""

    out: dict[str, Any] = {}
    if ref.predicted is None:
        return {"available": False, "reason": "no reference predictions"}
    if not classes:  # a regressor: its predicted value is one numeric column, tested as features are
        res = stats.numeric_drift(numbers(ref.predicted), numbers(cur.predicted), cfg.bins)
        thr = {"psi": cfg.numeric.psi, "wasserstein": cfg.numeric.wasserstein}
        value = {"kind": "numeric", "test": "ks", **res, "thresholds": thr}
        family.add(value, res["p_value"])
        return {"value": value, "available": True}
    rp = ref.predicted.astype("string")
    cp = pd.Series(cur.predicted).astype("string")
    cats, rcnt, ccnt = _category_counts(rp, cp, classes)
    res = stats.categorical_drift(rcnt, ccnt)
    cls = {"test": "chi2", **res, "thresholds": {"psi": cfg.prediction.psi, "share": cfg.prediction.share}}
    cls["shares_reference"] = dict(zip(cats, (rcnt / max(rcnt.sum(), 1)).tolist(), strict=True))
    cls["shares_current"] = dict(zip(cats, (ccnt / max(ccnt.sum(), 1)).tolist(), strict=True))
    cls["unknown_classes"] = {k: int(v) for k, v in zip(cats, ccnt, strict=True) if k not in classes and v > 0}
    family.add(cls, res["p_value"])
    out["classes"] = cls
    scores: dict[str, Any] = {}
    if ref.proba is not None:
        for c in classes:
            if c not in ref.proba.columns or c not in cur.proba.columns:
                continue
            rv = ref.proba[c].dropna().to_numpy(dtype=float)
            cv = cur.proba[c].dropna().to_numpy(dtype=float)
            s = {"test": "ks", **stats.numeric_drift(rv, cv, cfg.bins), "thresholds": {"psi": cfg.prediction.score_psi}}
            family.add(s, s["p_value"])
            scores[c] = s
    out["scores"] = scores
    out["available"] = True
    return out


def _limits(metrics: dict[str, float], floors: dict[str, float], judged: bool) -> dict[str, Any]:
    """Metrics confidently on the wrong side of their limit: a floor, or a ceiling for lower-is-better ones."""
    failed = {}
    for m, floor in floors.items():
        if m not in metrics:  # a floor of the other task (the shipped one is a classifier's)
            continue
        lo, hi = metrics[f"{m}_ci_low"], metrics[f"{m}_ci_high"]
        bad = lo > floor if m in LOWER_IS_BETTER else hi < floor
        if bad and judged:
            failed[m] = {"value": metrics[m], "ci": [lo, hi], "floor": floor}
    return failed


def regression_performance(cur: Current, ref: Reference, cfg: MonitorSettings, base: dict[str, Any]) -> dict:
    """RMSE, MAE and R² of the numeric labels, judged against absolute limits and the reference's error."""
    pc = cfg.performance
    lab = cur.labelled
    y = pd.to_numeric(lab["label"], errors="coerce").to_numpy(dtype=float)
    pred = pd.to_numeric(lab["predicted"], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(y) & np.isfinite(pred)
    base["unknown_labels"] = int((~ok).sum())
    base["n_labels"] = int(ok.sum())
    if not ok.any():
        return {**base, "reason": "no feedback label is a number"}
    p = subsample(Estimates(y[ok], pred[ok]), pc.bootstrap_max_rows, cfg.seed)
    metrics = with_intervals(p, pc.n_bootstrap, pc.confidence, cfg.seed)
    base.update(metrics=metrics, confidence=pc.confidence, judged=base["n_labels"] >= pc.min_labels)
    if not base["judged"]:
        base["reason"] = f"{base['n_labels']} label(s) < monitor.performance.min_labels ({pc.min_labels})"
    limits = dict(pc.floors)
    base["max_increase"] = dict(pc.max_increase)
    if ref.actual is not None and ref.predicted is not None:
        r = Estimates(ref.actual.to_numpy(dtype=float), ref.predicted.to_numpy(dtype=float))
        base["reference"] = {m: v for m, v in point_metrics(r).items() if m in pc.max_increase or m in metrics}
        for m, rise in pc.max_increase.items():  # a ceiling relative to the model's held-out error
            ceiling = base["reference"][m] * (1 + rise)
            limits[m] = min(limits.get(m, ceiling), ceiling)
    base["limits"] = {m: v for m, v in limits.items() if m in metrics}
    base["below_floor"] = _limits(metrics, limits, base["judged"])
    return base


def performance(cur: Current, classes: list[str], cfg: MonitorSettings, ref: Reference | None = None) -> dict:
    """Metrics on the labelled part of the window, with bootstrap intervals and the label count."""

    pc = cfg.performance
    lab = cur.labelled
    base: dict[str, Any] = {"n_labels": 0, "min_labels": pc.min_labels, "judged": False, "floors": pc.floors}
    if lab is None or len(lab) == 0:
        return {**base, "reason": "no feedback labels in the window"}
    if not classes:
        return regression_performance(cur, ref or Reference(pd.DataFrame(), None, None, {}), cfg, base)
    known = lab["label"].isin(classes)
    base["unknown_labels"] = int((~known).sum())
    lab = lab[known]
    base["n_labels"] = len(lab)
    if len(lab) == 0:
        return {**base, "reason": "no feedback label is one of the model's classes"}
    index = {c: i for i, c in enumerate(classes)}
    y = lab["label"].map(index).to_numpy(dtype=int)
    proba = lab[classes].to_numpy(dtype=float)
    # Rows logged without probabilities: score the logged class as certain.
    missing = ~np.isfinite(proba).all(axis=1)
    if missing.any():
        onehot = np.zeros((int(missing.sum()), len(classes)))
        pred = lab["predicted"][missing].map(index).fillna(0).to_numpy(dtype=int)
        onehot[np.arange(len(pred)), pred] = 1.0
        proba[missing] = onehot
    p = subsample(Predictions(y, proba, classes), pc.bootstrap_max_rows, cfg.seed)
    metrics = with_intervals(p, pc.n_bootstrap, pc.confidence, cfg.seed)
    base["metrics"] = metrics
    base["confidence"] = pc.confidence
    base["judged"] = len(lab) >= pc.min_labels
    if not base["judged"]:
        base["reason"] = f"{len(lab)} label(s) < monitor.performance.min_labels ({pc.min_labels})"
    base["below_floor"] = _limits(metrics, pc.floors, base["judged"])
    return base


def judge(
    ref: Reference,
    cur: Current,
    features: dict[str, dict[str, Any]],
    classes: list[str],
    cfg: MonitorSettings,
) -> dict[str, Any]:
    """The whole report (JSON-ready) with ``status`` and ``exit_code``."""
    n = len(cur.features)
    report: dict[str, Any] = {
        "reference": ref.meta,
        "window": cur.meta | {"rows": n},
        "min_rows": cfg.min_rows,
        "decision_rule": {
            "alpha": cfg.alpha,
            "correction": cfg.correction,
            "rule": "breach = effect size >= threshold AND adjusted p-value < alpha",
        },
    }
    if n < cfg.min_rows:
        report.update(
            status="cannot_judge",
            exit_code=2,
            reason=f"window has {n} row(s); at least {cfg.min_rows} (monitor.min_rows) are needed to judge",
            breaches=[],
            breach_kinds=[],
        )
        return clean(report)
    family = _Family()
    drift, quality = feature_checks(ref.features, cur.features, features, cfg, family)
    pred = prediction_checks(ref, cur, classes, cfg, family)
    report["decision_rule"]["tests"] = family.adjust(cfg.correction)
    breaches: list[dict[str, str]] = []

    def breach(kind: str, what: str, why: str) -> None:
        breaches.append({"kind": kind, "what": what, "why": why})

    a = cfg.alpha
    for name, d in drift.items():
        thr = d["thresholds"]
        hits = [
            f"{k} {d[k]:.3g} >= {t}" for k, t in thr.items() if t is not None and d.get(k) is not None and d[k] >= t
        ]
        d["effect"] = bool(hits)
        d["significant"] = _significant(d, a)
        d["drift"] = bool(d["enabled"] and hits and d["significant"])
        if d["drift"]:
            breach("drift", name, f"{', '.join(hits)}; {d['test']} p_adj {d['p_adjusted']:.2g} < {a}")
    for name, q in quality.items():
        q["issues"] = []
        rise = q["missing_rate_current"] - q["missing_rate_reference"]
        if rise >= cfg.quality.missing_increase and _significant(q, a):
            q["issues"].append("missing")
            breach(
                "quality",
                name,
                f"missing rate {q['missing_rate_reference']:.3f} -> {q['missing_rate_current']:.3f}; "
                f"p_adj {q['p_adjusted']:.2g} < {a}",
            )
        if q.get("out_of_range_share", 0) > cfg.quality.out_of_range_share:
            q["issues"].append("out_of_range")
            breach(
                "quality", name, f"{q['out_of_range']} value(s) outside {q['range']} ({q['out_of_range_share']:.1%})"
            )
        if q.get("unseen_share", 0) > cfg.quality.unseen_share:
            q["issues"].append("unseen")
            shown = ", ".join(f"{k!r}: {v}" for k, v in q["unseen"].items())
            breach("quality", name, f"categories never seen in training ({q['unseen_share']:.1%}): {shown}")
    if pred.get("available") and "value" in pred:
        v = pred["value"]
        hits = [f"{k} {v[k]:.3g} >= {t}" for k, t in v["thresholds"].items() if v.get(k) is not None and v[k] >= t]
        v["drift"] = bool(hits and _significant(v, a))
        if v["drift"]:
            breach("prediction", "predicted value", f"{', '.join(hits)}; ks p_adj {v['p_adjusted']:.2g} < {a}")
    elif pred.get("available"):
        cls = pred["classes"]
        hits = [
            f"{k} {cls[k]:.3g} >= {t}" for k, t in cls["thresholds"].items() if cls.get(k) is not None and cls[k] >= t
        ]
        cls["drift"] = bool(hits and _significant(cls, a))
        if cls["drift"]:
            breach("prediction", "predicted classes", f"{', '.join(hits)}; chi2 p_adj {cls['p_adjusted']:.2g} < {a}")
        for c, s in pred["scores"].items():
            t = s["thresholds"]["psi"]
            s["drift"] = bool(s["psi"] is not None and s["psi"] >= t and _significant(s, a))
            if s["drift"]:
                breach("prediction", f"score {c}", f"psi {s['psi']:.3g} >= {t}; ks p_adj {s['p_adjusted']:.2g} < {a}")
    perf = performance(cur, classes, cfg, ref)
    for m, f in perf.get("below_floor", {}).items():
        side = "over ceiling" if m in LOWER_IS_BETTER else "under floor"
        breach(
            "performance",
            m,
            f"{m} {f['value']:.3f} [{f['ci'][0]:.3f}, {f['ci'][1]:.3f}] confidently {side} {f['floor']:.4g} "
            f"({perf['n_labels']} labels)",
        )
    report.update(
        features=drift,
        quality=quality,
        prediction=pred,
        performance=perf,
        breaches=breaches,
        breach_kinds=sorted({b["kind"] for b in breaches}),
        status="breach" if breaches else "healthy",
        exit_code=1 if breaches else 0,
    )
    return clean(report)
