from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    log_loss,
    roc_auc_score,
)

from ml_gitops.core.metrics import Predictions, paired_delta, point_metrics, with_intervals


def make(k: int, n: int = 400, seed: int = 0, skill: float = 0.5) -> Predictions:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    p = rng.dirichlet(np.ones(k), n)
    p[np.arange(n), y] += skill
    p[:10] = p[0]  # ties in scores
    return Predictions(y, p / p.sum(1, keepdims=True), [f"c{i}" for i in range(k)])


@pytest.mark.parametrize("k", [2, 3, 4])
def test_point_metrics_match_scikit_learn(k: int) -> None:
    p = make(k)
    m = point_metrics(p)
    auc = roc_auc_score(p.y, p.proba[:, 1]) if k == 2 else roc_auc_score(p.y, p.proba, multi_class="ovr")
    assert m["accuracy"] == pytest.approx(accuracy_score(p.y, p.pred))
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(p.y, p.pred))
    assert m["f1_macro"] == pytest.approx(f1_score(p.y, p.pred, average="macro"))
    assert m["roc_auc"] == pytest.approx(auc)
    assert m["log_loss"] == pytest.approx(log_loss(p.y, p.proba))


def test_intervals_contain_point_and_are_seeded() -> None:
    p = make(3)
    a, b = with_intervals(p, 300, 0.95, 1), with_intervals(p, 300, 0.95, 1)
    assert a == b
    assert a["accuracy_ci_low"] < a["accuracy"] < a["accuracy_ci_high"]
    assert with_intervals(p, 300, 0.95, 2) != a


def test_paired_delta_sees_a_real_difference_and_not_a_fake_one() -> None:
    good, bad = make(2, skill=0.8), make(2, skill=0.8)
    noisy = Predictions(
        bad.y,
        np.clip(bad.proba + np.random.default_rng(9).normal(0, 0.3, bad.proba.shape), 0.01, None),
        bad.classes,
    )
    noisy = Predictions(noisy.y, noisy.proba / noisy.proba.sum(1, keepdims=True), noisy.classes)
    delta, _lo, hi = paired_delta(good, noisy, 500, 0.95, 0)["accuracy"]
    assert delta < 0 and hi < 0
    same = paired_delta(good, good, 200, 0.95, 0)["accuracy"]
    assert same == (0.0, 0.0, 0.0)


@pytest.mark.parametrize(("n", "decimals"), [(5, 1), (69, None), (400, 2), (3000, None)])
def test_weighted_auc_of_each_replicate_matches_scikit_learn(n: int, decimals: int | None) -> None:
    """The bootstrap's AUC (one cumulative sum per batch) is roc_auc_score with the replicate's weights,
    ties included."""
    from ml_gitops.core.metrics import _auc, bootstrap_weights

    rng = np.random.default_rng(n)
    score = rng.random(n) if decimals is None else rng.random(n).round(decimals)
    pos = rng.random(n) < score
    w = bootstrap_weights(n, 16, seed=3)
    got = _auc(w, score, pos)
    for b in range(len(w)):
        kept = w[b] > 0
        if pos[kept].all() or not pos[kept].any():
            assert np.isnan(got[b])
        else:
            assert got[b] == pytest.approx(roc_auc_score(pos, score, sample_weight=w[b]), abs=1e-12)


@pytest.mark.parametrize("k", [2, 3])
def test_plot_curves_are_scikit_learns_points(k: int) -> None:
    """The plot data are scikit-learn's curves, one vs rest, rounded for the committed CSVs."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    from ml_gitops.adapters import figures as plots

    for p in (make(k), make(k, n=2000, seed=4, skill=0.2)):
        for name, df in plots.roc(p).items():
            c = p.classes.index(name)
            fpr, tpr, _ = roc_curve(p.y == c, p.proba[:, c])
            assert df["fpr"].tolist() == fpr.round(6).tolist() and df["tpr"].tolist() == tpr.round(6).tolist()
        for name, df in plots.precision_recall(p).items():
            c = p.classes.index(name)
            precision, recall, _ = precision_recall_curve(p.y == c, p.proba[:, c])
            assert df["recall"].tolist() == recall.round(6).tolist()
            assert df["precision"].tolist() == precision.round(6).tolist()


def test_figures_are_the_five_pngs_and_byte_identical_on_a_rerun(tmp_path) -> None:
    import pandas as pd

    from ml_gitops.adapters import figures as plots
    from ml_gitops.config.settings import EvaluateSettings
    from ml_gitops.pipeline.evaluate import plot_curves

    p = make(3, n=300)
    imp = pd.DataFrame({"feature": ["a", "b"], "importance": [0.2, -0.01], "std": [0.01, 0.02]})
    for run in ("first", "second"):
        plots.draw_figures(p, plot_curves(p, EvaluateSettings()), imp, tmp_path / run)
    names = sorted(p.name for p in (tmp_path / "first").iterdir())
    assert names == ["calibration.png", "confusion.png", "importance.png", "precision_recall.png", "roc.png"]
    for name in names:
        png = (tmp_path / "first" / name).read_bytes()
        assert png[:4] == b"\x89PNG" and (tmp_path / "second" / name).read_bytes() == png


def test_calibration_is_the_quantile_table_with_counts_and_intervals() -> None:
    from ml_gitops.adapters import figures as plots
    from ml_gitops.core.calibration import calibration_table

    p = make(2, n=1000, seed=3)
    df = plots.calibration(p, 10)["c1"]
    table = calibration_table(p.y == 1, p.proba[:, 1], bins=10)["table"]
    assert df["predicted"].tolist() == [r["mean_predicted"] for r in table]
    assert df["observed"].tolist() == [r["observed"] for r in table]
    assert df["count"].tolist() == [r["count"] for r in table] and df["count"].sum() == 1000
