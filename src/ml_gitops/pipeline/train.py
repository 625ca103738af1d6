"""train: fit the scikit-learn Pipeline, save it in skops format with its signature, export ONNX.

The ONNX export runs here, with its parity check on a sample of the training
rows: `models/onnx.json` says whether serving may use it (an estimator that
cannot be converted is recorded there as not usable, and serving runs skops).
"""

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import is_classifier, is_regressor
from threadpoolctl import threadpool_limits

from ..adapters.io import clear_stale, write_bytes, write_json
from ..adapters.onnx_export import write_export
from ..adapters.persistence import save_model
from ..adapters.progress import progress, timed
from ..adapters.tables import open_parquet, parquet_rows, read_table
from ..config import paths
from ..config.errors import UserError
from ..config.onnx import onnx_settings
from ..config.settings import Settings, load_settings
from ..core.features import build_pipeline, feature_frame
from ..core.schema import read_schema, signature

log = logging.getLogger(__name__)


def sample_rows(df: pd.DataFrame, target: str, max_rows: int, seed: int, stratify: bool = True) -> pd.DataFrame:
    """Seeded sample (stratified by class unless ``stratify`` is off) when a frame exceeds ``train.max_rows``."""
    if len(df) <= max_rows:
        return df
    frac = max_rows / len(df)
    if not stratify:  # a numeric target: every value would be its own stratum
        return df.sample(frac=frac, random_state=seed).sort_index().reset_index(drop=True)
    return (
        df.groupby(target, group_keys=False, observed=True)
        .sample(frac=frac, random_state=seed)
        .sort_index()
        .reset_index(drop=True)
    )


