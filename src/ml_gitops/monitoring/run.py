"""The monitor's I/O shell: load the pinned reference and the window, judge, write the reports."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from ..adapters import dvc
from ..adapters.io import read_json, write_json, write_text
from ..adapters.persistence import load_model
from ..adapters.tables import read_table
from ..config import paths
from ..config.errors import UserError
from ..config.monitor import MonitorSettings
from ..core.schema import signature as make_signature
from . import render
from .core import Reference, judge, typed
from .deployed import Deployed, reference_files, signature_at
from .logsource import Current, LogSource, Window

if TYPE_CHECKING:
    from ..config.settings import Settings

LOCK_FILE = paths.DVC_LOCK


def pinned(path: Path, require: bool, lock: Path = LOCK_FILE) -> dict[str, Any]:
    """The file's md5 and whether dvc.lock records the same one (else: not the model's reference)."""
    if not path.exists():
        raise UserError(f"{path}: reference file not found (run `dvc pull` or `dvc repro` first)")
    md5 = dvc.file_md5(path)
    recorded = dvc.lock_hashes(dvc.read_lock(lock)).get(path.as_posix())
    info = {"path": path.as_posix(), "md5": md5, "lock_md5": recorded, "pinned": recorded == md5}
    if require and recorded is None:
        raise UserError(
            f"{path}: not recorded in {lock}; the reference must be a pipeline output "
            "(or set monitor.require_pinned_reference: false)"
        )
    if require and recorded != md5:
        raise UserError(
            f"{path}: md5 {md5} differs from {lock} ({recorded}): not the data the model was built from; "
            "run `dvc checkout` or `dvc pull`"
        )
    return info


def model_schema(
    settings: Settings, signature: Path = paths.SIGNATURE, committed: dict[str, Any] | None = None
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The model's own input contract: the deployed version's signature, models/signature.json, else the schema."""

    if committed is not None:
        sig = committed
    else:
        sig = read_json(signature) if signature.exists() else make_signature(settings.data.schema_)
    return dict(sig["features"]), [str(c) for c in sig.get("classes") or []]  # no classes: a regressor


def _reference_frames(
    cfg: MonitorSettings, dep: Deployed, root: Path
) -> tuple[pd.DataFrame, dict[str, Any], pd.DataFrame | None, dict[str, Any] | None]:
    """(reference split, its pin info, reference predictions or None, their pin info)."""
    ref_path, pred_path = Path(cfg.reference), Path(cfg.prediction_reference)
    if dep.workspace:
        meta = pinned(ref_path, cfg.require_pinned_reference)
        raw = read_table(ref_path)
        if not pred_path.exists():
            return raw, meta, None, None
        return raw, meta, read_table(pred_path), pinned(pred_path, cfg.require_pinned_reference)
    wanted = {ref_path.as_posix(): True, pred_path.as_posix(): False}
    with reference_files(dep, root, wanted) as files:
        local, meta = files[ref_path.as_posix()]
        raw = read_table(local)
        if pred_path.as_posix() not in files:
            return raw, meta, None, None
        plocal, pmeta = files[pred_path.as_posix()]
        return raw, meta, read_table(plocal), pmeta


def load_reference(
    cfg: MonitorSettings,
    features: dict[str, dict[str, Any]],
    classes: list[str],
    dep: Deployed | None = None,
    root: Path = Path(),
) -> Reference:
    """The training reference of the judged model: its version's tag, else the working tree."""
    raw, meta, pdf, pmeta = _reference_frames(cfg, dep or Deployed(), root)
    path, ppath = Path(cfg.reference), Path(cfg.prediction_reference)
    missing = [c for c in features if c not in raw.columns]
    if missing:
        raise UserError(f"{path}: reference lacks feature column(s) {missing} of the model's signature")
    meta["rows"] = len(raw)
    if len(raw) > cfg.reference_max_rows:
        raw = raw.sample(cfg.reference_max_rows, random_state=cfg.seed)
        meta["sampled_rows"] = cfg.reference_max_rows
    frame = typed(raw, features)
    predicted = proba = actual = None
    if pdf is not None and pmeta is not None and not classes:  # a regressor: values and the held-out targets
        if "predicted" not in pdf.columns or "actual" not in pdf.columns:
            raise UserError(f"{ppath}: expected columns 'predicted' and 'actual'")
        predicted = pdf["predicted"].astype(float).reset_index(drop=True)
        actual = pdf["actual"].astype(float).reset_index(drop=True)
        meta["predictions"] = pmeta | {"rows": len(pdf)}
    elif pdf is not None and pmeta is not None:
        cols = [f"proba_{c}" for c in classes]
        if "predicted" not in pdf.columns or any(c not in pdf.columns for c in cols):
            raise UserError(f"{ppath}: expected columns 'predicted' and {cols}")
        predicted = pdf["predicted"].astype(str).reset_index(drop=True)
        proba = pd.DataFrame({c: pdf[f"proba_{c}"].to_numpy(float) for c in classes})
        meta["predictions"] = pmeta | {"rows": len(pdf)}
    return Reference(frame, predicted, proba, meta, actual)


