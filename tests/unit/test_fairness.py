"""Fairness: selection rates, TPR and FPR per group and their gaps, checked by hand and planted."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pandas as pd
import pytest

from ml_gitops.core.fairness import fairness_report, fairness_verdict


def hand_checked() -> tuple[np.ndarray, np.ndarray, pd.Series]:
    # group a: truth yes yes no no,          predicted yes no yes no
    #   tp=1 fn=1 fp=1 tn=1 -> selection 2/4 = 0.5, TPR 1/2 = 0.5, FPR 1/2 = 0.5
    # group b: truth yes yes yes no no no,   predicted yes yes yes yes no no
    #   tp=3 fn=0 fp=1 tn=2 -> selection 4/6 = 0.666667, TPR 3/3 = 1.0, FPR 1/3 = 0.333333
    # demographic parity difference = 0.666667 - 0.5 = 0.166667
    # TPR gap = 1.0 - 0.5 = 0.5, FPR gap = 0.5 - 0.333333 = 0.166667 -> equalized odds = 0.5
    actual = np.array(["yes", "yes", "no", "no", "yes", "yes", "yes", "no", "no", "no"])
    predicted = np.array(["yes", "no", "yes", "no", "yes", "yes", "yes", "yes", "no", "no"])
    return actual, predicted, pd.Series(["a"] * 4 + ["b"] * 6, name="sex")


def test_hand_checked_example() -> None:
    actual, predicted, groups = hand_checked()
    r = fairness_report(actual, predicted, groups, "yes", n_boot=200, min_rows=1)
    a, b = r["groups"]
    assert (a["group"], a["rows"], a["positives"]) == ("a", 4, 2)
    assert a["selection_rate"]["value"] == 0.5 and a["tpr"]["value"] == 0.5 and a["fpr"]["value"] == 0.5
    assert b["selection_rate"]["value"] == pytest.approx(0.666667)
    assert b["tpr"]["value"] == 1.0 and b["fpr"]["value"] == pytest.approx(0.333333)
    assert r["demographic_parity_difference"]["value"] == pytest.approx(0.166667)
    assert r["tpr_difference"]["value"] == 0.5
    assert r["fpr_difference"]["value"] == pytest.approx(0.166667)
    assert r["equalized_odds_difference"]["value"] == 0.5
    for rate in ("selection_rate", "tpr", "fpr"):
        assert 0.0 <= b[rate]["ci_low"] <= b[rate]["value"] <= b[rate]["ci_high"] <= 1.0
    json.dumps(r, allow_nan=False)


@pytest.mark.skipif(importlib.util.find_spec("fairlearn") is None, reason="fairlearn is not installed")
def test_agrees_with_fairlearn() -> None:
    from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference

    rng = np.random.default_rng(1)
    groups = pd.Series(rng.choice(["a", "b", "c"], 2000, p=[0.5, 0.3, 0.2]), name="sex")
    actual = rng.choice(["no", "yes"], 2000)
    predicted = np.where(rng.random(2000) < np.where(groups == "a", 0.9, 0.6), actual, rng.choice(["no", "yes"], 2000))
    r = fairness_report(actual, predicted, groups, "yes", n_boot=50, min_rows=1)
    yt, yp = (actual == "yes").astype(int), (predicted == "yes").astype(int)
    assert r["demographic_parity_difference"]["value"] == pytest.approx(
        demographic_parity_difference(yt, yp, sensitive_features=groups), abs=1e-6
    )
    assert r["equalized_odds_difference"]["value"] == pytest.approx(
        equalized_odds_difference(yt, yp, sensitive_features=groups), abs=1e-6
    )


def planted_gap(n: int = 1200) -> tuple[np.ndarray, np.ndarray, pd.Series]:
    """Group 'f' is predicted positive 30 % of the time, group 'm' 70 %, whatever the truth; 8 rows 'x'."""
    rng = np.random.default_rng(0)
    groups = pd.Series(np.where(np.arange(n) % 2 == 0, "f", "m").astype(object), name="sex")
    groups[:8] = "x"
    groups[8:12] = None
    actual = rng.choice(["Adelie", "Chinstrap", "Gentoo"], n)  # multiclass: Gentoo against the rest
    rate = np.where(groups == "m", 0.7, 0.3)
    rate[:8] = 1.0
    predicted = np.where(rng.random(n) < rate, "Gentoo", "Adelie")
    return actual, predicted, groups


def test_planted_group_gap_is_found_and_small_groups_do_not_decide() -> None:
    actual, predicted, groups = planted_gap()
    r = fairness_report(actual, predicted, groups, "Gentoo", n_boot=300, min_rows=30)
    by_group = {g["group"]: g for g in r["groups"]}
    assert set(by_group) == {"f", "m", "x", "missing"}
    assert by_group["x"]["judged"] is False and by_group["x"]["selection_rate"]["value"] == 1.0
    dpd = r["demographic_parity_difference"]
    # Only f (about 0.3) and m (about 0.7) are judged; x's 1.0 would make the difference about 0.7.
    assert 0.3 < dpd["value"] < 0.5 and dpd["ci_low"] > 0.25
    assert r["equalized_odds_difference"]["ci_low"] > 0.25  # predictions ignore the truth: TPR and FPR gaps too


def test_fairness_is_a_verdict_only_when_the_gate_sets_a_limit() -> None:
    actual, predicted, groups = planted_gap()
    r = fairness_report(actual, predicted, groups, "Gentoo", n_boot=300)
    assert fairness_verdict(r)["passed"]
    failed = fairness_verdict(r, max_demographic_parity=0.1)
    assert not failed["passed"] and failed["failures"][0]["difference"] == "demographic_parity_difference"
    assert fairness_verdict(r, max_demographic_parity=0.6, max_equalized_odds=0.6)["passed"]


def test_no_gap_when_groups_are_treated_alike() -> None:
    rng = np.random.default_rng(3)
    groups = pd.Series(rng.choice(["f", "m"], 4000), name="sex")
    actual = rng.choice(["no", "yes"], 4000)
    predicted = np.where(rng.random(4000) < 0.9, actual, np.where(actual == "yes", "no", "yes"))
    r = fairness_report(actual, predicted, groups, "yes", n_boot=300)
    assert r["demographic_parity_difference"]["value"] < 0.05
    assert fairness_verdict(r, max_demographic_parity=0.1, max_equalized_odds=0.1)["passed"]
