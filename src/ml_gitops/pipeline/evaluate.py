"""evaluate: metrics with bootstrap intervals, per-row predictions, plot data and PNGs.

The model is scored as serving runs it: through ONNX Runtime when the train
stage's parity check passed (`models/onnx.json`), else as the skops Pipeline
(`evaluate.runtime` chooses). The ONNX path never imports scikit-learn or skops,
which were most of this stage's time.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import paths
from ..config.errors import UserError
from ..config.settings import EvaluateSettings, SchemaSpec, load_settings
from ..core.metrics import Predictions, subsample, with_intervals
from ..core.predictions import predictions_frame

if TYPE_CHECKING:
    import pandas as pd


def load_scorer(
    runtime: str, model_path: Path, onnx_path: Path, onnx_report: Path, signature_path: Path, threads: int
) -> tuple[Any, str]:
    """The model to score with, and which runtime it is ("onnx" or "sklearn")."""
    from ..adapters.io import read_json
    from ..adapters.persistence import load_model

    if runtime != "sklearn":
        export = read_json(onnx_report)
        if export.get("usable"):
            from ..adapters.onnx import OnnxClassifier

            if not onnx_path.is_file():
                raise UserError(f"{onnx_path}: ONNX model not found ({onnx_report} says it is usable)")
            return OnnxClassifier(onnx_path.read_bytes(), read_json(signature_path), threads), "onnx"
        if runtime == "onnx":
            why = export.get("reason")
            raise UserError(f"evaluate.runtime: onnx, but {onnx_report} says the export is not usable: {why}")
    return load_model(model_path), "sklearn"


def predict(model: Any, test: pd.DataFrame, schema: SchemaSpec) -> Predictions:
    """Run the model on the test split; labels become indices into the model's classes."""
    import numpy as np

    from ..core.features import feature_frame

    classes = [str(c) for c in model.classes_]
    y = test[schema.target].astype(str).to_numpy()
    unknown = sorted(set(y) - set(classes))
    if unknown:
        raise UserError(f"{schema.target}: test label(s) {unknown} were never seen in training")
    index = {c: i for i, c in enumerate(classes)}
    proba = np.asarray(model.predict_proba(feature_frame(test, schema)), dtype=float)
    return Predictions(np.array([index[v] for v in y]), proba, classes)


def importance(
    model: Any, test: pd.DataFrame, p: Predictions, schema: SchemaSpec, cfg: EvaluateSettings
) -> pd.DataFrame:
    """Permutation importance of each input column: the drop in balanced accuracy when it is shuffled.

    Model-agnostic, on a seeded sample of the test split. The repeats of one column are
    stacked into one ``predict_proba`` call (one call per column, not per column and repeat
    as scikit-learn's ``permutation_importance`` makes): per-call overhead dominated this stage.
    """
    import numpy as np
    import pandas as pd

    from ..core.features import feature_frame
    from ..core.metrics import point_metrics

    rng = np.random.default_rng(cfg.seed)
    n, reps = len(test), cfg.importance_repeats
    rows = (
        np.sort(rng.choice(n, size=cfg.importance_max_rows, replace=False))
        if n > cfg.importance_max_rows
        else np.arange(n)
    )
    x = feature_frame(test.iloc[rows].reset_index(drop=True), schema)
    y, m = p.y[rows], len(rows)
    base = point_metrics(Predictions(y, p.proba[rows], p.classes))["balanced_accuracy"]
    stacked = x.iloc[np.tile(np.arange(m), reps)].reset_index(drop=True)
    means, stds = [], []
    for col in schema.feature_columns:
        shuffled = stacked.copy()
        perms = np.concatenate([rng.permutation(m) for _ in range(reps)])
        shuffled[col] = x[col].take(perms).reset_index(drop=True)
        proba = np.asarray(model.predict_proba(shuffled), dtype=float).reshape(reps, m, -1)
        drops = [base - point_metrics(Predictions(y, proba[r], p.classes))["balanced_accuracy"] for r in range(reps)]
        means.append(float(np.mean(drops)))
        stds.append(float(np.std(drops)))
    return pd.DataFrame({"feature": schema.feature_columns, "importance": np.round(means, 6), "std": np.round(stds, 6)})


def evaluate(p: Predictions, cfg: EvaluateSettings) -> dict[str, float]:
    """Pure core: flat metrics with bootstrap intervals."""
    q = subsample(p, cfg.bootstrap_max_rows, cfg.seed)
    out: dict[str, Any] = with_intervals(q, cfg.n_bootstrap, cfg.confidence, cfg.seed)
    out["n_test"] = len(p.y)
    return out


