"""Plot data (for `dvc plots`) and PNG figures (for humans, rendered offline).

The curves are scikit-learn's, one vs rest per class; the PNGs are drawn with
matplotlib's Agg canvas (a `Figure`, no pyplot state), so nothing loads from a CDN.
"""

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve
from sklearn.metrics import confusion_matrix, precision_recall_curve, roc_curve

from ..core.metrics import Predictions
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


def calibration(p: Predictions, bins: int) -> dict[str, pd.DataFrame]:
    """Mean predicted probability against the observed frequency, per non-empty bin."""
    out = {}
    for name, (truth, score) in _one_vs_rest(p).items():
        observed, predicted = calibration_curve(truth, score, n_bins=bins, strategy="uniform")
        out[name] = pd.DataFrame({"predicted": predicted.round(6), "observed": observed.round(6)})
    return out


def confusion(p: Predictions) -> pd.DataFrame:
    """One row per prediction (actual, predicted): the table `dvc plots` draws a confusion matrix from."""
    names = np.asarray(p.classes, dtype=object)
    return pd.DataFrame({"actual": names[p.y], "predicted": names[p.pred]})


# ------------------------------------------------------------------ PNG figures
def draw_figures(p: Predictions, curves: dict[str, dict[str, pd.DataFrame]], imp: pd.DataFrame, figures: Path) -> None:
    """The five PNGs into ``figures/`` (each file atomically)."""
    figures.mkdir(parents=True, exist_ok=True)
    draw_confusion(confusion_matrix(p.y, p.pred, labels=range(len(p.classes))), p.classes, figures / "confusion.png")
    draw_curves(curves["roc"], "fpr", "tpr", "ROC (one vs rest)", figures / "roc.png", diagonal=True)
    draw_curves(curves["precision_recall"], "recall", "precision", "Precision-recall", figures / "precision_recall.png")
    draw_curves(
        curves["calibration"], "predicted", "observed", "Calibration", figures / "calibration.png", diagonal=True
    )
    draw_importance(imp, figures / "importance.png")


def _figure() -> tuple[Figure, Axes]:
    fig = Figure(figsize=(4.5, 4), dpi=100)
    return fig, fig.subplots()


def _save(fig: Figure, dest: Path) -> None:
    fig.tight_layout()
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, format="png", metadata={"Software": None})  # no version stamp: same bytes on reruns


def draw_curves(
    curves: dict[str, pd.DataFrame], x: str, y: str, title: str, dest: Path, diagonal: bool = False
) -> None:
    fig, ax = _figure()
    for name, df in curves.items():
        ax.plot(df[x], df[y], label=str(name), marker="o" if len(df) < 15 else None, ms=3)
    if diagonal:
        ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
    ax.set(xlabel=x, ylabel=y, title=title, xlim=(-0.02, 1.02), ylim=(-0.02, 1.02))
    ax.legend(loc="best", fontsize=8)
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


def draw_importance(imp: pd.DataFrame, dest: Path) -> None:
    ordered = imp.sort_values("importance", kind="stable")
    fig, ax = _figure()
    ax.barh(ordered["feature"].astype(str), ordered["importance"], xerr=ordered["std"], color="tab:blue")
    ax.set(xlabel="drop in balanced accuracy when shuffled", title="Permutation importance")
    _save(fig, dest)
