"""evaluate: metrics with bootstrap intervals, per-row predictions, plot data and PNGs.

The model is scored as serving runs it: through ONNX Runtime when the train
stage's parity check passed (`models/onnx.json`), else as the skops Pipeline
(`evaluate.runtime` chooses). A regression model (no ONNX export yet) is scored
as the skops Pipeline, with RMSE, MAE and R². Both tasks are also scored against a
baseline fitted on the train split (DummyClassifier / DummyRegressor), the gate's
relative floor.
"""

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.dummy import DummyClassifier, DummyRegressor
from threadpoolctl import threadpool_limits

from ..adapters import figures as plots
from ..adapters.io import clear_stale, read_json, replace_dir, write_json, write_text
from ..adapters.onnx import OnnxClassifier
from ..adapters.persistence import load_model
from ..adapters.progress import timed
from ..adapters.tables import read_table, write_parquet
from ..config import paths
from ..config.errors import UserError
from ..config.settings import EvaluateSettings, SchemaSpec, load_settings
from ..core.consistency import train_test_overlap
from ..core.effects import effects
from ..core.fairness import fairness_report
from ..core.features import feature_frame
from ..core.metrics import Estimates, Predictions, Scored, point_metrics, subsample, versus_baseline, with_intervals
from ..core.predictions import SLICE_PREFIX, predictions_frame
from ..core.schema import read_signature_schema
from ..core.slices import SliceColumn, slice_report

log = logging.getLogger(__name__)
EFFECT_KINDS = frozenset({"float", "int", "category", "bool"})  # kinds with a grid (not dates or text)


def load_scorer(
    runtime: str, model_path: Path, onnx_path: Path, onnx_report: Path, signature_path: Path, threads: int
) -> tuple[Any, str]:
    """The model to score with, and which runtime it is ("onnx" or "sklearn")."""
    signature = read_json(signature_path)
    if runtime != "sklearn":
        export = read_json(onnx_report)
        if export.get("usable"):
            if not onnx_path.is_file():
                raise UserError(f"{onnx_path}: ONNX model not found ({onnx_report} says it is usable)")
            return OnnxClassifier(onnx_path.read_bytes(), signature, threads), "onnx"
        if runtime == "onnx":
            why = export.get("reason")
            raise UserError(f"evaluate.runtime: onnx, but {onnx_report} says the export is not usable: {why}")
    return load_model(model_path, trusted=signature.get("trusted_types", ())), "sklearn"


def predict(model: Any, test: pd.DataFrame, schema: SchemaSpec) -> Scored:
    """Run the model on the test split; labels become indices into the model's classes (or values)."""
    if schema.task == "regression":
        pred = np.asarray(model.predict(feature_frame(test, schema)), dtype=float).ravel()
        return Estimates(test[schema.target].to_numpy(dtype=float), pred)
    classes = [str(c) for c in model.classes_]
    y = test[schema.target].astype(str).to_numpy()
    unknown = sorted(set(y) - set(classes))
    if unknown:
        raise UserError(f"{schema.target}: test label(s) {unknown} were never seen in training")
    index = {c: i for i, c in enumerate(classes)}
    proba = np.asarray(model.predict_proba(feature_frame(test, schema)), dtype=float)
    return Predictions(np.array([index[v] for v in y]), proba, classes)


def _rescore(model: Any, frame: pd.DataFrame, p: Scored, rows: np.ndarray, reps: int) -> list[float]:
    """The importance metric (balanced accuracy, or R²) of each of ``reps`` stacked copies of ``rows``."""
    m = len(rows)
    if isinstance(p, Estimates):
        pred = np.asarray(model.predict(frame), dtype=float).reshape(reps, m)
        return [point_metrics(Estimates(p.y[rows], pred[r]))["r2"] for r in range(reps)]
    proba = np.asarray(model.predict_proba(frame), dtype=float).reshape(reps, m, -1)
    return [point_metrics(Predictions(p.y[rows], proba[r], p.classes))["balanced_accuracy"] for r in range(reps)]


