"""What slices, fairness, leakage and the consistency checks add to validate + evaluate, at 1e6 rows.

    python benchmarks/evaluation.py [--rows 1000000] [--runs 3]

In process, on seeded synthetic penguins-shaped rows (the data=synthetic source), the same cores the
stages call: validate's check of the whole table, and evaluate's predictions (a fitted scikit-learn
Pipeline), bootstrap metrics and permutation importance, timed without and with the new work:
`validate.consistency` (conflicting labels, duplicates), `evaluate.slices`, `evaluate.fairness` and
the train/test leakage check. Medians side by side and their ratio. Floor (issue 18): <= 1.20x.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import yaml

from ml_gitops.adapters.params import compose_text
from ml_gitops.adapters.sources import synthetic_batches
from ml_gitops.config.settings import parse_settings
from ml_gitops.pipeline import evaluate, validate
from ml_gitops.pipeline import train as train_stage

ROOT = Path(__file__).resolve().parents[1]
FLOOR = 1.20
log = logging.getLogger("benchmark")


def interleaved_medians(a: Callable[[], object], b: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median seconds of ``a`` and of ``b``, run alternately so that load on a shared box hits both alike."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        for fn, out in ((a, times[0]), (b, times[1])):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    raw = yaml.safe_load(compose_text(ROOT / "conf", ["data=synthetic"]))
    raw["data"]["source"]["n_rows"] = args.rows
    settings = parse_settings(raw)
    data, cfg = settings.data, settings.evaluate
    schema = data.schema_
    frame = pd.concat(list(synthetic_batches(data.source, schema)), ignore_index=True)
    cut = int(len(frame) * 0.8)
    train, test = frame.iloc[:cut].reset_index(drop=True), frame.iloc[cut:].reset_index(drop=True)
    categorical = schema.categorical_features
    spec = [{"column": c} for c in categorical[:2]] or [{"column": schema.numeric_features[0], "quantiles": 4}]
    cfg_on = cfg.model_copy(
        update={
            "slices": cfg.slices.model_validate({"columns": spec}),
            "fairness": cfg.fairness.model_validate({"sensitive": [spec[0]["column"]]}),
        }
    )
    model, _ = train_stage.train(train.iloc[:50_000], settings)

    def base() -> None:
        validate.validate(frame, data)
        p = evaluate.predict(model, test, schema)
        evaluate.evaluate(p, cfg)
        evaluate.importance(model, test, p, schema, cfg)

    def extended() -> None:
        validated, _ = validate.validate(frame, data)
        validate.consistency(validated, data, settings.validate_.consistency)
        p = evaluate.predict(model, test, schema)
        evaluate.evaluate(p, cfg)
        evaluate.importance(model, test, p, schema, cfg)
        evaluate.slices(test, p, cfg_on)
        evaluate.fairness(test, p, cfg_on)
        evaluate.leakage(train, test, schema, cfg.leakage_examples)

    t0, t1 = interleaved_medians(base, extended, args.runs)
    ratio = t1 / t0
    log.info("rows %d, runs %d (medians)", args.rows, args.runs)
    log.info("| validate + evaluate | without | with slices/fairness/consistency/leakage | ratio |")
    log.info("|---|---:|---:|---:|")
    log.info("| seconds | %.2f | %.2f | %.2fx |", t0, t1, ratio)
    log.info("floor <= %.2fx: %s", FLOOR, "PASS" if ratio <= FLOOR else "FAIL")


if __name__ == "__main__":
    main()
