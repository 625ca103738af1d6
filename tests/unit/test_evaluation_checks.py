"""Issue 18 wired end to end in process: each planted case is found where a reviewer looks for it.

- a slice that regresses: the PR gate fails and names it;
- a group gap: the fairness report shows it, and the gate judges it only when a rule is set;
- conflicting labels: validate warns, or fails under `validate.consistency: fail`;
- a duplicate that leaks from train into test: evaluate's leakage report finds it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import average_precision_score, roc_auc_score

from ml_gitops.adapters import figures
from ml_gitops.adapters.io import read_json
from ml_gitops.adapters.params import compose_text
from ml_gitops.config.errors import UserError
from ml_gitops.config.settings import EvaluateSettings, GateSettings, SchemaSpec
from ml_gitops.core.metrics import Predictions
from ml_gitops.core.slices import SliceColumn, slice_report
from ml_gitops.pipeline import evaluate, gate, validate
from ml_gitops.prloop.report import Side, compare, render_markdown
from ml_gitops.registry.release import slice_table

from ..helpers import ROOT

CLASSES = ["a", "b"]


def islands(n: int = 300) -> pd.DataFrame:
    return pd.DataFrame({"island": np.repeat(["Biscoe", "Dream", "Torgersen"], n // 3)})


def predictions(truth: np.ndarray, wrong: np.ndarray) -> np.ndarray:
    return np.where(wrong, np.where(truth == "a", "b", "a"), truth)


def slices_of(frame: pd.DataFrame, truth: np.ndarray, pred: np.ndarray) -> dict:
    return slice_report(truth, pred, frame, [SliceColumn("island")], "classification", n_boot=300, min_rows=30)


def test_a_slice_that_regresses_fails_the_pr_gate_naming_it() -> None:
    frame = islands()
    rng = np.random.default_rng(0)
    truth = rng.choice(CLASSES, size=len(frame))
    base_pred = predictions(truth, rng.random(len(frame)) < 0.05)
    dream = (frame["island"] == "Dream").to_numpy()
    head_pred = predictions(truth, np.where(dream, rng.random(len(frame)) < 0.6, rng.random(len(frame)) < 0.05))
    base = Side("`base`", metrics={"accuracy": 0.95}, slices=slices_of(frame, truth, base_pred))
    head = Side("this branch", metrics={"accuracy": 0.8}, slices=slices_of(frame, truth, head_pred))
    rules = GateSettings(max_slice_regression={"accuracy": 0.1})
    c = compare(base, head, rules, EvaluateSettings())
    assert not c.gate.passed
    slice_failures = [f for f in c.gate.failures if f.startswith("slice ")]
    assert len(slice_failures) == 1 and "island=Dream" in slice_failures[0]
    md = render_markdown(c, [])
    assert "### Slices" in md and "`island=Dream`" in md  # the significant delta is shown
    # Without the rule the same change passes the slice gate, and small slices are not judged.
    assert not [f for f in compare(base, head, GateSettings(), EvaluateSettings()).gate.failures if "slice" in f]
    lax = compare(
        base, head, GateSettings(max_slice_regression={"accuracy": 0.1}, min_slice_rows=101), EvaluateSettings()
    )
    assert not [f for f in lax.gate.failures if f.startswith("slice ")]


def gap_case(n: int = 400) -> tuple[pd.DataFrame, Predictions]:
    """Group f is predicted positive far more often than group m at the same truth."""
    rng = np.random.default_rng(1)
    sex = np.repeat(["f", "m"], n // 2)
    y = rng.integers(0, 2, size=n)
    rate = np.where(sex == "f", 0.8, 0.2)
    pred = (rng.random(n) < rate).astype(int)
    proba = np.stack([1.0 - pred * 0.9 - 0.05, pred * 0.9 + 0.05], axis=1)
    p = Predictions(y, proba, CLASSES)
    assert (p.pred == pred).all()
    return pd.DataFrame({"sex": sex}), p


def test_a_group_gap_is_reported_and_judged_only_with_a_rule() -> None:
    test, p = gap_case()
    cfg = EvaluateSettings.model_validate({"fairness": {"sensitive": ["sex"]}})
    report = evaluate.fairness(test, p, cfg)
    (only,) = report["reports"]  # binary: the positive class only
    assert only["positive"] == "b"
    dpd = only["demographic_parity_difference"]
    assert dpd["value"] > 0.45 and dpd["ci_low"] > 0.4
    assert gate.check_fairness(report, GateSettings()) == []  # a report, not a verdict
    strict = GateSettings.model_validate({"fairness": {"max_demographic_parity": 0.1}})
    (failure,) = gate.check_fairness(report, strict)
    assert "demographic_parity_difference for sex" in failure


def test_multiclass_fairness_is_one_vs_rest_per_class() -> None:
    test, p = gap_case()
    p3 = Predictions(p.y, np.column_stack([p.proba * 0.9, np.full(len(p.y), 0.05)]), ["a", "b", "c"])
    report = evaluate.fairness(test, p3, EvaluateSettings.model_validate({"fairness": {"sensitive": ["sex"]}}))
    assert [r["positive"] for r in report["reports"]] == ["a", "b", "c"]


SCHEMA = {
    "target": "y",
    "columns": {
        "y": {"dtype": "category", "categories": ["a", "b"], "nullable": False},
        "x": {"dtype": "float"},
        "z": {"dtype": "float"},
    },
}


def run_validate(tmp_path: Path, df: pd.DataFrame, **consistency: str) -> dict:
    raw = yaml.safe_load(compose_text(ROOT / "conf", ["data=csv_file"]))
    raw["data"]["source"]["path"] = "data.csv"
    raw["data"]["schema"] = SCHEMA
    raw["validate"]["consistency"].update(consistency)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw, sort_keys=False))
    df.to_parquet(tmp_path / "dataset.parquet")
    out = tmp_path / "out"
    validate.main(params, tmp_path / "dataset.parquet", out / "v.parquet", out / "report.json", out / "schema.json")
    return read_json(out / "report.json")


def planted_conflict() -> pd.DataFrame:
    # Rows 2 and 4 share their features but not their label; row 5 repeats row 1 verbatim.
    return pd.DataFrame(
        {"y": ["a", "a", "b", "b", "a"], "x": [1.0, 2.0, 3.0, 2.0, 1.0], "z": [0.1, 0.5, 0.3, 0.5, 0.1]}
    )


def test_conflicting_labels_and_duplicates_warn_by_default(tmp_path: Path) -> None:
    report = run_validate(tmp_path, planted_conflict())
    assert report["passed"] is True
    found = report["consistency"]
    assert found["conflicting_labels"]["rows"] == 2 and found["conflicting_labels"]["groups"] == 1
    assert {e["row"] for e in found["conflicting_labels"]["examples"]} == {1, 3}
    assert found["duplicate_rows"]["rows"] == 1
    assert {(f["rule"], f["severity"]) for f in found["findings"]} == {
        ("conflicting_labels", "warning"),
        ("duplicate_rows", "warning"),
    }


def test_conflicting_labels_fail_under_the_fail_rule(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"conflicting_labels, 2 row\(s\).*validate.consistency") as err:
        run_validate(tmp_path, planted_conflict(), conflicting_labels="fail")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "out" / "v.parquet").exists()
    off = run_validate(tmp_path, planted_conflict(), conflicting_labels="off", duplicate_rows="off")
    assert off["consistency"] == {"findings": []}


def test_a_duplicate_that_leaks_from_train_into_test_is_reported() -> None:
    schema = SchemaSpec.model_validate(SCHEMA)
    train = pd.DataFrame({"y": ["a", "b", "a"], "x": [1.0, 2.0, 3.0], "z": [0.1, 0.2, 0.3]})
    test = pd.DataFrame({"y": ["b", "a"], "x": [9.0, 2.0], "z": [0.9, 0.2]})  # test row 1 is train row 1
    leak = evaluate.leakage(train, test, schema, max_examples=5)
    assert leak["rows"] == 1 and leak["test_rows"] == 2
    assert leak["examples"][0]["row"] == 1 and leak["examples"][0]["train_row"] == 1


def test_a_slice_column_the_test_split_lacks_is_one_line_naming_the_key() -> None:
    cfg = EvaluateSettings.model_validate({"slices": {"columns": [{"column": "nope"}]}})
    with pytest.raises(
        UserError, match=r"^evaluate.slices.columns\[0\].column: column 'nope' is not in the test split"
    ):
        evaluate.check_columns(pd.DataFrame({"x": [1]}), cfg)


def test_calibration_plot_data_has_quantile_bins_counts_and_a_note_when_small() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, size=69)
    score = np.clip(y * 0.7 + rng.random(69) * 0.3, 0, 1)
    p = Predictions(y, np.column_stack([1 - score, score]), CLASSES)
    (table,) = figures.calibration(p, 10).values()
    assert list(table.columns) == ["predicted", "observed", "count", "ci_low", "ci_high"]
    assert table["count"].min() >= 10 and table["count"].sum() == 69
    assert (table["ci_low"] <= table["observed"]).all() and (table["observed"] <= table["ci_high"]).all()
    assert "instead of 10" in table.attrs["note"]
    tiny = Predictions(y[:15], p.proba[:15], CLASSES)
    (none,) = figures.calibration(tiny, 10).values()
    assert none.empty and "too few to judge" in none.attrs["note"]


def test_curve_legends_carry_auc_and_average_precision() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, size=200)
    score = np.clip(y * 0.3 + rng.random(200) * 0.7, 0, 1)
    p = Predictions(y, np.column_stack([1 - score, score]), CLASSES)
    auc = figures.area(figures.roc(p), "fpr", "tpr")["b"]
    ap = figures.area(figures.precision_recall(p), "recall", "precision")["b"]
    assert auc == pytest.approx(roc_auc_score(y, score), abs=1e-4)
    assert ap == pytest.approx(average_precision_score(y, score), abs=1e-4)


def test_the_model_card_carries_the_slice_table() -> None:
    frame = islands(90)
    truth = np.array(["a", "b"] * 45)
    table = slice_table(slices_of(frame, truth, truth))
    text = "\n".join(table)
    assert "## Metrics per slice" in text
    assert "| island=Dream | 30 | 1.0000 [1.0000, 1.0000]" in text
    assert slice_table(None) == []