def plot_curves(p: Predictions, cfg: EvaluateSettings) -> dict[str, dict[str, pd.DataFrame]]:
    """ROC and PR curves from a seeded sample (they are committed to git); calibration from every row."""
    from ..adapters import figures as plots

    q = subsample(p, cfg.plot_max_rows, cfg.seed)
    return {
        "roc": plots.roc(q),
        "precision_recall": plots.precision_recall(q),
        "calibration": plots.calibration(p, cfg.calibration_bins),
    }


def write_plot_files(
    p: Predictions,
    imp: pd.DataFrame,
    curves: dict[str, dict[str, pd.DataFrame]],
    cfg: EvaluateSettings,
    plots_dir: Path,
) -> None:
    """The plot data `dvc plots` reads, replaced as one directory (atomic rename)."""
    import shutil

    from ..adapters import figures as plots
    from ..adapters.io import write_text

    def csv(df: pd.DataFrame) -> str:
        return df.to_csv(index=False, lineterminator="\n")

    tmp = plots_dir.with_name(f".{plots_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    write_text(tmp / "confusion.csv", csv(plots.confusion(subsample(p, cfg.plot_max_rows, cfg.seed))))
    write_text(tmp / "importance.csv", csv(imp))
    for kind, per_class in curves.items():
        for name, df in per_class.items():
            write_text(tmp / kind / f"{name}.csv", csv(df))
    shutil.rmtree(plots_dir, ignore_errors=True)
    tmp.rename(plots_dir)


def write_plots(p: Predictions, imp: pd.DataFrame, cfg: EvaluateSettings, plots_dir: Path, figures: Path) -> None:
    """Plot data and PNGs in this process (the stage draws the PNGs in a forked worker instead)."""
    from ..adapters import figures as plots

    curves = plot_curves(p, cfg)
    write_plot_files(p, imp, curves, cfg, plots_dir)
    plots.draw_figures(plots.figure_data(p, curves, imp), figures)


def main(
    params: Path,
    model_path: Path = paths.MODEL,
    test_path: Path = paths.TEST,
    metrics_out: Path = paths.METRICS,
    predictions_out: Path = paths.PREDICTIONS,
    plots_dir: Path = paths.PLOTS,
    figures: Path = paths.FIGURES,
    onnx_path: Path = paths.ONNX,
    onnx_report: Path = paths.ONNX_REPORT,
    signature_path: Path = paths.SIGNATURE,
) -> None:
    from functools import partial

    from ..adapters.figures import draw_figures, figure_data
    from ..adapters.worker import ForkedWorker

    # Forks first, before pyarrow and ONNX Runtime start threads. From runtime.worker_min_rows
    # test rows the child imports matplotlib and draws the PNGs on the other core while this
    # process computes the metrics; on fewer rows it would outlast this process's own work.
    draw = partial(draw_figures, figures=figures)
    what = f"evaluate: drawing {figures}"
    with ForkedWorker(draw, warm=["matplotlib.figure"], what=what, start=False) as painter:
        from threadpoolctl import threadpool_limits

        from ..adapters.io import read_table, write_json, write_parquet
        from ..core.schema import read_signature_schema

        settings = load_settings(params)
        cfg, threads = settings.evaluate, settings.runtime.threads
        schema = read_signature_schema(signature_path)  # the model's own contract, as serving uses
        model, runtime = load_scorer(cfg.runtime, model_path, onnx_path, onnx_report, signature_path, threads)
        test = read_table(test_path)
        if len(test) >= settings.runtime.worker_min_rows:
            painter.start()
        else:
            painter.stay()
        with threadpool_limits(limits=threads):
            p = predict(model, test, schema)
            imp = importance(model, test, p, schema, cfg)
        curves = plot_curves(p, cfg)
        painter.submit(figure_data(p, curves, imp))
        metrics = evaluate(p, cfg)
        write_parquet(predictions_out, predictions_frame(p))
        write_plot_files(p, imp, curves, cfg, plots_dir)
    write_json(metrics_out, metrics)
    print(
        f"evaluate ({runtime}): "
        + ", ".join(
            f"{m}={metrics[m]:.3f} [{metrics[m + '_ci_low']:.3f}, {metrics[m + '_ci_high']:.3f}]"
            for m in ("accuracy", "balanced_accuracy", "roc_auc")
        )
    )