def importance(model: Any, test: pd.DataFrame, p: Scored, schema: SchemaSpec, cfg: EvaluateSettings) -> pd.DataFrame:
    """Permutation importance of each input column: the drop in balanced accuracy (R²) when it is shuffled.

    Model-agnostic, on a seeded sample of the test split. The repeats of one column are
    stacked into one ``predict_proba`` call (one call per column, not per column and repeat
    as scikit-learn's ``permutation_importance`` makes): per-call overhead dominated this stage.
    """
    rng = np.random.default_rng(cfg.seed)
    n, reps = len(test), cfg.importance_repeats
    rows = (
        np.sort(rng.choice(n, size=cfg.importance_max_rows, replace=False))
        if n > cfg.importance_max_rows
        else np.arange(n)
    )
    x = feature_frame(test.iloc[rows].reset_index(drop=True), schema)
    m = len(rows)
    if isinstance(p, Estimates):
        base = point_metrics(Estimates(p.y[rows], p.pred[rows]))["r2"]
    else:
        base = point_metrics(Predictions(p.y[rows], p.proba[rows], p.classes))["balanced_accuracy"]
    stacked = x.iloc[np.tile(np.arange(m), reps)].reset_index(drop=True)
    means, stds = [], []
    for col in schema.feature_columns:
        shuffled = stacked.copy()
        perms = np.concatenate([rng.permutation(m) for _ in range(reps)])
        shuffled[col] = x[col].take(perms).reset_index(drop=True)
        drops = [base - score for score in _rescore(model, shuffled, p, rows, reps)]
        means.append(float(np.mean(drops)))
        stds.append(float(np.std(drops)))
    return pd.DataFrame({"feature": schema.feature_columns, "importance": np.round(means, 6), "std": np.round(stds, 6)})


def feature_effects(
    model: Any, test: pd.DataFrame, p: Scored, imp: pd.DataFrame, schema: SchemaSpec, cfg: EvaluateSettings
) -> dict[str, Any]:
    """Pure core: partial dependence of the most important features, on a seeded sample of the test split."""
    ranked = [
        (str(r.feature), float(r.importance))
        for r in imp.sort_values("importance", ascending=False, kind="stable").itertuples()
        if schema.columns[str(r.feature)].dtype in EFFECT_KINDS
    ][: cfg.effects.top]
    sample = test.sample(min(len(test), cfg.effects.max_rows), random_state=cfg.seed).reset_index(drop=True)
    if isinstance(p, Estimates):
        predict_fn, outputs = model.predict, ["prediction"]
    else:
        predict_fn, outputs = model.predict_proba, p.classes
    return effects(predict_fn, feature_frame(sample, schema), ranked, outputs, cfg.effects.grid_points)


def evaluate(p: Scored, cfg: EvaluateSettings, baseline: Scored | None = None) -> dict[str, Any]:
    """Pure core: flat metrics with bootstrap intervals, and the paired improvement over ``baseline``."""
    q = subsample(p, cfg.bootstrap_max_rows, cfg.seed)
    out: dict[str, Any] = with_intervals(q, cfg.n_bootstrap, cfg.confidence, cfg.seed)
    out["n_test"] = len(p.y)
    if baseline is not None:
        b = subsample(baseline, cfg.bootstrap_max_rows, cfg.seed)  # the same seed: the same rows as q
        out["baseline"] = versus_baseline(b, q, cfg.n_bootstrap, cfg.confidence, cfg.seed)
    return out


def fit_baseline(train: pd.DataFrame, test: pd.DataFrame, p: Scored, schema: SchemaSpec) -> Scored:
    """A model that ignores the features, fitted on the train split: the class prior, or the mean target.

    The gate's relative floor asks the model to beat it, so any dataset is judged on its own merits.
    """
    x_train, x_test = np.zeros((len(train), 1)), np.zeros((len(test), 1))
    if isinstance(p, Estimates):
        mean = DummyRegressor(strategy="mean").fit(x_train, train[schema.target].to_numpy(dtype=float))
        return Estimates(p.y, np.asarray(mean.predict(x_test), dtype=float))
    prior = DummyClassifier(strategy="prior").fit(x_train, train[schema.target].astype(str).to_numpy())
    proba = np.zeros((len(test), len(p.classes)))
    seen = np.asarray(prior.predict_proba(x_test), dtype=float)
    for j, c in enumerate(prior.classes_):  # the model's class order
        if str(c) in p.classes:
            proba[:, p.classes.index(str(c))] = seen[:, j]
    return Predictions(p.y, proba, p.classes)


