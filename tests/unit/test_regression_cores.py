"""The regression task's cores: metrics and their intervals, the direction of each rule, the baseline floor."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from ml_gitops.config.errors import UserError
from ml_gitops.config.settings import GateSettings
from ml_gitops.core.metrics import (
    Estimates,
    Predictions,
    baseline_verdict,
    improvement,
    paired_delta,
    point_metrics,
    versus_baseline,
    with_intervals,
)
from ml_gitops.core.predictions import predictions_frame, read_predictions
from ml_gitops.core.schema import signature_schema
from ml_gitops.pipeline.gate import check_baseline, check_floors
from ml_gitops.pipeline.train import check_task


def _data(n: int = 300, noise: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.normal(10.0, 3.0, n)
    return y, y + rng.normal(0.0, noise, n)


def test_point_metrics_match_scikit_learn() -> None:
    y, pred = _data()
    m = point_metrics(Estimates(y, pred))
    assert m["rmse"] == pytest.approx(mean_squared_error(y, pred) ** 0.5)
    assert m["mae"] == pytest.approx(mean_absolute_error(y, pred))
    assert m["r2"] == pytest.approx(r2_score(y, pred))


def test_intervals_hold_the_point_and_are_named_flat() -> None:
    out = with_intervals(Estimates(*_data()), n_boot=200, confidence=0.95, seed=0)
    assert set(out) == {f"{m}{s}" for m in ("rmse", "mae", "r2") for s in ("", "_ci_low", "_ci_high")}
    for m in ("rmse", "mae", "r2"):
        assert out[f"{m}_ci_low"] < out[m] < out[f"{m}_ci_high"]


def test_improvement_is_positive_when_better_in_either_direction() -> None:
    assert improvement("rmse", (-2.0, -3.0, -1.0)) == (2.0, 1.0, 3.0)  # lower RMSE: better
    assert improvement("r2", (0.1, 0.05, 0.2)) == (0.1, 0.05, 0.2)
    y, good = _data(noise=0.5)
    _, bad = _data(noise=3.0)
    delta = paired_delta(Estimates(y, bad), Estimates(y, good), n_boot=200, confidence=0.95, seed=0)
    assert delta["rmse"][0] < 0 and delta["rmse"][2] < 0  # head's RMSE is lower, significantly
    assert improvement("rmse", delta["rmse"])[1] > 0


def test_a_useful_model_clears_the_baseline_and_noise_does_not() -> None:
    y, pred = _data()
    mean = Estimates(y, np.full_like(y, y.mean()))
    good = versus_baseline(mean, Estimates(y, pred), n_boot=200, confidence=0.95, seed=0)
    assert good["r2"]["baseline"] == pytest.approx(0.0, abs=1e-9)
    assert baseline_verdict(good, {"r2": 0.05, "balanced_accuracy": 0.05}) == ([], ["balanced_accuracy"])
    noise = Estimates(y, y.mean() + np.random.default_rng(1).normal(0, 3.0, len(y)))
    bad = versus_baseline(mean, noise, n_boot=200, confidence=0.95, seed=0)
    failures, _ = baseline_verdict(bad, {"r2": 0.05})
    assert len(failures) == 1 and failures[0].startswith("r2: improvement over the baseline")


def test_the_classification_baseline_is_judged_the_same_way() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    sharp = np.where(y[:, None] == np.arange(2), 0.9, 0.1)
    prior = np.tile(np.bincount(y) / len(y), (len(y), 1))
    cmp = versus_baseline(Predictions(y, prior, ["a", "b"]), Predictions(y, sharp, ["a", "b"]), 200, 0.95, 0)
    assert cmp["roc_auc"]["baseline"] == pytest.approx(0.5)
    assert cmp["log_loss"]["improvement"] > 0  # lower log loss than the prior: a positive improvement
    assert baseline_verdict(cmp, {"balanced_accuracy": 0.05, "r2": 0.05}) == ([], ["r2"])
    assert baseline_verdict(cmp, {"balanced_accuracy": 0.95})[0]  # a margin it cannot clear


def test_gate_floors_are_ceilings_for_errors() -> None:
    gate = GateSettings(floors={"rmse": 50.0, "r2": 0.3})
    assert check_floors({"rmse": 40.0, "r2": 0.5}, gate) == []
    assert check_floors({"rmse": 60.0, "r2": 0.2}, gate) == [
        "r2 = 0.2000 < floor 0.3000",
        "rmse = 60.0000 > floor 50.0000",
    ]


def test_gate_baseline_needs_the_comparison_and_a_known_metric() -> None:
    with pytest.raises(UserError, match="gate.baseline: .* no baseline comparison"):
        check_baseline({"rmse": 1.0}, GateSettings(baseline={"r2": 0.05}))
    with pytest.raises(UserError, match=r"^gate.baseline.r_squared: unknown metric"):
        check_baseline({"baseline": {}}, GateSettings(baseline={"r_squared": 0.05}))
    assert baseline_verdict({}, {"r_squared": 0.05})[0][0].startswith("gate.baseline.r_squared: unknown metric")


def test_a_classifier_for_a_regression_target_is_one_line() -> None:
    check_task(Ridge(), "regression", "sklearn.linear_model.Ridge")
    with pytest.raises(
        UserError, match=r"^model._target_: .*LogisticRegression is a classifier, but data.schema.task is regression$"
    ):
        check_task(LogisticRegression(), "regression", "sklearn.linear_model.LogisticRegression")
    with pytest.raises(UserError, match="is a regressor, but data.schema.task is classification"):
        check_task(Ridge(), "classification", "sklearn.linear_model.Ridge")


def test_predictions_and_signature_round_trip_for_regression() -> None:
    y, pred = _data(n=5)
    frame = predictions_frame(Estimates(y, pred))
    assert list(frame.columns) == ["row", "actual", "predicted"]
    back = read_predictions(frame)
    assert isinstance(back, Estimates) and np.allclose(back.pred, pred)
    sig = {"target": "v", "task": "regression", "features": {"x": {"dtype": "float", "nullable": True}}}
    schema = signature_schema(sig)
    assert schema.task == "regression" and schema.feature_columns == ["x"]
    assert pd.api.types.is_float_dtype(pd.Series(back.y))
