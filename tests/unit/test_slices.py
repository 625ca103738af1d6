"""Per-slice metrics find where a model fails, and the slice gate catches a slice that regresses."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, mean_absolute_error, mean_squared_error

from ml_gitops.core.slices import (
    SliceColumn,
    assign_slices,
    compare_slices,
    paired_slice_deltas,
    slice_regressions,
    slice_report,
)

CLASSES = np.array(["Adelie", "Chinstrap", "Gentoo"])


def noisy(truth: np.ndarray, correct: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Predictions equal to ``truth`` where ``correct``, else another class."""
    shift = rng.integers(1, len(CLASSES), truth.size)
    wrong = CLASSES[(np.searchsorted(CLASSES, truth) + shift) % len(CLASSES)]
    return np.where(correct, truth, wrong)


def planted(n_per_island: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.DataFrame]:
    """Base is right 95 % of the time everywhere; head drops to 60 % on Dream and is wrong on 5 'unknown' rows."""
    rng = np.random.default_rng(seed)
    island = np.repeat(["Biscoe", "Dream", "Torgersen"], n_per_island)
    n = island.size
    sex = rng.choice(["female", "male"], n).astype(object)
    sex[-5:] = "unknown"  # on Torgersen, so Biscoe keeps identical predictions
    truth = rng.choice(CLASSES, n)
    base_ok = rng.random(n) < 0.95
    head_ok = np.where(island == "Dream", rng.random(n) < 0.60, base_ok)
    head_ok[-5:] = False
    frame = pd.DataFrame({"island": island, "sex": sex, "mass": rng.normal(4200, 800, n)})
    return truth, noisy(truth, base_ok, rng), noisy(truth, head_ok, rng), frame


SPEC = [SliceColumn("island"), SliceColumn("sex")]


def by_name(report: dict) -> dict[str, dict]:
    return {s["name"]: s for s in report["slices"]}


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")  # scikit-learn's, on a 5-row slice
def test_point_metrics_match_scikit_learn_per_slice() -> None:
    truth, _, head, frame = planted()
    report = slice_report(truth, head, frame, SPEC, "classification", n_boot=50)
    for s in assign_slices(frame, SPEC):
        t, p = truth[s.rows], head[s.rows]
        m = by_name(report)[s.name]["metrics"]
        assert m["accuracy"]["value"] == pytest.approx(accuracy_score(t, p), abs=1e-6)
        assert m["balanced_accuracy"]["value"] == pytest.approx(balanced_accuracy_score(t, p), abs=1e-6)
        assert m["f1_macro"]["value"] == pytest.approx(f1_score(t, p, average="macro"), abs=1e-6)
        for v in m.values():
            assert v["ci_low"] <= v["value"] <= v["ci_high"]


def test_a_slice_with_one_class_is_not_penalised_for_the_absent_classes() -> None:
    frame = pd.DataFrame({"island": ["Torgersen"] * 40})
    truth = np.array(["Adelie"] * 40)
    m = slice_report(truth, truth, frame, [SliceColumn("island")], "classification", n_boot=20)["slices"][0]["metrics"]
    assert m["f1_macro"]["value"] == 1.0 and m["balanced_accuracy"]["value"] == 1.0


def test_regression_metrics_match_scikit_learn() -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"island": rng.choice(["Biscoe", "Dream"], 300)})
    truth = rng.normal(size=300)
    pred = truth + rng.normal(scale=np.where(frame["island"] == "Dream", 2.0, 0.5))
    report = slice_report(truth, pred, frame, [SliceColumn("island")], "regression", n_boot=100)
    for s in assign_slices(frame, [SliceColumn("island")]):
        m = by_name(report)[s.name]["metrics"]
        rmse = np.sqrt(mean_squared_error(truth[s.rows], pred[s.rows]))
        assert m["rmse"]["value"] == pytest.approx(rmse, abs=1e-6)
        assert m["mae"]["value"] == pytest.approx(mean_absolute_error(truth[s.rows], pred[s.rows]), abs=1e-6)
    assert report["worst"]["rmse"]["slice"] == "island=Dream"  # lower is better: worst is the largest error


def test_numeric_bins_by_edges_and_by_quantiles_with_a_missing_slice() -> None:
    frame = pd.DataFrame({"mass": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, np.nan, 8.0]})
    edges = {s.value: s.rows.tolist() for s in assign_slices(frame, [SliceColumn("mass", edges=(3.0, 6.0))])}
    assert edges == {"< 3": [0, 1], "[3, 6)": [2, 3, 4], ">= 6": [5, 7], "missing": [6]}
    quart = assign_slices(frame, [SliceColumn("mass", quantiles=2)])
    assert [s.rows.size for s in quart] == [3, 4, 1]  # below the median, from it, missing


