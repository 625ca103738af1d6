"""Each stage's pure core on small in-memory data."""

from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd
import pytest

from ml_gitops.adapters.persistence import load_model, save_model
from ml_gitops.adapters.sources import load, synthetic_batches
from ml_gitops.config.errors import GateFailure, UserError
from ml_gitops.config.settings import GateSettings, SplitSettings, parse_settings
from ml_gitops.pipeline.gate import check_floors
from ml_gitops.pipeline.split import split
from ml_gitops.pipeline.train import train
from ml_gitops.pipeline.validate import validate

from ..helpers import ROOT


@pytest.fixture
def settings(settings_dict: dict, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(ROOT)
    return parse_settings(settings_dict)


def synthetic_settings(settings_dict: dict, n: int = 2000):
    import yaml

    raw = copy.deepcopy(settings_dict)
    raw["data"] = yaml.safe_load((ROOT / "conf/data/synthetic.yaml").read_text())
    raw["data"]["source"]["n_rows"] = n
    raw["data"]["source"]["batch_rows"] = 1000
    return parse_settings(raw)


def test_embedded_data_has_numeric_categorical_and_missing(settings) -> None:
    df = load(settings.data)
    assert len(df) == 344
    _frame, report = validate(df, settings.data)
    assert report["passed"] and report["missing"]["sex"] == 11
    assert set(report["class_counts"]) == {"Adelie", "Chinstrap", "Gentoo"}


def test_synthetic_source_is_seeded_batched_and_valid(settings_dict: dict) -> None:
    s = synthetic_settings(settings_dict, 2500)
    a = pd.concat(synthetic_batches(s.data.source, s.data.schema_), ignore_index=True)
    b = load(s.data)
    assert len(a) == 2500 and a.equals(b)
    assert [len(f) for f in synthetic_batches(s.data.source, s.data.schema_)] == [1000, 1000, 500]
    _, report = validate(a, s.data)
    assert report["passed"] and sum(report["missing"].values()) > 0


def test_split_is_stratified_and_seeded(settings) -> None:
    frame, _ = validate(load(settings.data), settings.data)
    tr, te = split(frame, "species", SplitSettings(test_size=0.25, seed=1))
    _tr2, te2 = split(frame, "species", SplitSettings(test_size=0.25, seed=1))
    assert te.equals(te2) and len(tr) + len(te) == len(frame)
    share = frame["species"].value_counts(normalize=True)
    assert (te["species"].value_counts(normalize=True) - share).abs().max() < 0.03


def test_split_refuses_a_singleton_class(settings) -> None:
    df = pd.DataFrame({"y": ["a"] * 10 + ["b"], "x": range(11)})
    with pytest.raises(UserError, match="class 'b' of 'y' has 1 row"):
        split(df, "y", SplitSettings())


@pytest.mark.parametrize(
    "model",
    [
        {"name": "logistic_regression", "_target_": "sklearn.linear_model.LogisticRegression"},
        {"name": "random_forest", "_target_": "sklearn.ensemble.RandomForestClassifier", "n_estimators": 20},
        {
            "name": "hist_gradient_boosting",
            "_target_": "sklearn.ensemble.HistGradientBoostingClassifier",
            "max_iter": 20,
        },
    ],
)
def test_every_model_family_trains_saves_and_loads(settings_dict: dict, tmp_path: Path, model: dict) -> None:
    s = parse_settings(
        {
            **synthetic_settings(settings_dict).model_dump(by_alias=True, exclude={"extra_groups"}),
            "model": model,
        }
    )
    df = load(s.data)
    frame, _ = validate(df, s.data)
    pipe, summary = train(frame, s)
    save_model(pipe, tmp_path / "m.skops")
    loaded = load_model(tmp_path / "m.skops")
    x = frame[s.data.schema_.feature_columns].head(50)
    assert (loaded.predict_proba(x) == pipe.predict_proba(x)).all()
    assert summary["rows"] == len(frame)
    # Through pickle (Hydra launchers) equal scalars stop being one
    # object; the saved bytes must not notice.
    import pickle

    from ml_gitops.adapters.persistence import model_bytes

    assert model_bytes(pickle.loads(pickle.dumps(pipe))) == model_bytes(pipe)


def test_train_samples_above_max_rows(settings_dict: dict) -> None:
    raw = synthetic_settings(settings_dict, 3000).model_dump(by_alias=True, exclude={"extra_groups"})
    raw["train"]["max_rows"] = 1000
    s = parse_settings(raw)
    frame, _ = validate(load(s.data), s.data)
    _, summary = train(frame, s)
    assert 990 <= summary["rows"] <= 1010


def test_model_loader_refuses_untrusted_types(tmp_path: Path, settings) -> None:
    import os

    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    evil = tmp_path / "evil.skops"
    sio.dump(FunctionTransformer(func=os.system), evil)  # the classic "run a command on load" payload
    with pytest.raises(UserError, match="refusing to load untrusted type.*os.system|posix.system"):
        load_model(evil)
    (tmp_path / "junk.skops").write_bytes(b"not a zip")
    with pytest.raises(UserError, match="not a readable skops model"):
        load_model(tmp_path / "junk.skops")


def test_gate_floors() -> None:
    gate = GateSettings(floors={"accuracy": 0.9, "log_loss": 0.5})
    assert check_floors({"accuracy": 0.95, "log_loss": 0.2}, gate) == []
    fails = check_floors({"accuracy": 0.85, "log_loss": 0.7}, gate)
    assert fails == ["accuracy = 0.8500 < floor 0.9000", "log_loss = 0.7000 > floor 0.5000"]
    with pytest.raises(UserError, match="gate.floors.accuracy"):
        check_floors({}, gate)
    assert issubclass(GateFailure, UserError) and GateFailure.exit_code == 1


def test_permutation_importance_ranks_the_signal_above_noise(settings_dict: dict) -> None:
    """Shuffling the column the label depends on costs accuracy; shuffling pure noise does not."""
    import numpy as np

    from ml_gitops.pipeline.evaluate import importance, predict

    s = synthetic_settings(settings_dict, 3000)
    frame, _ = validate(load(s.data), s.data)
    rng = np.random.default_rng(0)
    frame["num_0"] = rng.normal(size=len(frame))  # label below depends on num_0 only
    frame["label"] = np.where(frame["num_0"].to_numpy() > 0, "yes", "no")
    tr, te = split(frame, "label", s.split)
    model, _ = train(tr, s)
    p = predict(model, te, s.data.schema_)
    cfg = s.evaluate.model_copy(update={"importance_max_rows": 400})
    imp = importance(model, te, p, s.data.schema_, cfg).set_index("feature")
    assert list(imp.index) == s.data.schema_.feature_columns
    assert imp.loc["num_0", "importance"] > 0.3
    assert (imp.drop(index="num_0")["importance"].abs() < 0.05).all()
    assert (imp["std"] >= 0).all()
    # Seeded: the same numbers again.
    pd.testing.assert_frame_equal(imp, importance(model, te, p, s.data.schema_, cfg).set_index("feature"))


def test_evaluate_scores_through_onnx_when_the_export_is_usable(settings, tmp_path: Path) -> None:
    """The ONNX runtime (as serving uses it) gives the Pipeline's metrics; a failed export falls back
    to skops, and `evaluate.runtime: onnx` refuses it naming the report."""
    import json

    from ml_gitops.adapters.onnx_export import write_export
    from ml_gitops.config.onnx import onnx_settings
    from ml_gitops.core.schema import signature
    from ml_gitops.pipeline.evaluate import evaluate, load_scorer, predict

    frame, _ = validate(load(settings.data), settings.data)
    tr, te = split(frame, settings.data.schema_.target, settings.split)
    model, summary = train(tr, settings)
    sig = {**signature(settings.data.schema_), "classes": summary["classes"]}
    names = {"skops": "m.skops", "onnx": "m.onnx", "report": "o.json", "sig": "s.json"}
    files = {k: tmp_path / v for k, v in names.items()}
    save_model(model, files["skops"])
    files["sig"].write_text(json.dumps(sig))
    write_export(model, sig, tr, onnx_settings(settings), files["onnx"], files["report"])
    args = (files["skops"], files["onnx"], files["report"], files["sig"], 1)

    onnx_model, runtime = load_scorer("auto", *args)
    sk_model, sk_runtime = load_scorer("sklearn", *args)
    assert (runtime, sk_runtime) == ("onnx", "sklearn")
    assert not hasattr(onnx_model, "steps")  # not the Pipeline: no scikit-learn needed to score
    schema, cfg = settings.data.schema_, settings.evaluate
    assert evaluate(predict(onnx_model, te, schema), cfg) == evaluate(predict(sk_model, te, schema), cfg)

    files["report"].write_text(json.dumps({"usable": False, "reason": "conversion failed: test"}))
    assert load_scorer("auto", *args)[1] == "sklearn"
    with pytest.raises(UserError, match=r"evaluate.runtime: onnx, but .*o.json says the export is not usable"):
        load_scorer("onnx", *args)
