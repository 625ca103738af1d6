"""The ONNX model answers like the scikit-learn Pipeline (so the fast path is the same model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

TOLERANCE = 1e-5


def test_onnx_matches_sklearn_on_the_test_split(pipeline_repo: Path, bundle: Path) -> None:
    import json

    from ml_gitops.adapters.onnx import OnnxPredictor, frame_feed, sklearn_frame
    from ml_gitops.adapters.persistence import load_model

    sig = json.loads((bundle / "signature.json").read_text())
    pipe = load_model(bundle / "model.skops")
    onnx = OnnxPredictor((bundle / "model.onnx").read_bytes(), sig)
    test = pd.read_parquet(pipeline_repo / "data/processed/test.parquet")
    feats = test[list(sig["features"])]
    want = pipe.predict_proba(sklearn_frame(feats, sig))
    got = onnx.proba(frame_feed(feats, onnx.kinds))
    assert onnx.classes == [str(c) for c in pipe.classes_]
    assert got.shape == want.shape == (len(test), len(sig["classes"]))
    assert np.abs(got - want).max() <= TOLERANCE
    assert (np.asarray(onnx.classes)[got.argmax(1)] == pipe.predict(sklearn_frame(feats, sig))).all()
    report = json.loads((bundle / "onnx.json").read_text())
    assert report["usable"] is True and report["max_abs_diff"] <= TOLERANCE


def test_export_is_deterministic_and_refuses_a_mismatch(pipeline_repo: Path, bundle: Path) -> None:
    import json

    from ml_gitops.adapters.onnx_export import convert, export
    from ml_gitops.adapters.persistence import load_model

    sig = json.loads((bundle / "signature.json").read_text())
    pipe = load_model(bundle / "model.skops")
    assert convert(pipe, sig) == convert(pipe, sig) == (bundle / "model.onnx").read_bytes()
    test = pd.read_parquet(pipeline_repo / "data/processed/test.parquet")
    # Perturb the Pipeline after conversion: the parity check must notice.
    data = convert(pipe, sig)
    pipe.named_steps["model"].coef_ = pipe.named_steps["model"].coef_ * 1.01
    from ml_gitops.adapters.onnx_export import parity

    check = parity(pipe, data, test, sig)
    assert check["max_abs_diff"] > TOLERANCE
    _, report = export(pipe, sig, test, 1e-30, 10, 0)
    assert report["usable"] in (True, False)  # tiny tolerance: float noise alone may refuse; never raises


@pytest.mark.parametrize("runtime", ["sklearn"])
def test_forced_sklearn_runtime_gives_the_same_answers(bundle: Path, pipeline_repo: Path, runtime: str) -> None:
    from ml_gitops.config.serve import ServeSettings
    from ml_gitops.registry.bundle import open_bundle
    from ml_gitops.serving.model import load

    b = open_bundle(bundle)
    sk = load(b, ServeSettings(runtime=runtime))
    ox = load(b, ServeSettings())
    assert sk.runtime == "sklearn" and ox.runtime == "onnx"
    assert "serve.runtime is sklearn" in sk.reason and "matches the skops Pipeline" in ox.reason
    test = pd.read_parquet(pipeline_repo / "data/processed/test.parquet")
    records = [
        {k: (None if pd.isna(v) else v) for k, v in r.items()}
        for r in test[list(sk.features)].head(30).to_dict(orient="records")
    ]
    assert np.abs(sk.predict_records(records) - ox.predict_records(records)).max() <= TOLERANCE
