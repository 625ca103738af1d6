"""Plot data (for `dvc plots`) and PNG figures (for humans, rendered offline).

The curve data are pure functions of the predictions; the PNGs are drawn
with matplotlib's Agg backend so nothing loads from a CDN.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from ..core.metrics import Predictions


def binary_curve(truth: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False and true positives at each distinct threshold, highest score first.

    The counts scikit-learn's ``roc_curve`` and ``precision_recall_curve`` start
    from, in NumPy alone: evaluate then needs no scikit-learn import (~1.4 s)
    when it scores the model through ONNX Runtime.
    """
    import numpy as np

    order = np.argsort(-score, kind="stable")
    s, t = score[order], truth[order].astype(float)
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # the last row of each distinct score
    tps = np.cumsum(t)[last]
    return 1 + last - tps, tps


def _curves(p: Predictions, kind: str) -> dict[str, pd.DataFrame]:
    """One-vs-rest ROC (corners only, from (0, 0)) or precision-recall curve per class,
    the same points scikit-learn's ``roc_curve`` / ``precision_recall_curve`` give."""
    import numpy as np
    import pandas as pd

    out = {}
    labels = p.classes[1:] if len(p.classes) == 2 else p.classes
    for name in labels:
        c = p.classes.index(name)
        truth = p.y == c
        if truth.min() == truth.max():
            continue
        fps, tps = binary_curve(truth, p.proba[:, c])
        if kind == "roc":
            if len(fps) > 2:  # drop points collinear with their neighbours (scikit-learn's drop_intermediate)
                keep = np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True]
                fps, tps = fps[keep], tps[keep]
            fpr, tpr = np.r_[0.0, fps] / fps[-1], np.r_[0.0, tps] / tps[-1]
            out[name] = pd.DataFrame({"fpr": fpr.round(6), "tpr": tpr.round(6)})
        else:
            ps = tps + fps
            precision = np.divide(tps, ps, out=np.zeros_like(tps), where=ps != 0)
            recall = tps / tps[-1]
            out[name] = pd.DataFrame(
                {"recall": np.r_[recall[::-1], 0.0].round(6), "precision": np.r_[precision[::-1], 1.0].round(6)}
            )
    return out


def roc(p: Predictions) -> dict[str, pd.DataFrame]:
    return _curves(p, "roc")


def precision_recall(p: Predictions) -> dict[str, pd.DataFrame]:
    return _curves(p, "pr")


def calibration(p: Predictions, bins: int) -> dict[str, pd.DataFrame]:
    import numpy as np
    import pandas as pd

    out = {}
    labels = p.classes[1:] if len(p.classes) == 2 else p.classes
    edges = np.linspace(0, 1, bins + 1)
    for name in labels:
        c = p.classes.index(name)
        score, truth = p.proba[:, c], (p.y == c).astype(float)
        which = np.clip(np.digitize(score, edges[1:-1]), 0, bins - 1)
        rows = [
            {
                "predicted": round(float(score[which == b].mean()), 6),
                "observed": round(float(truth[which == b].mean()), 6),
                "count": int((which == b).sum()),
            }
            for b in range(bins)
            if (which == b).any()
        ]
        out[name] = pd.DataFrame(rows)
    return out


def confusion(p: Predictions) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    names = np.asarray(p.classes, dtype=object)
    return pd.DataFrame({"actual": names[p.y], "predicted": names[p.pred]})


# ------------------------------------------------------------------ PNG figures
# The figures are drawn from plain data (NumPy arrays, lists of names), so that the
# evaluate stage can draw them in a forked child (worker.py) that never imports pyarrow.
Curves = dict[str, tuple[Any, Any]]  # class -> (x values, y values)


