"""The estimator is config: `_target_` in conf/model/*.yaml, any scikit-learn-compatible class."""

from pathlib import Path

import pytest
import yaml

from ml_gitops.adapters.onnx_export import export
from ml_gitops.adapters.persistence import load_model, save_model
from ml_gitops.adapters.sources import load
from ml_gitops.config.errors import UserError
from ml_gitops.config.settings import parse_settings
from ml_gitops.pipeline.train import train
from ml_gitops.pipeline.validate import validate

from ..helpers import ROOT


def settings_with(settings_dict: dict, model: dict):
    raw = {**settings_dict, "data": yaml.safe_load((ROOT / "conf/data/synthetic.yaml").read_text())}
    raw["data"]["source"].update(n_rows=1500, batch_rows=1000)
    return parse_settings({**raw, "model": model})


def test_lightgbm_from_its_config_trains_saves_loads_and_predicts(settings_dict: dict, tmp_path: Path) -> None:
    pytest.importorskip("lightgbm")
    model = yaml.safe_load((ROOT / "conf/model/lightgbm.yaml").read_text())
    s = settings_with(settings_dict, model)
    frame, _ = validate(load(s.data), s.data)
    pipe, summary = train(frame, s)
    assert type(pipe.named_steps["model"]).__module__.startswith("lightgbm")
    assert pipe.named_steps["model"].get_params()["random_state"] == s.train.seed
    save_model(pipe, tmp_path / "m.skops", trusted=s.model.trusted_types)
    x = frame[s.data.schema_.feature_columns].head(50)
    loaded = load_model(tmp_path / "m.skops", trusted=s.model.trusted_types)
    assert (loaded.predict_proba(x) == pipe.predict_proba(x)).all() and summary["model"] == "lightgbm"
    with pytest.raises(UserError, match="refusing to load untrusted type"):
        load_model(tmp_path / "m.skops")  # without the config's list, skops' default refuses it
    # skl2onnx cannot convert it: recorded as not usable, not a crash.
    sig = {"features": {c: s.data.schema_.columns[c].model_dump() for c in s.data.schema_.feature_columns}}
    sig |= {"classes": summary["classes"], "target": s.data.schema_.target}
    data, report = export(pipe, sig, frame, 1e-6, 50, 0)
    assert data == b"" and report["usable"] is False and "conversion failed" in report["reason"]


def test_save_refuses_types_the_config_does_not_trust(settings_dict: dict, tmp_path: Path) -> None:
    pytest.importorskip("lightgbm")
    model = {k: v for k, v in yaml.safe_load((ROOT / "conf/model/lightgbm.yaml").read_text()).items()}
    model.pop("trusted_types")
    s = settings_with(settings_dict, model)
    frame, _ = validate(load(s.data), s.data)
    pipe, _ = train(frame, s)
    with pytest.raises(UserError, match="model.trusted_types: .*lightgbm"):
        save_model(pipe, tmp_path / "m.skops")
    assert not (tmp_path / "m.skops").exists()


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"name": "x", "_target_": "sklearn.linear_model.Nope"}, r"^params\.yaml: model\._target_: cannot import"),
        ({"name": "x", "_target_": "nowhere.Model"}, r"^params\.yaml: model\._target_: cannot import"),
        (
            {"name": "x", "_target_": "sklearn.linear_model.LogisticRegression", "CC": 1},
            r"^params\.yaml: model\.CC: .*no argument",
        ),
    ],
)
def test_a_bad_target_or_argument_is_one_line_naming_the_key(settings_dict: dict, model: dict, message: str) -> None:
    """Checked where the model is built (train, `params check`); loading settings does not import it."""
    s = settings_with(settings_dict, model)
    with pytest.raises(UserError, match=message) as exc:
        s.model.estimator_class()
    assert "\n" not in str(exc.value)
    frame, _ = validate(load(s.data), s.data)
    with pytest.raises(UserError, match=message):
        train(frame, s)
