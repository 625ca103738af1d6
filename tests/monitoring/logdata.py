"""Fill a real prediction log (SQLite) the way serving does: the model scores each row, the writer logs it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from ml_gitops.adapters.persistence import load_model
from ml_gitops.adapters.predlog import PredictionLog, new_id

FEATURES = ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"]


def reference(repo: Path) -> pd.DataFrame:
    return pd.read_parquet(repo / "data/processed/train.parquet")


def draw(ref: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """A window from the reference distribution: rows resampled with replacement."""
    rng = np.random.default_rng(seed)
    return ref.iloc[rng.integers(0, len(ref), size=n)].reset_index(drop=True)


def log_window(
    repo: Path,
    frame: pd.DataFrame,
    url: str,
    *,
    start: dt.datetime | None = None,
    labels: list[str] | None = None,
    model=None,
) -> list[str]:
    """Score ``frame`` with the repo's model and write predictions (+ feedback) to the log at ``url``."""
    model = model or load_model(repo / "models/model.skops")
    x = frame[FEATURES].astype({c: object for c in ["island", "sex"]})
    x = x.where(x.notna(), None)
    proba = model.predict_proba(x)
    classes = [str(c) for c in model.classes_]
    start = start or dt.datetime(2025, 1, 1)
    ids = [new_id() for _ in range(len(frame))]
    records = x.to_dict(orient="records")
    rows = []
    for i, rec in enumerate(records):
        inputs = {k: (None if v is None or (isinstance(v, float) and np.isnan(v)) else v) for k, v in rec.items()}
        rows.append(
            {
                "id": ids[i],
                "ts": start + dt.timedelta(seconds=i),
                "model": "model",
                "version": "v0.1.0",
                "inputs": inputs,
                "prediction": classes[int(proba[i].argmax())],
                "probabilities": dict(zip(classes, proba[i].round(6).tolist(), strict=True)),
                "latency_ms": 1.0,
            }
        )
    log = PredictionLog(url).create()
    log.write_predictions(rows)
    if labels is not None:
        log.write_feedback([{"prediction_id": i, "label": lab} for i, lab in zip(ids, labels, strict=True) if lab])
    return ids
