"""Serving a regressor in process: preflight and load accept its signature, /predict answers the value,
the log keeps repr(value) with no probabilities, feedback must be a number, and batch scoring writes floats."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from ml_gitops.adapters.persistence import save_model
from ml_gitops.adapters.predlog import PredictionLog
from ml_gitops.config.errors import UserError
from ml_gitops.config.serve import ServeSettings
from ml_gitops.registry.bundle import open_bundle, write_manifest
from ml_gitops.serving import batch
from ml_gitops.serving.app import create_app
from ml_gitops.serving.model import load, preflight

from .servers import AUTH, FEEDBACK_ENV, FEEDBACK_TOKEN

SIG = {
    "target": "price",
    "task": "regression",
    "features": {
        "area": {"dtype": "float", "min": 0.0, "max": 500.0},
        "town": {"dtype": "category", "categories": ["north", "south"]},
    },
    "feature_order": ["area", "town"],
}


def _bundle(root: Path, sig: dict = SIG) -> Path:
    x = pd.DataFrame({"area": [50.0, 100.0, 150.0, 200.0], "town": ["north", "south", "north", "south"]})
    y = 3 * x["area"] + np.where(x["town"] == "north", 80.0, 0.0)
    pre = ColumnTransformer([("num", "passthrough", ["area"]), ("cat", OneHotEncoder(), ["town"])])
    model = Pipeline([("pre", pre), ("model", Ridge(alpha=1e-6))]).fit(x, y)
    root.mkdir(parents=True, exist_ok=True)
    save_model(model, root / "model.skops")
    (root / "signature.json").write_text(json.dumps(sig))
    (root / "onnx.json").write_text(json.dumps({"format": "onnx", "usable": False, "reason": "a regressor"}))
    write_manifest(root, {"model": "houses", "version": "v1"})
    return root


def test_load_serves_values_through_the_pipeline(tmp_path: Path) -> None:
    served = load(preflight(_bundle(tmp_path / "b")), ServeSettings())
    assert served.task == "regression" and served.classes == [] and served.runtime == "sklearn"
    assert "not used for regressors" in served.reason
    values = served.predict_records([{"area": 100.0, "town": "north"}, {"area": 100.0, "town": "south"}])
    assert values.shape == (2,) and values == pytest.approx([380.0, 300.0], abs=0.5)


def test_a_classifier_signature_without_classes_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="needs 'classes'"):
        preflight(_bundle(tmp_path / "b", {**SIG, "task": "classification"}))


def test_predict_answers_the_value_and_feedback_must_be_a_number(tmp_path: Path) -> None:
    log_url = f"sqlite:///{tmp_path / 'log.db'}"
    cfg = ServeSettings.model_validate({"log_url": log_url, "log_flush_seconds": 0.05})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(FEEDBACK_ENV, FEEDBACK_TOKEN)
        app = create_app(open_bundle(_bundle(tmp_path / "b")), cfg)
        with TestClient(app) as client:
            for _ in range(600):  # the model loads on a background thread
                if client.get("/ready").status_code == 200:
                    break
                time.sleep(0.05)
            r = client.post("/predict", json=[{"area": 100.0, "town": "north"}])
            assert r.status_code == 200, r.text
            [answer] = r.json()["predictions"]
            assert set(answer) == {"id", "prediction"} and answer["prediction"] == pytest.approx(380.0, abs=0.5)
            schema = client.get("/openapi.json").json()["components"]["schemas"]
            assert schema["Estimate"]["properties"]["prediction"]["type"] == "number"
            assert schema["Feedback"]["properties"]["label"]["type"] == "number"
            bad = client.post("/feedback", json={"prediction_id": answer["id"], "label": "high"}, headers=AUTH)
            assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "label"], bad.text
            ok = client.post("/feedback", json={"prediction_id": answer["id"], "label": 390}, headers=AUTH)
            assert ok.status_code == 202, ok.text
    rows = PredictionLog(log_url).read_window(with_feedback=True)
    assert rows["probabilities"].tolist() == ["{}"]
    assert float(rows["prediction"][0]) == pytest.approx(answer["prediction"]) and rows["label"][0] == "390.0"


def test_batch_score_writes_the_value_column(tmp_path: Path) -> None:
    served = load(preflight(_bundle(tmp_path / "b")), ServeSettings())
    src = tmp_path / "in.csv"
    src.write_text("area,town,id\n100,north,a\n100,south,b\n-5,north,c\n")
    out, rej = tmp_path / "out.parquet", tmp_path / "rej.parquet"
    summary = batch.score(served, src, out, rej, batch_rows=2, show_progress=False)
    assert (summary.scored, summary.rejected) == (2, 1)
    df = pd.read_parquet(out)
    assert pd.api.types.is_float_dtype(df["prediction"]) and not any(c.startswith("proba_") for c in df.columns)
    assert df["prediction"].tolist() == pytest.approx([380.0, 300.0], abs=0.5) and df["id"].tolist() == ["a", "b"]
