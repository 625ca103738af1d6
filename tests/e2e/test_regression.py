"""A regression task end to end through the real pipeline (`make run` = `dvc repro` + metrics, in a temp repo).

Two files nobody tuned the gate for: the embedded diabetes data (conf/data/diabetes.yaml) and a generated
CSV taken through `make schema`. Both are judged by the relative floor only (beat DummyRegressor), so a
learnable target passes and a pure-noise target fails, each on its own merits.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ..helpers import ROOT, commit_all, copy_project, init_repo, run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _project(base: Path) -> Path:
    work = copy_project(base / "work")
    init_repo(work, base / "origin.git", base / "dvc-remote")
    (work / ".venv").symlink_to(ROOT / ".venv")
    return work


def _select(work: Path, data: str, model: str) -> None:
    """Choose the data and model in conf/config.yaml, as the README says."""
    conf = work / "conf" / "config.yaml"
    text = conf.read_text().replace("  - data: penguins\n", f"  - data: {data}\n")
    conf.write_text(text.replace("  - model: logistic_regression\n", f"  - model: {model}\n"))
    run(["make", "-o", ".venv/.run-deps", "params"], cwd=work)
    commit_all(work, f"select {data} + {model}")


def _make_run(work: Path) -> tuple[int, str]:
    proc = run(["make", "-o", ".venv/.run-deps", "run"], cwd=work, check=False)
    return proc.returncode, proc.stdout + proc.stderr


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
    work = _project(tmp_path)
    _select(work, "diabetes", "ridge")
    code, out = _make_run(work)
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


def test_a_classifier_on_a_regression_target_is_refused_in_one_line(tmp_path: Path) -> None:
    work = _project(tmp_path)
    _select(work, "diabetes", "logistic_regression")
    code, out = _make_run(work)
    assert code != 0
    line = "model._target_: sklearn.linear_model.LogisticRegression is a classifier, but data.schema.task is regression"
    assert line in out and "Traceback" not in out, out


def test_a_drafted_regression_csv_passes_and_noise_fails_on_its_own_merits(tmp_path: Path) -> None:
    work = _project(tmp_path)
    (work / "data" / "raw").mkdir(parents=True, exist_ok=True)
    houses(work / "data" / "raw" / "houses.csv")
    drafted = run(["make", "-o", ".venv/.run-deps", "schema", "DATA=data/raw/houses.csv", "NAME=houses"], cwd=work)
    assert "task regression" in drafted.stdout + drafted.stderr
    config = yaml.safe_load((work / "conf" / "data" / "houses.yaml").read_text())
    assert config["schema"]["task"] == "regression" and "gate" not in config  # no absolute floors drafted
    _select(work, "houses", "ridge")
    code, out = _make_run(work)
    assert code == 0 and "gate: PASS" in out, out

    houses(work / "data" / "raw" / "houses.csv", noise_only=True)  # same columns and ranges, nothing to learn
    code, out = _make_run(work)
    assert code != 0, out
    assert "gate: FAIL: r2: improvement over the baseline" in out, out
    assert "| r2 |" in out  # the metrics still print before the verdict's exit
