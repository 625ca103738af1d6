"""Calibration tables use bins with equal counts, show the counts and intervals, and say when the set is small."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ml_gitops.core.calibration import calibration_by_class, calibration_table, wilson_interval


def sample(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A calibrated model: the event happens with the predicted probability."""
    rng = np.random.default_rng(seed)
    score = rng.random(n)
    return rng.random(n) < score, score


def test_wilson_interval_known_values() -> None:
    # 0 of 10 at 95 %: the upper end is z^2 / (n + z^2) = 3.8415 / 13.8415.
    lo, hi = wilson_interval(np.array([0, 5]), np.array([10, 10]), 0.95)
    assert lo[0] == 0.0 and hi[0] == pytest.approx(0.27753, abs=1e-4)
    assert (lo[1], hi[1]) == pytest.approx((0.23659, 0.76341), abs=1e-4)


def test_enough_rows_use_the_requested_bins_with_equal_counts() -> None:
    event, score = sample(2000)
    r = calibration_table(event, score, bins=10)
    assert r["bins"] == 10 and r["note"] is None
    assert [b["count"] for b in r["table"]] == [200] * 10
    for b in r["table"]:
        assert b["score_low"] <= b["mean_predicted"] <= b["score_high"]
        assert b["ci_low"] <= b["observed"] <= b["ci_high"]
    # Calibrated by construction: most bins' intervals hold their mean prediction.
    held = sum(b["ci_low"] <= b["mean_predicted"] <= b["ci_high"] for b in r["table"])
    assert held >= 8
    json.dumps(r, allow_nan=False)


def test_small_test_set_gets_fewer_bins_and_a_note() -> None:
    event, score = sample(69)  # the penguins test set: 10 bins would hold 6 or 7 rows each
    r = calibration_table(event, score, bins=10, min_per_bin=10)
    assert r["bins"] == 6 and sum(b["count"] for b in r["table"]) == 69
    assert all(b["count"] >= 10 for b in r["table"])
    assert "6 bins instead of 10" in r["note"]


def test_too_small_to_judge_returns_a_note_only() -> None:
    event, score = sample(15)
    r = calibration_table(event, score, bins=10, min_per_bin=10)
    assert r["table"] == [] and r["bins"] == 0
    assert "too few to judge" in r["note"]


def test_tied_scores_merge_bins_so_none_is_nearly_empty() -> None:
    # A confident model: most rows predicted exactly 1.0 or 0.0.
    score = np.r_[np.ones(60), np.zeros(30), np.linspace(0.2, 0.8, 12)]
    event = score > 0.5
    r = calibration_table(event, score, bins=10, min_per_bin=10)
    assert sum(b["count"] for b in r["table"]) == score.size
    assert all(b["count"] >= 10 for b in r["table"])
    assert r["table"][-1]["score_low"] == 1.0 and r["table"][-1]["observed"] == 1.0
    assert r["note"] is not None


def test_one_table_per_class_and_only_the_positive_class_when_binary() -> None:
    rng = np.random.default_rng(1)
    proba = rng.dirichlet([1, 1, 1], 300)
    y = np.array([rng.choice(3, p=p) for p in proba])
    assert list(calibration_by_class(y, proba, ["a", "b", "c"])) == ["a", "b", "c"]
    binary = np.c_[1 - proba[:, 0], proba[:, 0]]
    tables = calibration_by_class((y == 0).astype(int), binary, ["no", "yes"])
    assert list(tables) == ["yes"] and tables["yes"]["rows"] == 300
