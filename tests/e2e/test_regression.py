"""A regression task end to end through the real pipeline (`make run` = `dvc repro` + metrics, in a temp repo).

Two files nobody tuned the gate for: the embedded diabetes data (conf/data/diabetes.yaml) and a generated
CSV taken through `make schema`. Both are judged by the relative floor only (beat DummyRegressor), so a
learnable target passes and a pure-noise target fails, each on its own merits. Both trained models are then
served by the real server; diabetes goes on to numeric feedback, `ml-gitops monitor` and batch scoring.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml

from ..helpers import BIN, ROOT, run
from ..serving.servers import AUTH
from .projects import make_run, new_project, select, serve_workspace

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def houses(path: Path, n: int = 500, seed: int = 0, noise_only: bool = False) -> Path:
    """A numeric target that depends on two numbers and a category (or, with ``noise_only``, on nothing)."""
    rng = np.random.default_rng(seed)
    area = np.round(rng.uniform(40, 200, n), 1)
    rooms = rng.integers(1, 7, n)
    town = rng.choice(["north", "south", "east"], n)
    signal = 3.0 * area + 15.0 * rooms + np.where(town == "north", 80.0, 0.0)
    price = signal + rng.normal(0, 30.0, n)
    if noise_only:  # the same values, shuffled: in range, and unrelated to the features
        price = rng.permutation(price)
    pd.DataFrame({"area": area, "rooms": rooms, "town": town, "price": np.round(price, 2)}).to_csv(path, index=False)
    return path


def test_diabetes_trains_evaluates_and_passes_the_relative_floor(tmp_path: Path) -> None:
    work = new_project(tmp_path)
    select(work, "diabetes", "ridge")
    code, out = make_run(work)
    assert code == 0, out
    metrics = json.loads((work / "reports" / "metrics.json").read_text())
    assert {"rmse", "mae", "r2", "r2_ci_low", "rmse_ci_high"} <= set(metrics) and "accuracy" not in metrics
    assert metrics["rmse_ci_low"] < metrics["rmse"] < metrics["rmse_ci_high"]
    assert metrics["baseline"]["r2"]["improvement_ci_low"] > 0.05  # well clear of the mean's R²
    assert "| rmse |" in out and "gain over baseline" in out and "gate: PASS" in out, out
    sig = json.loads((work / "models" / "signature.json").read_text())
    assert sig["task"] == "regression" and "classes" not in sig
    assert json.loads((work / "models" / "onnx.json").read_text())["usable"] is False
    predictions = pd.read_parquet(work / "reports" / "predictions.parquet")
    assert pd.api.types.is_float_dtype(predictions["predicted"]) and len(predictions) == metrics["n_test"]
    assert sorted(p.name for p in (work / "reports" / "plots").iterdir()) == [
        "importance.csv",
        "predicted_vs_actual.csv",
        "residuals.csv",
    ]
    assert (work / "reports" / "figures" / "residuals.png").is_file()
    assert json.loads((work / "reports" / "fairness.json").read_text())["note"] == "not applicable to regression"
    assert "rmse" in json.loads((work / "reports" / "slices.json").read_text())["metrics"]


def test_diabetes_is_served_monitored_and_batch_scored(tmp_path: Path) -> None:
    work = new_project(tmp_path)
    select(work, "diabetes", "ridge")
    code, out = make_run(work)
    assert code == 0, out
    data = pd.read_csv(ROOT / "src" / "ml_gitops" / "datasets" / "diabetes.csv")
    features = [c for c in data.columns if c != "progression"]
    log_url = f"sqlite:///{tmp_path / 'predictions.db'}"
    srv = serve_workspace(work, log_url)
    try:
        spec = httpx.get(srv.url + "/openapi.json").json()["components"]["schemas"]
        assert spec["Estimate"]["properties"]["prediction"]["type"] == "number" and "Prediction" not in spec
        answers = []
        for start in range(0, len(data), 40):
            batch = data.iloc[start : start + 40]
            r = httpx.post(srv.url + "/predict", json=batch[features].to_dict("records"), timeout=30)
            assert r.status_code == 200, r.text
            answers += r.json()["predictions"]
        assert all(set(a) == {"id", "prediction"} and math.isfinite(a["prediction"]) for a in answers)
        bad = httpx.post(srv.url + "/feedback", json={"prediction_id": answers[0]["id"], "label": "high"}, headers=AUTH)
        assert bad.status_code == 422 and "number" in json.dumps(bad.json()["detail"]), bad.text
        observed = data["progression"].astype(float)
        labels = [{"prediction_id": a["id"], "label": y} for a, y in zip(answers, observed, strict=True)]
        for start in range(0, len(labels), 40):
            r = httpx.post(srv.url + "/feedback", json=labels[start : start + 40], headers=AUTH, timeout=30)
            assert r.status_code == 202, r.text
    finally:
        rc, err = srv.stop()
    assert rc == 0, err

    proc = run([str(BIN / "ml-gitops"), "monitor", "run", "--workspace", "--log-url", log_url], cwd=work, check=False)
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    report = json.loads((work / "reports" / "monitor.json").read_text())
    assert report["window"]["rows"] == len(data)
    value = report["prediction"]["value"]
    assert value["test"] == "ks" and value["psi"] is not None
    perf = report["performance"]
    assert perf["n_labels"] == len(data) and perf["judged"]
    assert {"rmse", "mae", "rmse_ci_low", "mae_ci_high"} <= set(perf["metrics"]) and "limits" in perf
    assert 20 < perf["metrics"]["rmse"] < 100  # the training-time error of a ridge on diabetes (about 55)
    assert "rmse" in proc.stdout + proc.stderr

    scored = tmp_path / "scored.parquet"
    csv = tmp_path / "diabetes.csv"
    data.to_csv(csv, index=False)
    cmd = [str(BIN / "ml-gitops"), "score", "--from-workspace", "--input", str(csv), "--output", str(scored)]
    run(cmd, cwd=work)
    out_df = pd.read_parquet(scored)
    assert len(out_df) == len(data) and pd.api.types.is_float_dtype(out_df["prediction"])
    assert not any(c.startswith("proba_") for c in out_df.columns)
    served = {round(a["prediction"], 6) for a in answers[:5]}
    assert {round(v, 6) for v in out_df["prediction"].head(5)} == served  # batch and online agree


def test_a_classifier_on_a_regression_target_is_refused_in_one_line(tmp_path: Path) -> None:
    work = new_project(tmp_path)
    select(work, "diabetes", "logistic_regression")
    code, out = make_run(work)
    assert code != 0
    line = "model._target_: sklearn.linear_model.LogisticRegression is a classifier, but data.schema.task is regression"
    assert line in out and "Traceback" not in out, out


def test_a_drafted_regression_csv_passes_and_noise_fails_on_its_own_merits(tmp_path: Path) -> None:
    work = new_project(tmp_path)
    (work / "data" / "raw").mkdir(parents=True, exist_ok=True)
    houses(work / "data" / "raw" / "houses.csv")
    drafted = run(["make", "-o", ".venv/.run-deps", "schema", "DATA=data/raw/houses.csv", "NAME=houses"], cwd=work)
    assert "task regression" in drafted.stdout + drafted.stderr
    config = yaml.safe_load((work / "conf" / "data" / "houses.yaml").read_text())
    assert config["schema"]["task"] == "regression" and "gate" not in config  # no absolute floors drafted
    select(work, "houses", "ridge")
    code, out = make_run(work)
    assert code == 0 and "gate: PASS" in out, out
    srv = serve_workspace(work, f"sqlite:///{tmp_path / 'predictions.db'}")  # file -> trained -> served
    try:
        r = httpx.post(srv.url + "/predict", json={"area": 120.0, "rooms": 3, "town": "north"}, timeout=30)
    finally:
        srv.stop()
    assert r.status_code == 200, r.text
    assert 300 < r.json()["predictions"][0]["prediction"] < 700  # 3*120 + 15*3 + 80, give or take

    houses(work / "data" / "raw" / "houses.csv", noise_only=True)  # same columns and ranges, nothing to learn
    code, out = make_run(work)
    assert code != 0, out
    assert "gate: FAIL: r2: improvement over the baseline" in out, out
    assert "| r2 |" in out  # the metrics still print before the verdict's exit
