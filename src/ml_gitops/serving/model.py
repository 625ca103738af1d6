"""Open a bundle, load its model with the allow-list, and pick the runtime.

ONNX Runtime is used only when the bundle carries `model.onnx`, its export
report (if any) says usable, and a load-time check on rows drawn from the
signature agrees with the skops Pipeline within `serve.onnx.tolerance`.
Otherwise the skops Pipeline (scikit-learn) answers: slower per row, same results.
`ServedModel.reason` says which runtime was chosen and why.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import skops.io as sio

from ..adapters.git import commit_of
from ..adapters.io import read_json, write_json
from ..adapters.onnx import OnnxPredictor, frame_feed, records_feed, sklearn_frame, synthetic_rows
from ..adapters.persistence import ALLOWED_TYPES, load_model
from ..config import paths
from ..config.errors import UserError
from ..config.serve import ServeSettings
from ..registry.bundle import Bundle, open_bundle, sha256, write_manifest

MODEL_FILE = "model.skops"
ONNX_FILE = "model.onnx"
ONNX_REPORT_FILE = "onnx.json"
SIGNATURE_FILE = "signature.json"
METRICS_FILE = "metrics.json"
LINEAGE_FILE = "lineage.json"
TASKS = ("classification", "regression")
LOAD_CHECK_ROWS = 200  # rows drawn from the signature to re-check ONNX vs the Pipeline at load time
WORKSPACE_FILES = {
    MODEL_FILE: paths.MODEL,
    ONNX_FILE: paths.ONNX,
    ONNX_REPORT_FILE: paths.ONNX_REPORT,
    SIGNATURE_FILE: paths.SIGNATURE,
    "training.json": paths.TRAIN_SUMMARY,
    METRICS_FILE: paths.METRICS,
}


def preflight(path: str | Path) -> Bundle:
    """Everything that must hold before the server starts: checksums, signature, allow-listed types."""
    bundle = open_bundle(path)
    for rel in (MODEL_FILE, SIGNATURE_FILE):
        if not bundle.path(rel).is_file():
            raise UserError(f"{bundle.root}: bundle has no {rel}")
    sig = bundle.json(SIGNATURE_FILE)
    if not isinstance(sig, dict) or not isinstance(sig.get("features"), dict):
        raise UserError(f"{bundle.path(SIGNATURE_FILE)}: not a model signature (needs 'features')")
    task = sig.get("task", "classification")
    if task not in TASKS:
        raise UserError(f"{bundle.path(SIGNATURE_FILE)}: task {task!r} is not one of {', '.join(TASKS)}")
    if task == "classification" and not sig.get("classes"):
        raise UserError(f"{bundle.path(SIGNATURE_FILE)}: not a classifier's signature (needs 'classes')")
    try:
        untrusted = sio.get_untrusted_types(file=bundle.path(MODEL_FILE))
    except Exception as err:
        raise UserError(f"{bundle.path(MODEL_FILE)}: not a readable skops model ({type(err).__name__})") from None
    refused = sorted(set(untrusted) - set(ALLOWED_TYPES))
    if refused:
        raise UserError(f"{bundle.path(MODEL_FILE)}: refusing to load untrusted type(s) {', '.join(refused[:3])}")
    return bundle


def _git_sha() -> str | None:
    """The workspace's commit for the lineage record; None outside git or where git is not installed."""
    try:
        return commit_of("HEAD")
    except (OSError, UserError):
        return None


def workspace_bundle(dest: Path | None = None) -> Path:
    """A bundle from the pipeline's own outputs (models/, reports/metrics.json) until releases exist."""
    for rel in (paths.MODEL, paths.SIGNATURE):
        if not rel.is_file():
            raise UserError(f"{rel}: not found (run `make run` first, or pass --bundle)")
    root = Path(dest or tempfile.mkdtemp(prefix="workspace-bundle-")) / "workspace"
    root.mkdir(parents=True, exist_ok=True)
    for name, src in WORKSPACE_FILES.items():
        if src.is_file() and src.stat().st_size > 0:
            shutil.copyfile(src, root / name)
    sig = read_json(paths.SIGNATURE)
    digest = sha256(paths.MODEL)
    write_json(root / LINEAGE_FILE, {"source": "workspace", "git_sha": _git_sha(), "model_sha256": digest})
    write_manifest(root, {"model": str(sig.get("model", "model")), "version": f"workspace-{digest[:12]}"})
    return root


