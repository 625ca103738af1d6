"""The report's pure core on synthetic predictions: verdicts, intervals, gate rules, edge cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ml_gitops.config import paths
from ml_gitops.config.settings import EvaluateSettings, GateSettings
from ml_gitops.core.metrics import METRICS, Predictions
from ml_gitops.core.predictions import predictions_frame
from ml_gitops.pipeline.evaluate import evaluate
from ml_gitops.prloop.report import Side, compare, draw_plots, render_markdown, to_json

CLASSES = ["a", "b", "c"]
N = 150
CFG = EvaluateSettings(n_bootstrap=300, seed=0)
GATE = GateSettings(
    floors={"accuracy": 0.5, "roc_auc": 0.6},
    max_regression={"accuracy": 0.02, "balanced_accuracy": 0.02, "log_loss": 0.05},
)
TEST_MD5 = "0" * 32


def predictions(flip: float, seed: int = 1) -> Predictions:
    """A confident classifier whose answer is wrong on a ``flip`` fraction of rows."""
    rng = np.random.default_rng(seed)
    y = np.arange(N) % 3
    wrong = rng.random(N) < flip
    pred = np.where(wrong, (y + 1) % 3, y)
    proba = np.full((N, 3), 0.05)
    proba[np.arange(N), pred] = 0.9
    return Predictions(y, proba, CLASSES)


def side(p: Predictions | None, label: str = "this branch", test_md5: str = TEST_MD5, **kw) -> Side:
    if p is None:
        return Side(label=label, predictions_note="the base has no metrics", **kw)
    return Side(
        label=label,
        metrics=evaluate(p, CFG),
        predictions=predictions_frame(p),
        lock={paths.TEST.as_posix(): test_md5, "data/processed/train.parquet": "1" * 32},
        **kw,
    )


def rows(c):
    return {r.name: r for r in c.rows}


def test_identical_models_are_unchanged_and_pass():
    p = predictions(0.1)
    c = compare(side(p, "`base`"), side(p), GATE, CFG)
    assert c.paired
    for r in c.rows:
        assert r.delta == 0 and r.ci == (0.0, 0.0) and r.status == "unchanged"
    assert c.gate.passed and "2 floor(s) met" in c.gate.line


def test_a_clearly_worse_model_is_worse_with_an_interval_below_zero_and_fails():
    c = compare(side(predictions(0.0), "`base`"), side(predictions(0.2)), GATE, CFG)
    acc = rows(c)["accuracy"]
    assert acc.base == 1.0 and acc.delta < -0.1
    assert acc.ci[0] <= acc.delta <= acc.ci[1] < 0
    assert acc.status == "worse"
    # log_loss rises: lower is better, so that is "worse" too (the sign flips).
    ll = rows(c)["log_loss"]
    assert ll.delta > 0 and ll.ci[0] > 0 and ll.status == "worse"
    assert not c.gate.passed
    assert any(f.startswith("accuracy worse by") and "excludes 0" in f for f in c.gate.failures)
    assert any(f.startswith("log_loss worse by") for f in c.gate.failures)
    assert c.gate.line.startswith("FAIL: ")


def test_a_better_model_is_better_and_passes():
    c = compare(side(predictions(0.2), "`base`"), side(predictions(0.0)), GATE, CFG)
    assert rows(c)["accuracy"].status == "better" and rows(c)["log_loss"].status == "better"
    assert c.gate.passed


def test_a_drop_within_noise_is_not_counted():
    base = predictions(0.10)
    # One more wrong row out of 150: a drop of 0.0067 > the 0.005 allowed, but its interval includes 0.
    y, proba = base.y, base.proba.copy()
    first_right = np.flatnonzero(proba.argmax(1) == y)[0]
    proba[first_right] = np.roll(proba[first_right], 1)
    strict = GateSettings(floors={}, max_regression={"accuracy": 0.005})
    c = compare(side(base, "`base`"), side(Predictions(y, proba, CLASSES)), strict, CFG)
    acc = rows(c)["accuracy"]
    assert acc.delta == pytest.approx(-1 / N, abs=1e-6)
    assert acc.ci[0] < 0 <= acc.ci[1] and acc.status == "no significant change"
    assert c.gate.passed
    assert c.gate.notes == ["accuracy worse by 0.0067 but its interval includes 0, not counted"]


def test_changed_test_set_claims_no_significance():
    base = side(predictions(0.0), "`base`", test_md5="a" * 32)
    c = compare(base, side(predictions(0.2), test_md5="b" * 32), GATE, CFG)
    assert not c.paired
    assert "test set changed" in c.pairing_note and "not claimed significant" in c.pairing_note
    acc = rows(c)["accuracy"]
    assert acc.delta < -0.1 and acc.ci is None and acc.status.startswith("no interval: the test set changed")
    # Floors still hold; the unverifiable drop is noted, not counted.
    assert c.gate.passed
    assert any("no paired interval, not counted" in n for n in c.gate.notes)
    assert "the test set changed" in render_markdown(c, [])


def test_same_hash_but_different_rows_is_caught_from_the_labels():
    b = predictions(0.0)
    shifted = Predictions(np.roll(b.y, 1), b.proba, CLASSES)
    c = compare(side(b, "`base`"), side(shifted), GATE, CFG)
    assert not c.paired and "labels differ" in c.pairing_note


def test_first_pr_without_base_metrics_renders_and_checks_floors_only():
    c = compare(side(None, "`base`"), side(predictions(0.1)), GATE, CFG)
    assert all(r.base is None and r.status == "new (the base has no metrics)" for r in c.rows)
    assert [r.name for r in c.rows] == list(METRICS)
    assert c.gate.passed and any("no base value" in n for n in c.gate.notes)
    md = render_markdown(c, [])
    assert "The base has no metrics yet" in md and "| accuracy ↑ | — |" in md


def test_first_pr_below_a_floor_fails():
    c = compare(side(None, "`base`"), side(predictions(0.6)), GATE, CFG)
    assert not c.gate.passed and c.gate.failures[0].startswith("accuracy = 0.")


def test_a_metric_on_one_side_only():
    p = predictions(0.1)
    base, head = side(p, "`base`"), side(p)
    base.metrics["old_metric"] = 0.5
    head.metrics["new_metric"] = 0.7
    del head.metrics["roc_auc"]
    c = compare(base, head, GATE, CFG)
    r = rows(c)
    assert r["old_metric"].status == "only on the base" and r["old_metric"].head is None
    assert r["new_metric"].status == "only on this branch" and r["new_metric"].base is None
    # A floor metric missing on this branch fails the gate, by name.
    assert any(f.startswith("roc_auc is missing") for f in c.gate.failures)
    md = render_markdown(c, [])
    assert "| new_metric ↑ | — | 0.7000 |" in md and "| old_metric ↑ | 0.5000 | — |" in md
    assert to_json(c)["metrics"]["new_metric"]["base"] is None


def test_params_and_data_sections():
    p = predictions(0.1)
    base = side(p, "`base`", validation={"passed": True, "rows": 300, "errors": 0, "warnings": 0})
    head = Side(
        label="this branch",
        metrics=base.metrics,
        predictions=base.predictions,
        lock={**base.lock, "data/processed/train.parquet": "2" * 32, "src/x.py": "3" * 32},
        validation={"passed": False, "rows": 310, "errors": 2, "warnings": 0, "violations": [{"column": "x"}]},
    )
    c = compare(base, head, GATE, CFG, params=[("model.C", 1.0, 0.5), ("split.seed", 42, 42)])
    md = render_markdown(c, [])
    assert "| `model.C` | `1.0` | `0.5` |" in md and "split.seed" not in md
    assert "| `data/processed/train.parquet` | `11111111` | `22222222` |" in md
    assert "src/x.py" not in md  # code is not data
    assert "| rows | 300 | 310 |" in md and "| passed | yes | no |" in md and "- column: x" in md
    none = compare(base, head, GATE, CFG, params=None, params_note="dvc params diff failed: boom")
    assert "_Not available: dvc params diff failed: boom_" in render_markdown(none, [])


def test_plots_side_by_side_also_with_one_side_missing(tmp_path: Path):
    confusion = "actual,predicted\na,a\nb,c\nc,c\n"
    roc = "fpr,tpr\n0.0,0.0\n0.0,1.0\n1.0,1.0\n"
    head = {"confusion.csv": confusion, "roc/a.csv": roc, "precision_recall/a.csv": "recall,precision\n1.0,0.5\n"}
    written = draw_plots({}, head, "abc1234", tmp_path)
    assert [w.name for w in written] == ["confusion.png", "roc.png", "precision_recall.png"]
    assert all(w.read_bytes().startswith(b"\x89PNG") for w in written)
    assert draw_plots({}, {}, "abc1234", tmp_path / "none") == []


@pytest.mark.parametrize("url", [None, "https://github.com/o/r/actions/runs/1"])
def test_figures_are_embedded_locally_and_linked_in_ci(url):
    p = predictions(0.1)
    c = compare(side(p, "`base`"), side(p), GATE, CFG)
    md = render_markdown(c, ["pr/confusion.png"], url)
    if url:
        assert f"[this workflow run]({url})" in md and "![" not in md
    else:
        assert "![confusion: base base | this branch](pr/confusion.png)" in md


def test_a_pr_that_changes_the_gate_rules_says_so():
    p = predictions(0.1)
    c = compare(side(p, "`base`"), side(p), GATE, CFG, params=[("gate.max_regression.accuracy", 0.02, 0.5)])
    assert "this PR changes the gate's own rules (`gate.max_regression.accuracy`)" in render_markdown(c, [])
    c = compare(side(p, "`base`"), side(p), GATE, CFG, params=[("model.C", 1.0, 0.5)])
    assert "gate's own rules" not in render_markdown(c, [])