def figure_data(p: Predictions, curves: dict[str, dict[str, pd.DataFrame]], imp: pd.DataFrame) -> dict[str, Any]:
    """Everything the five PNGs show, as NumPy arrays and names."""
    import numpy as np

    k = len(p.classes)
    matrix = np.zeros((k, k), dtype=int)
    np.add.at(matrix, (p.y, p.pred), 1)

    def xy(kind: str, x: str, y: str) -> Curves:
        return {name: (df[x].to_numpy(float), df[y].to_numpy(float)) for name, df in curves[kind].items()}

    return {
        "confusion": (matrix, list(p.classes)),
        "roc": xy("roc", "fpr", "tpr"),
        "precision_recall": xy("precision_recall", "recall", "precision"),
        "calibration": xy("calibration", "predicted", "observed"),
        "importance": (
            [str(f) for f in imp["feature"]],
            imp["importance"].to_numpy(float),
            imp["std"].to_numpy(float),
        ),
    }


def draw_figures(data: dict[str, Any], figures: Path) -> None:
    """The five PNGs of ``figure_data`` into ``figures/`` (each file atomically)."""
    figures.mkdir(parents=True, exist_ok=True)
    matrix, classes = data["confusion"]
    draw_confusion(matrix, classes, figures / "confusion.png")
    draw_curves(data["roc"], "fpr", "tpr", "ROC (one vs rest)", figures / "roc.png", diagonal=True)
    draw_curves(data["precision_recall"], "recall", "precision", "Precision-recall", figures / "precision_recall.png")
    draw_curves(data["calibration"], "predicted", "observed", "Calibration", figures / "calibration.png", diagonal=True)
    draw_importance(*data["importance"], figures / "importance.png")


def _figure() -> tuple[Any, Any]:
    """A figure without pyplot: no global state, and ~0.3 s less to import."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.5, 4), dpi=100)
    return fig, fig.subplots()


# Curve plots have fixed labels and 0-1 axes: fixed margins instead of tight_layout,
# which draws the figure once more to measure its text (~50 ms a figure).
CURVE_MARGINS = {"left": 0.14, "right": 0.97, "bottom": 0.12, "top": 0.92}


def _save(fig: Any, dest: Path, *, margins: dict[str, float] | None = None) -> None:
    from .io import atomic_path

    if margins:
        fig.subplots_adjust(**margins)
    else:
        fig.tight_layout()
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, format="png", metadata={"Software": None})


def draw_curves(curves: Curves, x: str, y: str, title: str, dest: Path, diagonal: bool = False) -> None:
    fig, ax = _figure()
    for name, (xs, ys) in curves.items():
        ax.plot(xs, ys, label=str(name), marker="o" if len(xs) < 15 else None, ms=3)
    if diagonal:
        ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
    ax.set(xlabel=x, ylabel=y, title=title, xlim=(-0.02, 1.02), ylim=(-0.02, 1.02))
    ax.legend(loc="best", fontsize=8)
    _save(fig, dest, margins=CURVE_MARGINS)


def draw_confusion(matrix: Any, classes: list[str], dest: Path, title: str = "Confusion matrix") -> None:
    k = len(classes)
    fig, ax = _figure()
    ax.imshow(matrix, cmap="Blues")
    for i in range(k):
        for j in range(k):
            ax.text(
                j,
                i,
                str(matrix[i, j]),
                ha="center",
                va="center",
                color="white" if matrix[i, j] > matrix.max() / 2 else "black",
            )
    ax.set_xticks(range(k), classes, rotation=30)
    ax.set_yticks(range(k), classes)
    ax.set(xlabel="predicted", ylabel="actual", title=title)
    _save(fig, dest)


def draw_importance(features: list[str], importance: Any, std: Any, dest: Path) -> None:
    import numpy as np

    order = np.argsort(importance, kind="stable")
    fig, ax = _figure()
    ax.barh([features[i] for i in order], importance[order], xerr=std[order], color="tab:blue")
    ax.set(xlabel="drop in balanced accuracy when shuffled", title="Permutation importance")
    _save(fig, dest)