@dataclass
class ServedModel:
    name: str
    version: str
    signature: dict[str, Any]
    runtime: str  # "onnx" | "sklearn"
    classes: list[str]  # empty for a regressor
    features: list[str]
    pipeline: Any
    onnx: OnnxPredictor | None = None
    reason: str = ""  # why this runtime: the startup line and /metadata say it
    task: str = "classification"  # "classification" | "regression"

    def predict_records(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Class probabilities (n, k) for validated records (dicts feature -> value); a regressor's values (n,).

        ONNX Runtime takes one array per column, built straight from the records: a
        DataFrame per request would cost more than the model itself on a single row.
        """
        if self.onnx is not None:
            return self.onnx.proba(records_feed(records, self.onnx.kinds))
        return self._sklearn(pd.DataFrame.from_records(list(records), columns=self.features))

    def predict_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """As `predict_records`, for a validated DataFrame of feature columns (batch scoring)."""
        if self.onnx is not None:
            return self.onnx.proba(frame_feed(frame, self.onnx.kinds))
        return self._sklearn(frame[self.features])

    def _sklearn(self, frame: pd.DataFrame) -> np.ndarray:
        x = sklearn_frame(frame, self.signature)
        if self.task == "regression":
            return np.asarray(self.pipeline.predict(x), dtype="float64").reshape(-1)
        return self.pipeline.predict_proba(x)


def load(bundle: Bundle, cfg: ServeSettings) -> ServedModel:
    """Load the Pipeline (allow-list) and, when allowed and verified, the ONNX model."""
    sig = bundle.json(SIGNATURE_FILE)
    pipeline = load_model(bundle.path(MODEL_FILE))
    task = sig.get("task", "classification")
    where = bundle.path(SIGNATURE_FILE)
    if task == "regression":
        if hasattr(pipeline, "predict_proba"):
            raise UserError(f"{where}: task is regression but the model is a classifier (it has predict_proba)")
        classes: list[str] = []
    else:
        classes = [str(c) for c in getattr(pipeline, "classes_", [])]
        if classes != [str(c) for c in sig["classes"]]:
            raise UserError(f"{where}: classes {sig['classes']} differ from the model's {classes}")
    served = ServedModel(bundle.name, bundle.version, sig, "sklearn", classes, list(sig["features"]), pipeline)
    served.task = task
    if cfg.runtime == "sklearn":
        served.reason = "the skops Pipeline answers, because serve.runtime is sklearn"
        return served
    onnx_path = bundle.path(ONNX_FILE)
    report = bundle.json(ONNX_REPORT_FILE) if bundle.path(ONNX_REPORT_FILE).is_file() else {}
    reason = None
    if task == "regression":  # train exports classifiers only; its report (if any) says why
        reason = f"ONNX is not used for regressors ({report.get('reason') or 'no export'})"
    elif report and not report.get("usable", False):  # the export's reason first: it says why there is no graph
        reason = f"export marked the ONNX model unusable: {report.get('reason')}"
    elif not onnx_path.is_file() or onnx_path.stat().st_size == 0:
        reason = "bundle has no ONNX model"
    else:
        try:
            predictor = OnnxPredictor(onnx_path.read_bytes(), sig)
            rows = synthetic_rows(sig, LOAD_CHECK_ROWS, cfg.onnx.seed)
            got = predictor.proba(frame_feed(rows, predictor.kinds))
            want = pipeline.predict_proba(sklearn_frame(rows[served.features], sig))
            diff = float(np.abs(np.asarray(got) - np.asarray(want)).max())
            if predictor.classes != classes or diff > cfg.onnx.tolerance:
                reason = f"ONNX differs from the Pipeline at load time (max |Δp| {diff:.3g})"
            else:
                served.onnx, served.runtime = predictor, "onnx"
                served.reason = (
                    f"{ONNX_FILE} matches the skops Pipeline on {LOAD_CHECK_ROWS} rows "
                    f"(max |Δp| {diff:.3g} <= serve.onnx.tolerance {cfg.onnx.tolerance:g})"
                )
        except Exception as err:  # a graph ONNX Runtime cannot run: fall back, say why
            reason = f"ONNX Runtime cannot run the model ({type(err).__name__})"
    if reason is not None:
        if cfg.runtime == "onnx":
            raise UserError(f"{bundle.root}: serve.runtime is onnx but {reason}")
        served.reason = f"the skops Pipeline answers, because {reason}"
    return served