def _model_input(frame: pd.DataFrame, features: dict[str, dict[str, Any]], settings: Settings) -> pd.DataFrame:
    """The typed window as the Pipeline takes it: categories as objects with None for missing."""
    x = frame.copy()
    for n, spec in features.items():
        if spec["dtype"] not in {"float", "int"}:
            x[n] = x[n].astype(object).where(x[n].notna(), None)
    return x[settings.data.schema_.feature_columns]


def load_current_file(
    path: Path, settings: Settings, features: dict[str, dict[str, Any]], classes: list[str]
) -> Current:
    """A batch file as the window. Predictions come from its own columns or from the model."""

    raw = read_table(path)
    frame = typed(raw, features)
    cols = [f"proba_{c}" for c in classes]
    pred_col = next((c for c in ("predicted", "prediction") if c in raw.columns), None)
    if not classes:  # a regressor: its values from the file, else from the model; no probabilities
        proba = pd.DataFrame(index=range(len(raw)))
        if pred_col:
            predicted = pd.to_numeric(raw[pred_col], errors="coerce").astype(float).reset_index(drop=True)
            scored_by = "file"
        else:
            with threadpool_limits(limits=settings.runtime.threads):
                values = load_model(paths.MODEL).predict(_model_input(frame, features, settings))
            predicted = pd.Series(np.asarray(values, dtype=float), name="predicted")
            scored_by = str(paths.MODEL)
    elif pred_col and all(c in raw.columns for c in cols):
        predicted = raw[pred_col].astype(str).reset_index(drop=True)
        proba = pd.DataFrame({c: raw[f"proba_{c}"].to_numpy(float) for c in classes})
        scored_by = "file"
    else:
        model = load_model(paths.MODEL)
        order = [str(c) for c in model.classes_]
        with threadpool_limits(limits=settings.runtime.threads):
            p = np.asarray(model.predict_proba(_model_input(frame, features, settings)), dtype=float)
        proba = pd.DataFrame({c: p[:, order.index(c)] for c in classes})
        predicted = pd.Series(np.asarray(order, dtype=object)[p.argmax(axis=1)], name="predicted")
        scored_by = str(paths.MODEL)
    labelled = None
    target = settings.data.schema_.target
    if target in raw.columns:
        has = raw[target].notna().to_numpy()
        labelled = proba[has].reset_index(drop=True)
        labelled.insert(0, "predicted", predicted[has].to_numpy())
        labelled.insert(0, "label", raw[target][has].astype(str).to_numpy())
    meta = {"source": "file", "path": path.as_posix(), "md5": pinned(path, False)["md5"], "scored_by": scored_by}
    return Current(frame, predicted, proba, labelled, meta)


def monitor(
    settings: Settings,
    cfg: MonitorSettings,
    *,
    window: Window | None = None,
    current: Path | None = None,
    log_url: str | None = None,
    deployed: Deployed | None = None,
    root: Path = Path(),
) -> tuple[dict[str, Any], Reference, Current]:
    """Judge the window of the ``deployed`` version (default: the working tree) against its reference."""

    dep = deployed or Deployed()
    features, classes = model_schema(settings, committed=signature_at(dep, root))
    ref = load_reference(cfg, features, classes, dep, root)
    if current is not None:
        cur = load_current_file(current, settings, features, classes)
    else:
        w = window or Window(last=cfg.default_last)
        cur = LogSource(log_url or cfg.log_url, version=dep.version).read(w, features, classes)
    report = judge(ref, cur, features, classes, cfg)
    report["deployed"] = dep.describe()
    report["generated_at"] = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    return report, ref, cur


def write_reports(report: dict[str, Any], ref: Reference, cur: Current, cfg: MonitorSettings) -> list[Path]:
    """JSON, Markdown and HTML, each written atomically."""

    md = render.markdown(report)
    figs = render.figures(report, ref, cur, cfg.report.max_plots)
    out = [Path(cfg.report.json_), Path(cfg.report.markdown), Path(cfg.report.html)]
    write_json(out[0], report)
    write_text(out[1], md)
    write_text(out[2], render.html_page(report, md, figs))
    return out


def summary(report: dict[str, Any]) -> str:
    w = report["window"]
    head = f"monitor: {report['status']} ({w['rows']} rows vs reference {report['reference'].get('rows')} rows)"
    if report["status"] == "cannot_judge":
        return f"{head}: {report['reason']}"
    lines = [head, *(f"  {b['kind']}: {b['what']}: {b['why']}" for b in report["breaches"])]
    perf = report.get("performance", {})
    m = perf.get("metrics") or {}
    if "rmse" in m:
        lines.append(
            f"  feedback: {perf['n_labels']} labels, rmse {m['rmse']:.4g} [{m['rmse_ci_low']:.4g}, "
            f"{m['rmse_ci_high']:.4g}], mae {m['mae']:.4g} [{m['mae_ci_low']:.4g}, {m['mae_ci_high']:.4g}]"
        )
    elif m:
        lines.append(
            f"  feedback: {perf['n_labels']} labels, balanced_accuracy {m['balanced_accuracy']:.3f} "
            f"[{m['balanced_accuracy_ci_low']:.3f}, {m['balanced_accuracy_ci_high']:.3f}]"
        )
    return "\n".join(lines)
