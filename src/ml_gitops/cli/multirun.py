"""`multirun` and `multirun-table`: Hydra launchers (joblib, Ray, SLURM) over the training code."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "multirun",
        help="Hydra multirun of split+train+evaluate through a launcher (conf/hydra/launcher/)",
        description="Runs `@hydra.main` on conf/ in multirun mode: each sweep point is a job of the "
        "chosen launcher (hydra/launcher=joblib_local | ray_local | slurm) training on the pipeline's "
        "validated data; metrics land in each job's directory under multirun/. Example: "
        "ml-gitops multirun hydra/launcher=joblib_local model.C=0.1,1,10",
    )
    p.add_argument("overrides", nargs="*", help="Hydra overrides (comma lists are swept)")
    p.set_defaults(handler=_multirun)

    p = sub.add_parser("multirun-table", help="one markdown table of a multirun's jobs, best first")
    p.add_argument(
        "sweep_dir", type=Path, nargs="?", help="the multirun directory (default: the latest under multirun/)"
    )
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.set_defaults(handler=_table)


def _multirun(ns: argparse.Namespace) -> int:
    from ..experiments import multirun
    from . import main as cli

    multirun.main(["--multirun", *ns.overrides], prog=f"{cli.PROG} multirun")
    return 0


def _table(ns: argparse.Namespace) -> int:
    from ..config.settings import load_settings
    from ..experiments import multirun
    from ..experiments.sweep import parse_sweep_settings

    cfg = parse_sweep_settings(load_settings(ns.params).extra_groups.get("sweep"), str(ns.params))
    rows = multirun.collect(ns.sweep_dir or multirun.latest())
    print(multirun.markdown_table(rows, cfg.metric, cfg.lower_is_better))
    failed = sum(1 for r in rows if r["metrics"] is None)
    print(f"\n{len(rows)} job(s), {failed} without metrics; sorted by {cfg.metric}")
    return 0
