"""Bad input gets one clear line naming the culprit, a non-zero exit, and loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from ..helpers import env, run, run_main, snapshot

pytestmark = pytest.mark.e2e
GOOD = [
    "data/processed/dataset.parquet",
    "data/processed/validated.parquet",
    "data/processed/train.parquet",
    "data/processed/test.parquet",
    "models/model.skops",
    "reports/metrics.json",
    "reports/gate.json",
]
HEADER = "species,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex,year"
ROW = "Adelie,Torgersen,39.1,18.7,181,3750,male,2007"


def _with_source(repo: Path, text: str) -> None:
    """Point the pipeline at a new CSV, the way a user would: conf/ then params."""
    (repo / "data/raw").mkdir(parents=True, exist_ok=True)
    (repo / "data/raw/input.csv").write_text(text)
    conf = repo / "conf/data/penguins.yaml"
    conf.write_text(conf.read_text().replace("src/ml_gitops/datasets/penguins.csv", "data/raw/input.csv"))
    run(["ml-gitops", "params", "sync"], cwd=repo)


CASES = {
    "empty file": ("", "file is empty"),
    "header only": (HEADER + "\n", "no data rows"),
    "wrong delimiter": ((HEADER + "\n" + ROW + "\n").replace(",", ";"), "';'-delimited"),
    "missing column": (
        HEADER.replace(",year", "") + "\n" + ROW.rsplit(",", 1)[0] + "\n",
        "column 'year': missing_column",
    ),
    "extra column": (HEADER + ",colour\n" + ROW + ",red\n", "column 'colour': extra_column"),
    "wrong dtype": (
        HEADER + "\n" + ROW.replace("39.1", "long") + "\n",
        "column 'bill_length_mm': dtype, 1 row(s)",
    ),
    "NaN in target": (
        HEADER + "\n" + ROW + "\n" + ROW.replace("Adelie", "NA") + "\n",
        "column 'species': null, 1 row(s)",
    ),
    "label never seen": (
        HEADER + "\n" + ROW.replace("Adelie", "Emperor") + "\n",
        "column 'species': category, 1 row(s)",
    ),
}


# Two cases guard the main path in `make test`: a file ingest refuses and one validate refuses. The rest
# (a `dvc repro` each, ~8 s) run in `make test-all`; validate's rules themselves are unit tests (test_schema.py).
FAST_CASES = {"empty file", "label never seen"}


@pytest.mark.parametrize("case", [c if c in FAST_CASES else pytest.param(c, marks=pytest.mark.slow) for c in CASES])
def test_bad_data_is_refused_and_keeps_outputs(repo: Path, case: str) -> None:
    text, expected = CASES[case]
    before = snapshot(repo, GOOD)
    _with_source(repo, text)
    proc = run(["dvc", "repro"], cwd=repo, check=False)
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("ml-gitops")]
    assert len(errors) == 1, proc.stderr
    assert "data/raw/input.csv" in errors[0] and expected in errors[0], errors[0]
    after = snapshot(repo, GOOD)
    # ingest may store the new raw file; every validated and downstream output is untouched
    assert {k: v for k, v in after.items() if "dataset" not in k} == {
        k: v for k, v in before.items() if "dataset" not in k
    }


CONFIG_CASES = {
    "unknown config key": (
        "split",
        {"test_size": 0.2, "seed": 42, "stratify": True, "shuffle": True},
        "split.shuffle: unknown config key",
    ),
    "wrong config type": (
        "split",
        {"test_size": "a fifth", "seed": 42, "stratify": True},
        "split.test_size: Input should be a valid number",
    ),
    "out-of-range config value": (
        "split",
        {"test_size": 1.5, "seed": 42, "stratify": True},
        "split.test_size: Input should be less than 1",
    ),
    "unknown top-level group": ("colour", {"a": 1}, "unknown config key 'colour'"),
    "unknown model": (
        "model",
        {"name": "svm", "_target_": "sklearn.svm.Nope"},
        "bad-params.yaml: model._target_: cannot import",
    ),
}


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_bad_config_is_refused_naming_the_key(repo: Path, case: str) -> None:
    key, value, expected = CONFIG_CASES[case]
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params[key] = value
    bad = repo / "bad-params.yaml"
    bad.write_text(yaml.safe_dump(params))
    before = snapshot(repo, GOOD)
    stage = "train" if key == "model" else "split"  # only train builds the estimator `_target_` names
    proc = run_main([stage, "--params", str(bad)], cwd=repo)  # the data cases above run real processes
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and expected in proc.stderr, proc.stderr
    assert snapshot(repo, GOOD) == before


def test_params_check_refuses_a_model_it_cannot_import(repo: Path) -> None:
    """`make params-check` (CI's guard) builds nothing but still names a misspelt `_target_`."""
    conf = repo / "conf/model/logistic_regression.yaml"
    conf.write_text(conf.read_text().replace("linear_model.LogisticRegression", "linear_model.LogisticRegresion"))
    assert run_main(["params", "sync"], cwd=repo).returncode == 0
    proc = run_main(["params", "check"], cwd=repo)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "params.yaml: model._target_: cannot import 'sklearn.linear_model.LogisticRegresion'" in proc.stderr


@pytest.mark.slow
def test_sigkill_mid_write_leaves_no_trusted_partial_output(repo: Path) -> None:
    """Kill ingest while it streams a big synthetic dataset: the old output survives intact."""
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["data"]["source"].update(kind="synthetic", n_rows=3_000_000, batch_rows=100_000)
    big = repo / "big-params.yaml"
    synth = yaml.safe_load((repo / "conf/data/synthetic.yaml").read_text())
    params["data"]["schema"] = synth["schema"]
    params["data"]["source"]["path"] = synth["source"]["path"]
    big.write_text(yaml.safe_dump(params))
    out = repo / "data/processed/dataset.parquet"
    before = snapshot(repo, [str(out.relative_to(repo))])
    proc = subprocess.Popen(["ml-gitops", "ingest", "--params", str(big), "--out", str(out)], cwd=repo, env=env())
    deadline = time.time() + 60
    while time.time() < deadline and not list(out.parent.glob(".dataset.parquet.*.tmp")):
        time.sleep(0.05)
    time.sleep(0.5)
    assert proc.poll() is None, "ingest finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert snapshot(repo, [str(out.relative_to(repo))]) == before
    # DVC still trusts only what it recorded: status shows nothing changed
    assert "up to date" in run(["dvc", "status"], cwd=repo).stdout