def read_sample(path: Path, settings: Settings) -> pd.DataFrame:
    """The training frame: whole when it fits ``train.max_rows``, else a streamed sample.

    Above ``train.max_rows`` the file is read batch by batch (``runtime.batch_rows``)
    and each class keeps a seeded random share ``max_rows / rows`` of every batch
    (the count carried across batches), so at most ``max_rows`` rows, stratified
    by class, are ever held in memory.
    """
    schema, cfg = settings.data.schema_, settings.train
    total = parquet_rows(path)
    if total <= cfg.max_rows:
        return read_table(path)
    columns = [schema.target, *schema.feature_columns]
    frac = cfg.max_rows / total
    seen: dict[str, int] = {}
    kept: dict[str, int] = {}
    parts = []
    batch_rows = settings.runtime.batch_rows
    batches = open_parquet(path).iter_batches(batch_size=batch_rows, columns=columns)
    for b, batch in enumerate(progress(batches, desc="train: sample", total=-(-total // batch_rows), unit="batch")):
        rng = np.random.default_rng([cfg.seed, b])
        labels = (
            batch.column(schema.target).to_numpy(zero_copy_only=False).astype(str)
            if schema.task == "classification"
            else np.zeros(batch.num_rows, dtype=str)  # regression: one stratum
        )
        groups, codes = np.unique(labels, return_inverse=True)
        keep = []
        for g, group in enumerate(groups):
            rows = np.flatnonzero(codes == g)
            key = str(group)
            seen[key] = seen.get(key, 0) + len(rows)
            due = min(len(rows), int(np.floor(frac * seen[key])) - kept.get(key, 0))
            kept[key] = kept.get(key, 0) + max(due, 0)
            keep.append(rng.choice(rows, size=max(due, 0), replace=False))
        idx = np.sort(np.concatenate(keep))
        parts.append(batch.take(idx).to_pandas())
    return pd.concat(parts, ignore_index=True)


def check_task(estimator: Any, task: str, target: str) -> None:
    """A classifier cannot fit a regression target, nor a regressor a classification one: say so before the fit."""
    fits = is_regressor(estimator) if task == "regression" else is_classifier(estimator)
    if not fits:
        kind = "a classifier" if is_classifier(estimator) else "a regressor" if is_regressor(estimator) else "neither"
        raise UserError(f"model._target_: {target} is {kind}, but data.schema.task is {task}")


def target_values(df: pd.DataFrame, schema: Any) -> pd.Series:
    """The target as the model fits it: class names (classification) or finite floats (regression)."""
    if schema.task == "regression":
        y = pd.to_numeric(df[schema.target], errors="coerce").astype(float)
        if not np.isfinite(y).all():
            raise UserError(f"{schema.target}: the regression target has missing or non-finite values")
        if y.nunique() < 2:
            raise UserError(f"{schema.target}: training data has a single target value {y.iloc[0]!r}")
        return y
    y = df[schema.target].astype(str)
    unseen = sorted(set(y.unique()) - set(schema.classes))  # the distinct labels, not every row
    if unseen:
        raise UserError(f"{schema.target}: label(s) {unseen} are not in the schema's categories")
    if y.nunique() < 2:
        raise UserError(f"{schema.target}: training data has a single class {y.iloc[0]!r}")
    return y


def train(df: pd.DataFrame, settings: Settings) -> tuple[Any, dict[str, Any]]:
    """Pure core: a fitted Pipeline and a summary of what it was fitted on."""
    schema = settings.data.schema_
    classify = schema.task == "classification"
    df = sample_rows(df, schema.target, settings.train.max_rows, settings.train.seed, stratify=classify)
    pipe = build_pipeline(schema, settings.model, settings.train.preprocessing, settings.train.seed)
    check_task(pipe.steps[-1][1], schema.task, settings.model.target)
    y = target_values(df, schema)
    with threadpool_limits(limits=settings.runtime.threads):
        try:
            pipe.fit(feature_frame(df, schema), y)
        except (ValueError, TypeError) as err:  # scikit-learn refuses a parameter value when it fits
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise UserError(f"model ({settings.model.target}): {first}") from None
    summary: dict[str, Any] = {"model": settings.model.name, "rows": len(df)}
    if classify:  # the same keys, in the same order, as before regression existed
        summary["classes"] = [str(c) for c in pipe.classes_]
        summary["class_counts"] = {str(k): int(v) for k, v in y.value_counts().sort_index().items()}
    else:
        summary["task"] = schema.task
        summary["target"] = {"mean": round(float(y.mean()), 6), "std": round(float(y.std()), 6)}
    summary["features"] = schema.feature_columns
    return pipe, summary


def main(
    params: Path,
    train_path: Path = paths.TRAIN,
    model_out: Path = paths.MODEL,
    signature_out: Path = paths.SIGNATURE,
    summary_out: Path = paths.TRAIN_SUMMARY,
    onnx_out: Path = paths.ONNX,
    onnx_report: Path = paths.ONNX_REPORT,
    schema_path: Path = paths.SCHEMA,
) -> None:
    clear_stale(model_out, signature_out, summary_out, onnx_out, onnx_report)
    settings = load_settings(params)
    # The schema validate enforced (a declared dependency), not the one in params.yaml.
    data = settings.data.model_copy(update={"schema_": read_schema(schema_path)})
    settings = settings.model_copy(update={"data": data})
    onnx_cfg = onnx_settings(settings, str(params))  # a bad value stops us before the fit
    settings.model.estimator_class(str(params))  # and a bad `_target_` before the read
    with timed(log, "train: read"):
        df = read_sample(train_path, settings)
    log.info("train: %d rows from %s", len(df), train_path)
    with timed(log, f"train: fit {settings.model.name}"):
        pipe, summary = train(df, settings)
    sig = signature(settings.data.schema_)
    sig["task"] = settings.data.schema_.task  # serving and monitoring read the task from here
    if "classes" in summary:
        sig["classes"] = summary["classes"]
    else:
        del sig["classes"]  # regression: a value, no classes
    sig["model"] = settings.model.name
    if settings.model.trusted_types:
        sig["trusted_types"] = list(settings.model.trusted_types)  # what loading the model must accept
    with timed(log, "train: save"):
        save_model(pipe, model_out, trusted=settings.model.trusted_types)
        write_json(signature_out, sig)
        write_json(summary_out, summary)
    log.info("train: %s on %d rows -> %s", settings.model.name, summary["rows"], model_out)
    if settings.data.schema_.task == "regression":
        # The parity check compares class probabilities; a regressor's export is not checked, so not used.
        why = "regression models are not exported to ONNX yet (no parity check for values)"
        write_bytes(onnx_out, b"")
        write_json(onnx_report, {"format": "onnx", "usable": False, "reason": why})
        log.info("train: ONNX export skipped: %s; serving and evaluate use skops", why)
        return
    with timed(log, "train: ONNX export"):
        log.info("train: %s", write_export(pipe, sig, df, onnx_cfg, onnx_out, onnx_report))