def test_worst_slice_and_largest_gap_name_the_planted_slice_and_skip_small_ones() -> None:
    truth, _, head, frame = planted()
    report = slice_report(truth, head, frame, SPEC, "classification", n_boot=100, min_rows=30)
    unknown = by_name(report)["sex=unknown"]
    assert unknown["rows"] == 5 and unknown["judged"] is False
    assert unknown["metrics"]["accuracy"]["value"] == 0.0  # reported, yet not the "worst" below
    assert report["worst"]["accuracy"]["slice"] == "island=Dream"
    gap = report["largest_gap"]["accuracy"]
    assert gap["column"] == "island" and gap["worst"] == "island=Dream" and gap["gap"] > 0.2
    json.dumps(report, allow_nan=False)


def test_gate_fails_only_the_slice_that_regresses_and_does_not_judge_small_ones() -> None:
    truth, base_pred, head_pred, frame = planted()
    base = slice_report(truth, base_pred, frame, SPEC, "classification", n_boot=300, min_rows=30)
    head = slice_report(truth, head_pred, frame, SPEC, "classification", n_boot=300, min_rows=30)
    # Dream drops 35 points; each sex slice, a third of it on Dream, drops about 12: within 15.
    verdict = slice_regressions(base, head, {"accuracy": 0.15})
    assert not verdict["passed"]
    assert {f["slice"] for f in verdict["failures"]} == {"island=Dream"}
    assert "sex=unknown" in verdict["not_judged"]
    # A generous allowance passes: the rule compares with the allowed drop, not with zero.
    assert slice_regressions(base, head, {"accuracy": 0.5})["passed"]
    # Unchanged predictions never fail.
    assert slice_regressions(base, base, {"accuracy": 0.0, "f1_macro": 0.0})["passed"]


def test_gate_refuses_a_metric_the_task_does_not_have() -> None:
    truth, base_pred, _, frame = planted()
    base = slice_report(truth, base_pred, frame, SPEC, "classification", n_boot=20)
    with pytest.raises(ValueError, match="rmse"):
        slice_regressions(base, base, {"rmse": 0.1})


def test_report_deltas_flag_the_planted_slice_as_significant() -> None:
    truth, base_pred, head_pred, frame = planted()
    base = slice_report(truth, base_pred, frame, SPEC, "classification", n_boot=300)
    head = slice_report(truth, head_pred, frame, SPEC, "classification", n_boot=300)
    for deltas in (
        compare_slices(base, head),
        paired_slice_deltas(truth, base_pred, head_pred, frame, SPEC, "classification", n_boot=300),
    ):
        rows = by_name(deltas)
        dream = rows["island=Dream"]["metrics"]["accuracy"]
        assert dream["delta"] < -0.2 and dream["significant"]
        assert not rows["island=Biscoe"]["metrics"]["accuracy"]["significant"]  # identical predictions there
        json.dumps(deltas, allow_nan=False)


def test_paired_regression_deltas_cancel_shared_noise() -> None:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"island": np.repeat(["Biscoe", "Dream"], 200)})
    truth = rng.normal(size=400)
    base = truth + rng.normal(scale=1.0, size=400)
    head = base + np.where(frame["island"] == "Dream", 0.5, 0.0)  # head is worse on Dream only
    deltas = by_name(paired_slice_deltas(truth, base, head, frame, [SliceColumn("island")], "regression", n_boot=200))
    assert deltas["island=Dream"]["metrics"]["mae"]["significant"]
    assert deltas["island=Biscoe"]["metrics"]["mae"]["delta"] == 0.0
    assert not deltas["island=Biscoe"]["metrics"]["mae"]["significant"]


def test_seeded_and_stable_when_a_slice_column_is_added() -> None:
    truth, _, head, frame = planted()
    one = slice_report(truth, head, frame, [SliceColumn("island")], "classification", n_boot=50, seed=3)
    two = slice_report(truth, head, frame, SPEC, "classification", n_boot=50, seed=3)
    assert by_name(one)["island=Dream"] == by_name(two)["island=Dream"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ([SliceColumn("colour")], "'colour' is not in the test table"),
        ([SliceColumn("island", quantiles=4)], "bins need a numeric column"),
        ([SliceColumn("mass", edges=(5.0, 1.0))], "edges must increase"),
    ],
)
def test_bad_spec_names_the_column(spec: list[SliceColumn], message: str) -> None:
    truth, _, head, frame = planted()
    with pytest.raises(ValueError, match=message):
        slice_report(truth, head, frame, spec, "classification", n_boot=10)
