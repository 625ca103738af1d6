"""Hydra multirun over the pipeline's own stages, for Hydra's launchers (joblib, Ray, SLURM).

`dvc exp run --queue` (`make sweep`) is the GitOps path: every point is a DVC
experiment that can become a PR. This entry point is for grids bigger than one
machine: Hydra launches one job per point through `hydra/launcher=...`
(conf/hydra/launcher/), and each job runs the split, train and evaluate stage
commands, exactly as `dvc repro` runs them, on the pipeline's validated data with
its outputs in the job directory. `ml-gitops sweep table --multirun <dir>`
collects the jobs' metrics into one table.

    ml-gitops sweep run --launcher joblib_local model.C=0.1,1,10
    python -m ml_gitops.experiments.multirun -m hydra/launcher=slurm model=logistic_regression,random_forest
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import hydra
import yaml
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from ..adapters.io import read_json, write_text
from ..config import paths
from ..config.errors import UserError
from ..config.metric_names import METRICS
from ..config.settings import load_settings, parse_settings
from ..config.sweep import parse_sweep_settings

CONF_DIR = paths.CONF
CONFIG_NAME = "config"
JOB_PARAMS = "params.yaml"
JOB_METRICS = "metrics.json"
JOB_SUMMARY = "training.json"
VERSION_BASE = "1.3"  # no chdir into the job dir; outputs go to hydra.runtime.output_dir
ROOT_PACKAGE = __package__.split(".")[0]
log = logging.getLogger(__name__)


def stage_commands(root: Path, out_dir: Path) -> list[list[str]]:
    """split, train and evaluate on ``root``'s validated data and schema, every output in ``out_dir``."""

    def job(path: Path) -> str:
        return str(out_dir / path.name)

    params = ["--params", str(out_dir / JOB_PARAMS)]
    model = {"--model": job(paths.MODEL), "--signature": job(paths.SIGNATURE)}
    onnx = {"--onnx": job(paths.ONNX), "--onnx-report": job(paths.ONNX_REPORT)}
    flags = {
        "split": {
            "--validated": str(root / paths.VALIDATED),
            "--train-out": job(paths.TRAIN),
            "--test-out": job(paths.TEST),
        },
        "train": {
            "--train": job(paths.TRAIN),
            **model,
            "--summary": str(out_dir / JOB_SUMMARY),
            **onnx,
            "--schema": str(root / paths.SCHEMA),
        },
        "evaluate": {
            "--test": job(paths.TEST),
            **model,
            "--metrics": str(out_dir / JOB_METRICS),
            "--predictions": job(paths.PREDICTIONS),
            "--plots": str(out_dir / paths.PLOTS.name),
            "--figures": str(out_dir / paths.FIGURES.name),
            "--train": job(paths.TRAIN),
            "--slices": job(paths.SLICES),
            "--fairness": job(paths.FAIRNESS),
            "--leakage": job(paths.LEAKAGE),
            "--effects": job(paths.EFFECTS),
            **onnx,
        },
    }
    return [
        [sys.executable, "-m", ROOT_PACKAGE, stage, *params, *(a for kv in args.items() for a in kv)]
        for stage, args in flags.items()
    ]


def run_job(raw: dict[str, Any], root: Path, out_dir: Path) -> dict[str, Any]:
    """One sweep point: the pipeline's split, train and evaluate stages; metrics into out_dir."""
    source = "conf/ (multirun job)"
    settings = parse_settings(raw, source=source)
    settings.model.estimator_class(source)  # a bad model: its one line now, not "stage train failed" later
    validated = root / paths.VALIDATED
    if not validated.exists():
        raise UserError(f"{validated}: not found; run `dvc repro validate` (or `dvc pull`) before a multirun")
    pipeline = load_settings(root / paths.PARAMS)
    if settings.data != pipeline.data:
        raise UserError(
            "data.*: a multirun trains on the pipeline's validated data, so it cannot sweep the data group; "
            "use `make sweep` (DVC experiments) for that"
        )
    write_text(out_dir / JOB_PARAMS, yaml.safe_dump(raw, sort_keys=False))
    for argv in stage_commands(root, out_dir):
        proc = subprocess.run(argv, cwd=root, check=False)
        if proc.returncode != 0:
            raise UserError(f"multirun job {out_dir.name}: stage {argv[3]} failed (exit {proc.returncode})")
    return read_json(out_dir / JOB_METRICS)


