"""train: fit the scikit-learn Pipeline, save it in skops format with its signature, export ONNX.

The ONNX export (stages/export.py) runs in this stage, with its parity check on
a sample of the training rows. Saving and exporting happen in a forked worker
(worker.py) that imports skops, skl2onnx and ONNX Runtime on the other core
while this process reads the data and fits: those imports cost more than the
save and the export themselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import paths
from ..config.errors import UserError
from ..config.settings import Settings, load_settings

if TYPE_CHECKING:
    import pandas as pd


def sample_rows(df: pd.DataFrame, target: str, max_rows: int, seed: int) -> pd.DataFrame:
    """Seeded stratified sample when an in-memory training frame exceeds ``train.max_rows``."""
    if len(df) <= max_rows:
        return df
    frac = max_rows / len(df)
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
    import numpy as np
    import pandas as pd

    from ..adapters.io import open_parquet, parquet_rows, read_table

    schema, cfg = settings.data.schema_, settings.train
    total = parquet_rows(path)
    if total <= cfg.max_rows:
        return read_table(path)
    columns = [schema.target, *schema.feature_columns]
    frac = cfg.max_rows / total
    seen: dict[str, int] = {}
    kept: dict[str, int] = {}
    parts = []
    pf = open_parquet(path)
    for b, batch in enumerate(pf.iter_batches(batch_size=settings.runtime.batch_rows, columns=columns)):
        rng = np.random.default_rng([cfg.seed, b])
        labels = batch.column(schema.target).to_numpy(zero_copy_only=False).astype(str)
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


def train(df: pd.DataFrame, settings: Settings) -> tuple[Any, dict[str, Any]]:
    """Pure core: a fitted Pipeline and a summary of what it was fitted on."""
    from threadpoolctl import threadpool_limits

    from ..core.features import build_pipeline, feature_frame

    schema = settings.data.schema_
    df = sample_rows(df, schema.target, settings.train.max_rows, settings.train.seed)
    y = df[schema.target].astype(str)
    unseen = sorted(set(y.unique()) - set(schema.classes))  # unique() first: a set of 1e6 strings costs 0.7 s
    if unseen:
        raise UserError(f"{schema.target}: label(s) {unseen} are not in the schema's categories")
    if y.nunique() < 2:
        raise UserError(f"{schema.target}: training data has a single class {y.iloc[0]!r}")
    pipe = build_pipeline(schema, settings.model, settings.train.preprocessing, settings.train.seed)
    with threadpool_limits(limits=settings.runtime.threads):
        pipe.fit(feature_frame(df, schema), y)
    summary = {
        "model": settings.model.name,
        "rows": len(df),
        "classes": [str(c) for c in pipe.classes_],
        "class_counts": {str(k): int(v) for k, v in y.value_counts().sort_index().items()},
        "features": schema.feature_columns,
    }
    return pipe, summary


# What the save-and-export worker imports while the parent fits.
EXPORT_IMPORTS = ("pandas", "sklearn.pipeline", "skops.io", "skl2onnx", "onnxruntime")


def save_and_export(job: dict[str, Any]) -> str:
    """Worker step: the skops model, then the ONNX model and its parity report; the export's summary line."""
    from ..adapters.onnx_export import write_export
    from ..adapters.persistence import save_model

    save_model(job["pipeline"], job["model"])
    return write_export(
        job["pipeline"], job["signature"], job["parity_rows"], job["onnx_cfg"], job["onnx"], job["onnx_report"]
    )


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
    from ..adapters.worker import ForkedWorker

    # Forks before pyarrow starts its threads. The child imports skops, skl2onnx and ONNX
    # Runtime only when the fit is long enough to hide that (runtime.worker_min_rows).
    what = f"train: saving {model_out}"
    with ForkedWorker(save_and_export, warm=EXPORT_IMPORTS, what=what, start=False) as worker:
        from ..adapters.io import write_json
        from ..adapters.onnx_export import parity_sample
        from ..config.serve import onnx_settings
        from ..core.schema import read_schema, signature

        settings = load_settings(params)
        # The schema validate enforced (a declared dependency), not the one in params.yaml.
        data = settings.data.model_copy(update={"schema_": read_schema(schema_path)})
        settings = settings.model_copy(update={"data": data})
        onnx_cfg = onnx_settings(settings, str(params))  # a bad value stops us before the fit
        df = read_sample(train_path, settings)
        if len(df) >= settings.runtime.worker_min_rows:
            worker.start()
        else:
            worker.stay()
        pipe, summary = train(df, settings)
        sig = signature(settings.data.schema_)
        sig["classes"] = summary["classes"]
        sig["model"] = settings.model.name
        worker.submit(
            {
                "pipeline": pipe,
                "signature": sig,
                "parity_rows": parity_sample(df, sig, onnx_cfg.parity_rows, onnx_cfg.seed),
                "onnx_cfg": onnx_cfg,
                "model": model_out,
                "onnx": onnx_out,
                "onnx_report": onnx_report,
            }
        )
        write_json(signature_out, sig)
        write_json(summary_out, summary)
        print(f"train: {settings.model.name} on {summary['rows']} rows -> {model_out}")
