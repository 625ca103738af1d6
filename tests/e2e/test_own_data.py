"""Someone else's CSV: `ml-gitops schema draft` writes a config that validates, and the pipeline trains on it.

The CSV mixes numbers, categories, a date column, a free-text column, an id column and a
column named `od280/od315_of_diluted_wines` (not an identifier), as a new user's file would.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from pydantic import ValidationError

from ml_gitops.adapters.io import read_json
from ml_gitops.adapters.params import compose_text
from ml_gitops.adapters.params import sync as params_sync
from ml_gitops.adapters.persistence import load_model
from ml_gitops.adapters.tables import read_table
from ml_gitops.cli.main import main
from ml_gitops.config.serve import ServeSettings
from ml_gitops.config.settings import Settings, parse_settings
from ml_gitops.pipeline import ingest, split, train, validate
from ml_gitops.registry.bundle import write_manifest
from ml_gitops.serving.model import MODEL_FILE, ONNX_FILE, ONNX_REPORT_FILE, SIGNATURE_FILE, load, preflight
from ml_gitops.serving.validation import build

from ..helpers import ROOT

WINE = "od280/od315_of_diluted_wines"


def mixed_csv(path: Path, n: int = 600, seed: int = 0) -> Path:
    """A churn-like file whose label depends on a number, a category, the date and the text."""
    rng = np.random.default_rng(seed)
    signup = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 900, n), unit="D")
    plan = rng.choice(["basic", "pro", "team"], n)
    happy = rng.random(n) < 0.5
    comment = np.where(happy, "happy with the product so far", "slow support and long waits")
    wine = rng.normal(2.5, 0.6, n)
    score = 1.5 * (wine - 2.5) + (plan == "pro") + 2.0 * happy - (signup.month.to_numpy() > 6) + rng.normal(0, 0.5, n)
    df = pd.DataFrame(
        {
            "customer_id": np.arange(10_000, 10_000 + n),
            "signup": signup.strftime("%Y-%m-%d"),
            "plan": plan,
            "comment": comment,
            WINE: np.round(wine, 3),
            "spend": np.where(rng.random(n) < 0.05, np.nan, np.round(rng.gamma(2.0, 20.0, n), 2)),
            "churned": np.where(score > np.median(score), "yes", "no"),
        }
    )
    df.to_csv(path, index=False)
    return path


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with a copy of conf/ and the mixed CSV under data/raw/."""
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    (tmp_path / "data" / "raw").mkdir(parents=True)
    mixed_csv(tmp_path / "data" / "raw" / "churn.csv")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def settings_for(root: Path, name: str) -> Settings:
    """The composed settings with data=<name>, as `make params` would compose them."""
    return parse_settings(yaml.safe_load(compose_text(root / "conf", [f"data={name}"])), source="params.yaml")


def run_stages(project: Path, name: str) -> dict[str, Path]:
    """ingest -> validate -> split -> train with data=<name>, outputs under project/out."""
    params = project / "params.yaml"
    conf = project / "conf/config.yaml"  # select the data as a user does, then `make params`
    conf.write_text(conf.read_text().replace("  - data: penguins\n", f"  - data: {name}\n"))
    params_sync(project / "conf", params)
    out = project / "out"
    files = {k: out / v for k, v in {
        "dataset": "dataset.parquet", "validated": "validated.parquet", "report": "validation.json",
        "schema": "schema.json", "train": "train.parquet", "test": "test.parquet", "model": "model.skops",
        "signature": "signature.json", "summary": "train.json", "onnx": "model.onnx", "onnx_report": "onnx.json",
    }.items()}  # fmt: skip
    ingest.main(params, files["dataset"])
    validate.main(params, files["dataset"], files["validated"], files["report"], files["schema"])
    split.main(params, files["validated"], files["train"], files["test"])
    train.main(
        params, files["train"], files["model"], files["signature"], files["summary"], files["onnx"],
        files["onnx_report"], files["schema"],
    )  # fmt: skip
    return files


def bundle(project: Path, files: dict[str, Path]) -> Path:
    """A serving bundle (with its manifest) of what train wrote."""
    root = project / "bundle"
    root.mkdir()
    names = {"model": MODEL_FILE, "onnx": ONNX_FILE, "onnx_report": ONNX_REPORT_FILE, "signature": SIGNATURE_FILE}
    for key, name in names.items():
        shutil.copyfile(files[key], root / name)
    write_manifest(root, {"model": project.name, "version": "v0.0.1"})
    return root


