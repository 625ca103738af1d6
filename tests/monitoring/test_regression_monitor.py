"""The monitor's regression path: drift of the predicted value, error metrics from numeric feedback, limits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ml_gitops.adapters.predlog import PredictionLog
from ml_gitops.config.errors import UserError
from ml_gitops.config.monitor import CompareSettings, MonitorSettings, PerformanceSettings, monitor_settings
from ml_gitops.config.settings import load_settings
from ml_gitops.monitoring.compare import compare, has_candidate
from ml_gitops.monitoring.core import Reference, judge
from ml_gitops.monitoring.logsource import LogSource, Window
from ml_gitops.monitoring.render import markdown

from ..helpers import ROOT

FEATURES = {"x": {"dtype": "float"}}


def _reference(n: int = 400, seed: int = 0) -> Reference:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, n)
    actual = 10 * x + rng.normal(0, 1, n)
    pred = pd.Series(10 * x)
    return Reference(pd.DataFrame({"x": x}), pred, None, {"rows": n, "path": "ref"}, pd.Series(actual))


def _log(tmp_path: Path, shift: float, noise: float, n: int = 300, seed: int = 1) -> str:
    """A log as serving writes a regressor's rows: repr(value), {} probabilities, numeric labels as text."""
    rng = np.random.default_rng(seed)
    url = f"sqlite:///{tmp_path / 'log.db'}"
    plog = PredictionLog(url).create()
    x = rng.normal(shift, 1, n)
    rows = [
        {"id": f"{i:032x}", "model": "m", "version": "v1", "inputs": {"x": float(v)}, "prediction": repr(10 * float(v))}
        | {"probabilities": {}, "latency_ms": 1.0}
        for i, v in enumerate(x)
    ]
    plog.write_predictions(rows)
    labels = 10 * x + rng.normal(0, noise, n)
    plog.write_feedback({"prediction_id": r["id"], "label": float(y)} for r, y in zip(rows, labels, strict=True))
    return url


def _cfg(**performance: object) -> MonitorSettings:
    base = MonitorSettings().model_dump(by_alias=True)
    base["performance"] = base["performance"] | {"n_bootstrap": 200, "floors": {}} | performance
    return MonitorSettings.model_validate(base)


def test_same_distribution_and_error_is_healthy(tmp_path: Path) -> None:
    cur = LogSource(_log(tmp_path, shift=0.0, noise=1.0)).read(Window(), FEATURES, [])
    report = judge(_reference(), cur, FEATURES, [], _cfg(max_increase={"rmse": 0.25}))
    assert report["status"] == "healthy", report["breaches"]
    value = report["prediction"]["value"]
    assert value["test"] == "ks" and value["drift"] is False and value["psi"] is not None
    perf = report["performance"]
    assert perf["n_labels"] == 300 and perf["judged"]
    assert {"rmse", "mae", "r2", "rmse_ci_low", "mae_ci_high"} <= set(perf["metrics"])
    assert perf["metrics"]["rmse_ci_low"] < perf["metrics"]["rmse"] < perf["metrics"]["rmse_ci_high"]
    assert perf["limits"]["rmse"] == pytest.approx(perf["reference"]["rmse"] * 1.25, rel=1e-3)
    md = markdown(report)
    assert "Predicted value: KS" in md and "| rmse |" in md and "| mae |" in md


def test_shifted_values_and_larger_errors_breach(tmp_path: Path) -> None:
    cur = LogSource(_log(tmp_path, shift=1.5, noise=3.0)).read(Window(), FEATURES, [])
    report = judge(_reference(), cur, FEATURES, [], _cfg(max_increase={"rmse": 0.25}))
    whats = {(b["kind"], b["what"]) for b in report["breaches"]}
    assert ("prediction", "predicted value") in whats and ("performance", "rmse") in whats, whats
    rmse = next(b for b in report["breaches"] if b["what"] == "rmse")
    assert "confidently over ceiling" in rmse["why"]
    assert report["status"] == "breach" and report["exit_code"] == 1


def test_an_absolute_ceiling_applies_and_a_classifier_floor_is_skipped(tmp_path: Path) -> None:
    cur = LogSource(_log(tmp_path, shift=0.0, noise=3.0)).read(Window(), FEATURES, [])
    report = judge(_reference(), cur, FEATURES, [], _cfg(floors={"mae": 1.0, "balanced_accuracy": 0.8}))
    assert [b["what"] for b in report["breaches"] if b["kind"] == "performance"] == ["mae"]


def test_non_numeric_labels_are_counted_not_scored(tmp_path: Path) -> None:
    url = _log(tmp_path, shift=0.0, noise=1.0, n=150)
    PredictionLog(url).write_feedback([{"prediction_id": f"{0:032x}", "label": "n/a"}])  # the latest label wins
    cur = LogSource(url).read(Window(), FEATURES, [])
    perf = judge(_reference(), cur, FEATURES, [], _cfg())["performance"]
    assert perf["unknown_labels"] == 1 and perf["n_labels"] == 149


def test_compare_refuses_a_regressors_log_in_one_line(tmp_path: Path) -> None:
    url = _log(tmp_path, shift=0.0, noise=1.0, n=20)
    rows = PredictionLog(url).read_window(with_feedback=True)
    with pytest.raises(UserError, match="not supported for regression"):
        compare(rows.assign(version=["v1", "v2"] * 10), CompareSettings())
    assert has_candidate(url) is False  # the monitor report skips the section instead of failing


def test_max_increase_accepts_error_metrics_only() -> None:
    assert PerformanceSettings(max_increase={"rmse": 0.1}).max_increase == {"rmse": 0.1}


def test_max_increase_on_a_metric_that_is_not_an_error_is_one_line(tmp_path: Path) -> None:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["monitor"]["performance"]["max_increase"] = {"r2": 0.1}
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw, sort_keys=False))
    with pytest.raises(UserError, match=r"monitor.performance.max_increase.r2: expected one of \('rmse', 'mae'\)"):
        monitor_settings(load_settings(params))
