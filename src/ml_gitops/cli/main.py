"""The one command line: a subcommand per pipeline stage and per lifecycle step.

Heavy libraries are imported inside the commands, so `ml-gitops gate` or
`ml-gitops params check` start in a fraction of a second.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .. import __version__
from ..adapters.progress import setup_logging
from ..config import paths
from ..config.errors import UserError

PROG = "ml-gitops"
ROOT_PACKAGE = __package__.rsplit(".", 1)[0]
Handler = Callable[[argparse.Namespace], int | None]


def _params_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--params",
        type=Path,
        default=Path("params.yaml"),
        help="composed config (default: params.yaml)",
    )


def _stage(sub: Any, name: str, help_: str, args: dict[str, Path]) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help_, description=help_)
    _params_arg(p)
    for flag, default in args.items():
        p.add_argument(f"--{flag.replace('_', '-')}", dest=flag, type=Path, default=default)
    p.set_defaults(handler=_run_stage(name, list(args)))
    return p


def _run_stage(name: str, keys: list[str]) -> Handler:
    def handler(ns: argparse.Namespace) -> None:
        import importlib

        package = "adapters.onnx_export" if name == "export" else f"pipeline.{name}"
        module = importlib.import_module(f"{ROOT_PACKAGE}.{package}")
        module.main(ns.params, *(getattr(ns, k) for k in keys))

    return handler


def _params(ns: argparse.Namespace) -> int:
    from ..config import params

    if ns.action == "sync":
        changed = params.sync()
        print(f"params.yaml {'updated from' if changed else 'already matches'} conf/")
    else:
        params.check()
        from ..config.settings import load_settings

        load_settings()
        print("params.yaml matches conf/ and validates")
    return 0


def _show_metrics(ns: argparse.Namespace) -> int:
    from ..adapters.io import read_json
    from ..core.metrics import METRICS

    m = read_json(ns.metrics)
    rows = ["| metric | value | 95% CI |", "|---|---:|---|"]
    for name in METRICS:
        if name in m:
            rows.append(f"| {name} | {m[name]:.4f} | [{m[name + '_ci_low']:.4f}, {m[name + '_ci_high']:.4f}] |")
    print("\n".join(rows))
    print(f"\n{m.get('n_test', '?')} test rows; metrics in {ns.metrics}, plots in {paths.FIGURES}/")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="say more (-vv: debug)")
    parser.add_argument("-q", "--quiet", action="count", default=0, help="say less: warnings and errors only")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _stage(sub, "ingest", "read the configured source into Parquet", {"out": paths.DATASET})
    _stage(
        sub,
        "validate",
        "check the data against the schema",
        {
            "dataset": paths.DATASET,
            "out": paths.VALIDATED,
            "report": paths.VALIDATION_REPORT,
            "schema_out": paths.SCHEMA,
        },
    )
    _stage(
        sub,
        "split",
        "seeded, stratified train/test split",
        {"validated": paths.VALIDATED, "train_out": paths.TRAIN, "test_out": paths.TEST},
    )
    _stage(
        sub,
        "train",
        "fit the model pipeline",
        {
            "train": paths.TRAIN,
            "model": paths.MODEL,
            "signature": paths.SIGNATURE,
            "summary": paths.TRAIN_SUMMARY,
            "onnx": paths.ONNX,
            "onnx_report": paths.ONNX_REPORT,
            "schema": paths.SCHEMA,
        },
    )
    _stage(
        sub,
        "evaluate",
        "metrics with bootstrap intervals, plots",
        {
            "model": paths.MODEL,
            "test": paths.TEST,
            "metrics": paths.METRICS,
            "predictions": paths.PREDICTIONS,
            "plots": paths.PLOTS,
            "figures": paths.FIGURES,
            "onnx": paths.ONNX,
            "onnx_report": paths.ONNX_REPORT,
            "signature": paths.SIGNATURE,
        },
    )
    _stage(
        sub,
        "gate",
        "fail when a metric is under its floor",
        {"metrics": paths.METRICS, "out": paths.GATE},
    )

    _stage(
        sub,
        "export",
        "re-export a saved model to ONNX and check it matches scikit-learn on --rows (train does this in the pipeline)",
        {
            "model": paths.MODEL,
            "signature": paths.SIGNATURE,
            "rows": paths.TEST,
            "out": paths.ONNX,
            "report": paths.ONNX_REPORT,
        },
    )

    p = sub.add_parser("params", help="compose conf/ into params.yaml, or check they agree")
    p.add_argument("action", choices=["sync", "check"])
    p.set_defaults(handler=_params)

    p = sub.add_parser("metrics", help="print the metrics table")
    p.add_argument("--metrics", type=Path, default=paths.METRICS)
    p.set_defaults(handler=_show_metrics)

    for name in COMMAND_MODULES:
        import importlib

        importlib.import_module(f"{__package__}.{name}").register(sub)
    return parser


# Lifecycle commands beyond the pipeline live in `commands/<name>.py`, each with
# a `register(subparsers)` that adds its subcommands. Keep their top-level
# imports light: every CLI start imports them all.
COMMAND_MODULES: list[str] = [
    "registry",
    "release",
    "template",
    "report",
    "serve",
    "monitor",
    "retrain",
    "sweep",
    "multirun",
]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit code; a user error is one line on stderr, no traceback."""
    os.environ.setdefault("PYTHONHASHSEED", "0")
    parser = build_parser()
    ns = parser.parse_args(argv)
    setup_logging(ns.verbose - ns.quiet)
    try:
        rc = int(ns.handler(ns) or 0)
    except UserError as err:
        logging.getLogger(PROG).error("%s %s: error: %s", PROG, ns.command, err)
        rc = err.exit_code
    except KeyboardInterrupt:
        rc = 130
    return rc


if __name__ == "__main__":
    sys.exit(main())