def task(cfg: Any) -> float | None:
    """Hydra task function (module level, so launchers pickle it by reference)."""
    hc = HydraConfig.get()
    raw = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(raw, dict)
    metrics = run_job(raw, Path(hc.runtime.cwd), Path(hc.runtime.output_dir))
    metric = parse_sweep_settings(raw.get("sweep")).metric if raw.get("sweep") else None
    value = metrics.get(metric) if metric else None
    log.info("multirun job %s: %s -> %s=%s", hc.job.num, " ".join(hc.overrides.task) or "(defaults)", metric, value)
    # Returned for sweepers that optimise (e.g. Optuna), which read the job's return value.
    return value


def main(argv: Sequence[str] | None = None, *, prog: str = "multirun") -> None:
    """Run Hydra on conf/ of the current directory with the given command-line arguments."""
    conf = (Path.cwd() / CONF_DIR).resolve()
    if not (conf / f"{CONFIG_NAME}.yaml").exists():
        raise UserError(f"{conf}/{CONFIG_NAME}.yaml: not found; run from the project root")
    args = list(sys.argv[1:] if argv is None else argv)
    saved = sys.argv
    sys.argv = [prog, *args]
    try:
        hydra.main(config_path=str(conf), config_name=CONFIG_NAME, version_base=VERSION_BASE)(task)()
    finally:
        sys.argv = saved


# ---------------------------------------------------------------- collecting results
def latest(root: Path = Path("multirun")) -> Path:
    """The newest multirun directory (Hydra's default layout multirun/<date>/<time>)."""
    found = sorted(p.parent for p in root.glob("*/*/multirun.yaml"))
    if not found:
        raise UserError(f"{root}/: no multirun yet; run `make sweep LAUNCHER=joblib_local` (or pass the directory)")
    return found[-1]


def collect(sweep_dir: Path) -> list[dict[str, Any]]:
    """One row per job of a multirun directory: its overrides and metrics (jobs without metrics: failed)."""
    if not sweep_dir.is_dir():
        raise UserError(f"{sweep_dir}: not a directory (a multirun dir looks like multirun/<date>/<time>)")
    rows: list[dict[str, Any]] = []
    for ov_file in sorted(sweep_dir.glob("*/.hydra/overrides.yaml")):
        job = ov_file.parent.parent
        overrides = yaml.safe_load(ov_file.read_text(encoding="utf-8")) or []
        params = dict(o.split("=", 1) for o in overrides if "=" in o and not o.startswith("hydra"))
        metrics_file = job / JOB_METRICS
        rows.append(
            {
                "job": job.name,
                "params": params,
                "metrics": read_json(metrics_file) if metrics_file.exists() else None,
            }
        )
    if not rows:
        raise UserError(f"{sweep_dir}: no Hydra jobs found (expected <job>/.hydra/overrides.yaml)")
    return sorted(rows, key=lambda r: int(r["job"]) if r["job"].isdigit() else r["job"])


def markdown_table(rows: list[dict[str, Any]], metric: str, lower_is_better: bool) -> str:
    """The multirun as a `dvc exp show --md`-like table, best first by the primary metric; failed jobs last."""
    keys = sorted({k for r in rows for k in r["params"]})
    sign = 1.0 if lower_is_better else -1.0

    def order(r: dict[str, Any]) -> tuple[int, float]:
        m = r["metrics"]
        return (0, sign * float(m[metric])) if m and metric in m else (1, 0.0)

    metric_cols = [metric, *[m for m in METRICS if m != metric]]
    header = ["Job", "State", *metric_cols, *keys]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in sorted(rows, key=order):
        m = r["metrics"] or {}
        cells = [r["job"], "Success" if r["metrics"] else "Failed"]
        cells += [f"{m[c]:.5g}" if c in m else "-" for c in metric_cols]
        cells += [str(r["params"].get(k, "-")) for k in keys]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        main(prog=f"python -m {__package__}.multirun")
    except UserError as err:
        log.error("multirun: error: %s", err)
        sys.exit(err.exit_code)