def plot_curves(p: Scored, cfg: EvaluateSettings) -> dict[str, dict[str, pd.DataFrame]]:
    """ROC and PR curves from a seeded sample (they are committed to git); calibration from every row."""
    if isinstance(p, Estimates):
        return {}
    q = subsample(p, cfg.plot_max_rows, cfg.seed)
    return {
        "roc": plots.roc(q),
        "precision_recall": plots.precision_recall(q),
        "calibration": plots.calibration(p, cfg.calibration_bins),
    }


def write_plot_files(
    p: Scored, imp: pd.DataFrame, curves: dict[str, dict[str, pd.DataFrame]], cfg: EvaluateSettings, out: Path
) -> None:
    """The plot data `dvc plots` reads, as CSV files under ``out``."""

    def csv(df: pd.DataFrame) -> str:
        return df.to_csv(index=False, lineterminator="\n")

    q = subsample(p, cfg.plot_max_rows, cfg.seed)
    if isinstance(q, Estimates):
        write_text(out / "predicted_vs_actual.csv", csv(plots.predicted_vs_actual(q)))
        write_text(out / "residuals.csv", csv(plots.residuals(q)))
    else:
        write_text(out / "confusion.csv", csv(plots.confusion(q)))
    write_text(out / "importance.csv", csv(imp))
    for kind, per_class in curves.items():
        for name, df in per_class.items():
            write_text(out / kind / f"{name}.csv", csv(df))


def write_plots(
    p: Scored, imp: pd.DataFrame, eff: dict[str, Any], cfg: EvaluateSettings, plots_dir: Path, figures: Path
) -> None:
    """Plot data and PNGs, each directory replaced whole (never missing, never half-written)."""
    curves = plot_curves(p, cfg)
    with replace_dir(plots_dir) as tmp:
        write_plot_files(p, imp, curves, cfg, tmp)
    with replace_dir(figures) as tmp:
        if isinstance(p, Estimates):
            plots.draw_regression_figures(p, imp, tmp)
        else:
            plots.draw_figures(p, curves, imp, tmp)
        plots.draw_effects(eff, tmp / "effects.png")


def slice_spec(cfg: EvaluateSettings) -> list[SliceColumn]:
    return [SliceColumn(c.column, tuple(c.edges), c.quantiles) for c in cfg.slices.columns]


def check_columns(test: pd.DataFrame, cfg: EvaluateSettings) -> None:
    """Refuse a slice or sensitive column the test split does not have, naming the key."""
    keys = [(f"evaluate.slices.columns[{i}].column", c.column) for i, c in enumerate(cfg.slices.columns)]
    keys += [(f"evaluate.fairness.sensitive[{i}]", c) for i, c in enumerate(cfg.fairness.sensitive)]
    for key, column in keys:
        if column not in test.columns:
            raise UserError(f"{key}: column {column!r} is not in the test split (columns: {list(test.columns)})")


def slices(test: pd.DataFrame, p: Scored, cfg: EvaluateSettings) -> dict[str, Any]:
    """Pure core: the slice table (per slice rows, metrics with intervals, worst slice, largest gap)."""
    if isinstance(p, Estimates):
        actual, predicted, task = p.y, p.pred, "regression"
    else:
        names = np.asarray(p.classes, dtype=object)
        actual, predicted, task = names[p.y], names[p.pred], "classification"
    try:
        return slice_report(
            actual,
            predicted,
            test.reset_index(drop=True),
            slice_spec(cfg),
            task,
            n_boot=cfg.n_bootstrap,
            confidence=cfg.confidence,
            seed=cfg.seed,
            min_rows=cfg.slices.min_rows,
        )
    except ValueError as err:
        raise UserError(f"evaluate.slices: {err}") from None


def fairness(test: pd.DataFrame, p: Scored, cfg: EvaluateSettings) -> dict[str, Any]:
    """Pure core: group fairness per sensitive column and positive class (one vs rest when multiclass)."""
    f = cfg.fairness
    if isinstance(p, Estimates):  # demographic parity and equalized odds are defined on classes
        return {"sensitive": list(f.sensitive), "reports": [], "note": "not applicable to regression"}
    if f.positive is not None and f.positive not in p.classes:
        raise UserError(f"evaluate.fairness.positive: {f.positive!r} is not a class (classes: {p.classes})")
    positives = [f.positive] if f.positive is not None else p.classes[1:] if len(p.classes) == 2 else p.classes
    names = np.asarray(p.classes, dtype=object)
    reports = [
        fairness_report(
            names[p.y],
            names[p.pred],
            test[column].reset_index(drop=True).rename(column),
            positive,
            n_boot=cfg.n_bootstrap,
            confidence=cfg.confidence,
            seed=cfg.seed,
            min_rows=f.min_rows,
        )
        for column in f.sensitive
        for positive in positives
    ]
    return {"sensitive": list(f.sensitive), "reports": reports}


