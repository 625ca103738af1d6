"""Plot data (for `dvc plots`) and PNG figures (for humans, rendered offline).

The curves are scikit-learn's, one vs rest per class; the PNGs are drawn with
matplotlib's Agg canvas (a `Figure`, no pyplot state), so nothing loads from a CDN.
"""

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from sklearn.metrics import confusion_matrix, precision_recall_curve, roc_curve

from ..core.calibration import calibration_by_class
from ..core.metrics import Estimates, Predictions
from .io import atomic_path


def _labels(p: Predictions) -> list[str]:
    """The classes that get a curve: the positive class of a binary problem, else every class."""
    return p.classes[1:] if len(p.classes) == 2 else list(p.classes)


def _one_vs_rest(p: Predictions) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per class with both outcomes present: (is this class, its score) for every row."""
    out = {}
    for name in _labels(p):
        c = p.classes.index(name)
        truth = p.y == c
        if truth.any() and not truth.all():
            out[name] = (truth, p.proba[:, c])
    return out


def roc(p: Predictions) -> dict[str, pd.DataFrame]:
    out = {}
    for name, (truth, score) in _one_vs_rest(p).items():
        fpr, tpr, _ = roc_curve(truth, score)
        out[name] = pd.DataFrame({"fpr": fpr.round(6), "tpr": tpr.round(6)})
    return out


def precision_recall(p: Predictions) -> dict[str, pd.DataFrame]:
    out = {}
    for name, (truth, score) in _one_vs_rest(p).items():
        precision, recall, _ = precision_recall_curve(truth, score)
        out[name] = pd.DataFrame({"recall": recall.round(6), "precision": precision.round(6)})
    return out


def calibration(p: Predictions, bins: int, min_per_bin: int = 10) -> dict[str, pd.DataFrame]:
    """Per class: quantile bins of the score with row counts and Wilson intervals on the observed rate.

    Uniform bins over a small test set put two rows in a bin and draw steep lines through them; quantile
    bins of at least ``min_per_bin`` rows do not. A class whose table had to shrink (or could not be
    formed) carries the reason in ``attrs["note"]``, which the figure prints.
    """
    out = {}
    tables = calibration_by_class(p.y, p.proba, p.classes, bins=bins, min_per_bin=min_per_bin)
    for name, t in tables.items():
        rows = t["table"]
        df = pd.DataFrame(
            {
                "predicted": [r["mean_predicted"] for r in rows],
                "observed": [r["observed"] for r in rows],
                "count": [r["count"] for r in rows],
                "ci_low": [r["ci_low"] for r in rows],
                "ci_high": [r["ci_high"] for r in rows],
            }
        )
        df.attrs["note"] = t["note"]
        out[name] = df
    return out


def area(curves: dict[str, pd.DataFrame], x: str, y: str) -> dict[str, float]:
    """AUC of each ROC curve (trapezoids), or average precision of each PR curve (steps, as scikit-learn)."""
    out = {}
    for name, df in curves.items():
        xs, ys = df[x].to_numpy(dtype=float), df[y].to_numpy(dtype=float)
        if x == "recall":
            out[name] = float(-np.sum(np.diff(xs) * ys[:-1]))
        else:
            out[name] = float(np.sum(np.diff(xs) * (ys[1:] + ys[:-1]) / 2))
    return out


def confusion(p: Predictions) -> pd.DataFrame:
    """One row per prediction (actual, predicted): the table `dvc plots` draws a confusion matrix from."""
    names = np.asarray(p.classes, dtype=object)
    return pd.DataFrame({"actual": names[p.y], "predicted": names[p.pred]})


def predicted_vs_actual(p: Estimates) -> pd.DataFrame:
    """One row per test row (actual, predicted): a regression model's scatter, for `dvc plots`."""
    return pd.DataFrame({"actual": p.y.round(6), "predicted": p.pred.round(6)})


def residuals(p: Estimates) -> pd.DataFrame:
    """Residual (actual - predicted) against the predicted value: structure here means a missed pattern."""
    return pd.DataFrame({"predicted": p.pred.round(6), "residual": (p.y - p.pred).round(6)})


# ------------------------------------------------------------------ PNG figures
def draw_regression_figures(p: Estimates, imp: pd.DataFrame, figures: Path) -> None:
    """The regression PNGs into ``figures/``: predicted vs actual, residuals, importance (drop in R²)."""
    figures.mkdir(parents=True, exist_ok=True)
    fig, ax = _figure()
    ax.scatter(p.y, p.pred, s=10, alpha=0.6)
    low, high = float(min(p.y.min(), p.pred.min())), float(max(p.y.max(), p.pred.max()))
    ax.plot([low, high], [low, high], ls="--", c="grey", lw=0.8)
    ax.set(xlabel="actual", ylabel="predicted", title="Predicted vs actual")
    _save(fig, figures / "predicted_vs_actual.png")
    fig, ax = _figure()
    ax.scatter(p.pred, p.y - p.pred, s=10, alpha=0.6)
    ax.axhline(0.0, ls="--", c="grey", lw=0.8)
    ax.set(xlabel="predicted", ylabel="actual - predicted", title="Residuals")
    _save(fig, figures / "residuals.png")
    draw_importance(imp, figures / "importance.png", "drop in R² when shuffled")


