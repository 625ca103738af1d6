"""Batch scoring through the real CLI: CSV and Parquet in, Parquet out, rejects with reasons."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ..helpers import run
from .servers import first

pytestmark = pytest.mark.slow


@pytest.fixture
def scoring_input(pipeline_repo: Path, sig: dict, tmp_path: Path) -> tuple[pd.DataFrame, int]:
    """The test split (target and all) with a few broken rows appended: (frame, number of bad rows)."""
    test = pd.read_parquet(pipeline_repo / "data/processed/test.parquet")
    num, spec = first(sig, "float", "int")
    cat, _ = first(sig, "category")
    bad = test.head(3).copy()
    bad[cat] = bad[cat].astype(object)
    bad.loc[bad.index[0], cat] = "never-seen"
    bad[num] = bad[num].astype(object)
    bad.loc[bad.index[1], num] = "abc"
    bad.loc[bad.index[2], num] = (spec.get("max") or 0) + 1e6
    return pd.concat([test.astype(object), bad.astype(object)], ignore_index=True), 3


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_score_writes_predictions_and_rejects(
    pipeline_repo: Path, bundle: Path, sig: dict, scoring_input: tuple[pd.DataFrame, int], tmp_path: Path, fmt: str
) -> None:
    from ml_gitops.adapters.onnx import sklearn_frame
    from ml_gitops.adapters.persistence import load_model

    frame, n_bad = scoring_input
    src = tmp_path / f"in.{fmt}"
    if fmt == "csv":
        frame.to_csv(src, index=False)
    else:
        frame.astype(str).replace({"nan": None, "None": None, "<NA>": None}).to_parquet(src)
    out, rej = tmp_path / "out.parquet", tmp_path / "rejects.parquet"
    proc = run(
        [
            "ml-gitops",
            "score",
            "--bundle",
            str(bundle),
            "--input",
            str(src),
            "--output",
            str(out),
            "--rejects",
            str(rej),
            "--batch-rows",
            "17",
        ],
        cwd=pipeline_repo,
    )
    n_good = len(frame) - n_bad
    assert f"{len(frame)} rows: {n_good} scored" in proc.stderr and f"{n_bad} rejected" in proc.stderr
    assert "score: runtime onnx: model.onnx matches the skops Pipeline" in proc.stderr
    scored = pd.read_parquet(out)
    rejects = pd.read_parquet(rej)
    assert len(scored) == n_good and len(rejects) == n_bad
    assert sorted(rejects["row"]) == list(range(n_good, len(frame)))
    reasons = " | ".join(rejects["reason"])
    # /predict's messages (one validation for both): unseen category, not a number, above max.
    assert "Input should be '" in reasons and "Input should be a valid number" in reasons
    assert "Input should be less than or equal to" in reasons
    assert sig["target"] in scored.columns  # non-feature columns are carried through
    proba = scored[[f"proba_{c}" for c in sig["classes"]]].to_numpy()
    pipe = load_model(bundle / "model.skops")
    test = pd.read_parquet(pipeline_repo / "data/processed/test.parquet")
    want = pipe.predict_proba(sklearn_frame(test[list(sig["features"])], sig))
    assert np.abs(proba - want).max() <= 1e-5
    assert (scored["prediction"].to_numpy() == np.asarray(sig["classes"])[want.argmax(1)]).all()


def test_score_missing_feature_column_is_one_line(pipeline_repo: Path, bundle: Path, sig: dict, tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    pd.DataFrame({"x": [1, 2]}).to_csv(src, index=False)
    proc = run(
        ["ml-gitops", "score", "--bundle", str(bundle), "--input", str(src), "--output", str(tmp_path / "o.parquet")],
        cwd=pipeline_repo,
        check=False,
    )
    assert proc.returncode == 2 and "missing" in proc.stderr and not (tmp_path / "o.parquet").exists()
    assert json.dumps(sorted(sig["features"]))[:2] == '["'