def leakage(train: pd.DataFrame, test: pd.DataFrame, schema: SchemaSpec, max_examples: int) -> dict[str, Any]:
    """Pure core: test rows whose feature values also occur in the train split (their metrics are inflated)."""
    return train_test_overlap(train, test, schema.feature_columns, max_examples=max_examples)


def predictions_table(p: Scored, test: pd.DataFrame, cfg: EvaluateSettings) -> pd.DataFrame:
    """The predictions table plus the slice and sensitive columns (``slice_<column>``)."""
    frame = predictions_frame(p)
    columns = [c.column for c in cfg.slices.columns] + list(cfg.fairness.sensitive)
    for c in dict.fromkeys(columns):
        frame[SLICE_PREFIX + c] = test[c].to_numpy()
    return frame


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
    train_path: Path = paths.TRAIN,
    slices_out: Path = paths.SLICES,
    fairness_out: Path = paths.FAIRNESS,
    leakage_out: Path = paths.LEAKAGE,
    effects_out: Path = paths.EFFECTS,
) -> None:
    clear_stale(metrics_out, predictions_out, plots_dir, figures, slices_out, fairness_out, leakage_out, effects_out)
    settings = load_settings(params)
    cfg, threads = settings.evaluate, settings.runtime.threads
    schema = read_signature_schema(signature_path)  # the model's own contract, as serving uses
    model, runtime = load_scorer(cfg.runtime, model_path, onnx_path, onnx_report, signature_path, threads)
    with timed(log, "evaluate: read"):
        test = read_table(test_path)
    log.info("evaluate: %d test rows from %s, scored with %s", len(test), test_path, runtime)
    check_columns(test, cfg)
    train = read_table(train_path, columns=[*schema.feature_columns, schema.target])
    with timed(log, "evaluate: predict, permutation importance, partial dependence"), threadpool_limits(limits=threads):
        p = predict(model, test, schema)
        imp = importance(model, test, p, schema, cfg)
        eff = feature_effects(model, test, p, imp, schema, cfg)
    with timed(log, "evaluate: bootstrap metrics"):
        metrics = evaluate(p, cfg, fit_baseline(train, test, p, schema))
    with timed(log, "evaluate: plots and figures"):
        write_plots(p, imp, eff, cfg, plots_dir, figures)
    with timed(log, "evaluate: slices, fairness and leakage"):
        by_slice, groups = slices(test, p, cfg), fairness(test, p, cfg)
        leaked = leakage(train[schema.feature_columns], test, schema, cfg.leakage_examples)
    write_parquet(predictions_out, predictions_table(p, test, cfg))
    write_json(slices_out, by_slice)
    write_json(fairness_out, groups)
    write_json(leakage_out, leaked)
    write_json(effects_out, eff)
    write_json(metrics_out, metrics)
    headline = ("rmse", "mae", "r2") if schema.task == "regression" else ("accuracy", "balanced_accuracy", "roc_auc")
    worst_metric = headline[0]
    worst = by_slice["worst"].get(worst_metric)
    if worst:
        log.info("evaluate: worst slice %s (%s %.3f) -> %s", worst["slice"], worst_metric, worst["value"], slices_out)
    if leaked["rows"]:
        log.warning(
            "evaluate: %d of %d test rows (%.1f%%) have features that also occur in the train split: "
            "their metrics are inflated -> %s",
            leaked["rows"],
            leaked["test_rows"],
            100 * leaked["share"],
            leakage_out,
        )
    log.info(
        "evaluate (%s): %s",
        runtime,
        ", ".join(
            f"{m}={metrics[m]:.3f} [{metrics[m + '_ci_low']:.3f}, {metrics[m + '_ci_high']:.3f}]" for m in headline
        ),
    )