def draw_figures(p: Predictions, curves: dict[str, dict[str, pd.DataFrame]], imp: pd.DataFrame, figures: Path) -> None:
    """The five PNGs into ``figures/`` (each file atomically)."""
    figures.mkdir(parents=True, exist_ok=True)
    draw_confusion(confusion_matrix(p.y, p.pred, labels=range(len(p.classes))), p.classes, figures / "confusion.png")
    draw_curves(curves["roc"], "fpr", "tpr", "ROC (one vs rest)", figures / "roc.png", diagonal=True, score="AUC")
    draw_curves(
        curves["precision_recall"],
        "recall",
        "precision",
        "Precision-recall",
        figures / "precision_recall.png",
        score="AP",
    )
    draw_calibration(curves["calibration"], figures / "calibration.png")
    draw_importance(imp, figures / "importance.png")


def _figure() -> tuple[Figure, Axes]:
    fig = Figure(figsize=(4.5, 4), dpi=100)
    return fig, fig.subplots()


def _save(fig: Figure, dest: Path) -> None:
    fig.tight_layout()
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, format="png", metadata={"Software": None})  # no version stamp: same bytes on reruns


# Curves that coincide (three classes at AUC = 1.0) stay distinguishable by line style and marker.
STYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def draw_curves(
    curves: dict[str, pd.DataFrame],
    x: str,
    y: str,
    title: str,
    dest: Path,
    diagonal: bool = False,
    score: str | None = None,
) -> None:
    """One line per class, each with its own style and marker; ``score`` (AUC or AP) goes into the legend."""
    fig, ax = _figure()
    scores = area(curves, x, y) if score else {}
    for i, (name, df) in enumerate(curves.items()):
        label = f"{name} ({score} = {scores[name]:.3f})" if score else str(name)
        ax.plot(
            df[x],
            df[y],
            label=label,
            ls=STYLES[i % len(STYLES)],
            marker=MARKERS[i % len(MARKERS)],
            markevery=max(1, len(df) // 8),
            ms=5 - i % 3,
            lw=2.2 - 0.5 * (i % 3),
            alpha=0.85,
        )
    if diagonal:
        ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
    ax.set(xlabel=x, ylabel=y, title=title, xlim=(-0.02, 1.02), ylim=(-0.02, 1.02))
    ax.legend(loc="best", fontsize=8)
    _save(fig, dest)


def draw_calibration(curves: dict[str, pd.DataFrame], dest: Path) -> None:
    """Observed rate per quantile bin with its Wilson interval and row count, or why the test set is too small."""
    fig, ax = _figure()
    notes = []
    for i, (name, df) in enumerate(curves.items()):
        if df.attrs.get("note"):
            notes.append(f"{name}: {df.attrs['note']}")
        if df.empty:
            continue
        err = np.vstack([df["observed"] - df["ci_low"], df["ci_high"] - df["observed"]])
        ax.errorbar(
            df["predicted"],
            df["observed"],
            yerr=err,
            label=str(name),
            ls=STYLES[i % len(STYLES)],
            marker=MARKERS[i % len(MARKERS)],
            ms=4,
            capsize=2,
        )
        for px, py, n in zip(df["predicted"], df["observed"], df["count"], strict=True):
            ax.annotate(f"n={n}", (px, py), textcoords="offset points", xytext=(3, -9), fontsize=6)
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
    ax.set(xlabel="mean predicted (quantile bins)", ylabel="observed", title="Calibration (95% intervals)")
    ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02))
    if notes:
        ax.text(0.02, 0.98, "\n".join(notes), transform=ax.transAxes, va="top", fontsize=6, wrap=True)
    if any(not df.empty for df in curves.values()):
        ax.legend(loc="lower right", fontsize=8)
    _save(fig, dest)


def draw_confusion(matrix: np.ndarray, classes: list[str], dest: Path, title: str = "Confusion matrix") -> None:
    k = len(classes)
    fig, ax = _figure()
    ax.imshow(matrix, cmap="Blues")
    for i in range(k):
        for j in range(k):
            dark = matrix[i, j] > matrix.max() / 2
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", color="white" if dark else "black")
    ax.set_xticks(range(k), classes, rotation=30)
    ax.set_yticks(range(k), classes)
    ax.set(xlabel="predicted", ylabel="actual", title=title)
    _save(fig, dest)


def draw_importance(imp: pd.DataFrame, dest: Path, xlabel: str = "drop in balanced accuracy when shuffled") -> None:
    ordered = imp.sort_values("importance", kind="stable")
    fig, ax = _figure()
    ax.barh(ordered["feature"].astype(str), ordered["importance"], xerr=ordered["std"], color="tab:blue")
    ax.set(xlabel=xlabel, title="Permutation importance")
    _save(fig, dest)


def draw_effects(eff: dict[str, Any], dest: Path) -> None:
    """Partial dependence: one panel per feature, one line per output (class probability or value)."""
    features = eff["features"]
    ylabel = "mean predicted value" if eff["outputs"] == ["prediction"] else "mean probability"
    fig = Figure(figsize=(4.5 * max(1, len(features)), 4), dpi=100)
    axes = fig.subplots(1, max(1, len(features)), squeeze=False)[0]
    for ax, f in zip(axes, features, strict=False):
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in f["grid"])
        x = f["grid"] if numeric else [str(v) for v in f["grid"]]
        for i, (name, mean) in enumerate(f["mean"].items()):
            ax.plot(x, mean, label=str(name), ls=STYLES[i % len(STYLES)], marker=MARKERS[i % len(MARKERS)], ms=4)
        ax.set(xlabel=f["feature"], ylabel=ylabel, title=f"{f['feature']} (importance {f['importance']:.3f})")
        if not numeric:
            ax.tick_params(axis="x", labelrotation=30)
        if len(f["mean"]) > 1:
            ax.legend(loc="best", fontsize=8)
    if not features:
        axes[0].text(0.5, 0.5, "no number or category feature to show", ha="center", va="center")
    fig.suptitle(f"Partial dependence ({eff['rows']} test rows)")
    _save(fig, dest)