def test_draft_writes_a_config_that_validates(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "draft", "data/raw/churn.csv", "--target", "churned"]) == 0
    out = capsys.readouterr().out
    written = project / "conf" / "data" / "churn.yaml"
    cols = yaml.safe_load(written.read_text())["schema"]["columns"]
    assert {c: cols[c]["dtype"] for c in cols} == {
        "customer_id": "id",
        "signup": "date",
        "plan": "category",
        "comment": "text",
        WINE: "float",
        "spend": "float",
        "churned": "category",
    }
    for col in cols:  # one reason per column
        assert any(line.startswith(f"{col}: ") for line in out.splitlines()), col
    schema = settings_for(project, "churn").data.schema_
    assert schema.target == "churned" and schema.classes == ["no", "yes"]
    assert "customer_id" not in schema.feature_columns  # an id never reaches the model
    assert schema.date_features == ["signup"] and schema.text_features == ["comment"]
    assert WINE in schema.numeric_features


def test_draft_never_overwrites_without_force(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = project / "conf" / "data" / "churn.yaml"
    target.write_text("# mine\n")
    assert main(["schema", "draft", "data/raw/churn.csv"]) == 2
    assert target.read_text() == "# mine\n"
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "conf/data/churn.yaml: already exists; pass --force" in err[0]
    assert main(["schema", "draft", "data/raw/churn.csv", "--force"]) == 0
    assert "schema:" in target.read_text()


def test_draft_refuses_a_duplicate_header(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "dup.csv").write_text("sex,sex,y\nmale,female,a\nfemale,male,b\n")
    assert main(["schema", "draft", "dup.csv"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "ml-gitops schema draft: error: dup.csv: column 'sex' appears twice in the header; "
        "give each column its own name"
    ]
    assert not (project / "conf" / "data" / "dup.yaml").exists()


def test_drafted_config_trains_end_to_end(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """ingest -> validate -> split -> train on the draft: dates and text inside the Pipeline, the id left out."""
    assert main(["schema", "draft", "data/raw/churn.csv", "--target", "churned"]) == 0
    files = run_stages(project, "churn")
    sig = read_json(files["signature"])
    assert sig["feature_order"] == ["signup", "plan", "comment", WINE, "spend"]  # no customer_id
    pipe = load_model(files["model"])
    steps = dict((name, cols) for name, _, cols in pipe.named_steps["preprocess"].transformers_)
    assert steps["date_signup"] == ["signup"] and steps["text_comment"] == ["comment"]
    test = read_table(files["test"])
    accuracy = float((pipe.predict(test[sig["feature_order"]]) == test["churned"]).mean())
    assert accuracy > 0.75  # the label depends on the month and the comment: they reached the model
    report = read_json(files["onnx_report"])
    assert report["usable"] is False
    assert report["reason"] == "date and text columns have no ONNX converter (comment, signup)"
    served = load(preflight(bundle(project, files)), ServeSettings())  # serving falls back and says why, once
    assert served.runtime == "sklearn"
    assert served.reason == (
        "the skops Pipeline answers, because export marked the ONNX model unusable: "
        "date and text columns have no ONNX converter (comment, signup)"
    )
    records = test[sig["feature_order"]].head(5).to_dict("records")
    np.testing.assert_allclose(served.predict_records(records), pipe.predict_proba(test[sig["feature_order"]].head(5)))
    models = build(sig, max_records=10)  # /predict's (and make score's) rules for dates and text
    assert len(models.many.validate_python(records)) == 5
    with pytest.raises(ValidationError, match="expected a date"):
        models.many.validate_python([{**records[0], "signup": "not a date"}])


def test_a_column_name_with_a_slash_serves_through_onnx(project: Path) -> None:
    """`od280/od315_of_diluted_wines` is not an ONNX-safe name: the export renames it, the signature keeps
    the mapping, and serving feeds by it, so ONNX answers (not the skops fallback)."""
    df = pd.read_csv(project / "data" / "raw" / "churn.csv")
    df[[WINE, "spend", "plan", "churned"]].to_csv(project / "data" / "raw" / "wine.csv", index=False)
    assert main(["-q", "schema", "draft", "data/raw/wine.csv"]) == 0
    files = run_stages(project, "wine")
    sig = read_json(files["signature"])
    assert sig["onnx_inputs"] == {WINE: "od280_od315_of_diluted_wines"}
    assert read_json(files["onnx_report"])["usable"] is True
    served = load(preflight(bundle(project, files)), ServeSettings())
    assert served.runtime == "onnx", served.reason
    records = read_table(files["test"])[sig["feature_order"]].head(20).to_dict("records")
    want = load_model(files["model"]).predict_proba(pd.DataFrame.from_records(records))
    np.testing.assert_allclose(served.predict_records(records), want, atol=1e-6)
