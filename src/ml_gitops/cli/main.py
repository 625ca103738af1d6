"""The one command line: a subcommand per pipeline stage and per lifecycle step.

Heavy libraries are imported inside the commands, so `ml-gitops gate` or
`ml-gitops params check` start in a fraction of a second.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .. import __version__
from ..adapters.progress import setup_logging
from ..config import paths
from ..config.errors import UserError

PROG = "ml-gitops"
DESCRIPTION = "The ML GitOps command line: the pipeline's stages, and one command group per lifecycle step."
EPILOG = (
    "The stages (ingest, validate, split, train, evaluate, gate) are what dvc.yaml runs: use `dvc repro`. "
    f"`{PROG} COMMAND --help` describes a command and its options; the Makefile's targets (`make help`) wrap them."
)
ROOT_PACKAGE = __package__.rsplit(".", 1)[0]
Handler = Callable[[argparse.Namespace], int | None]
log = logging.getLogger(__name__)

# What each pipeline file is: the help text of the stage flags that read or write it.
PATH_HELP: dict[Path, str] = {
    paths.DATASET: "the ingested dataset (Parquet)",
    paths.VALIDATED: "the validated dataset (Parquet)",
    paths.VALIDATION_REPORT: "the validation report (JSON)",
    paths.SCHEMA: "the schema validate enforced, which train builds from (JSON)",
    paths.TRAIN: "the train split (Parquet)",
    paths.TEST: "the test split (Parquet)",
    paths.MODEL: "the fitted model pipeline (skops)",
    paths.SIGNATURE: "the model's input and output schema (JSON)",
    paths.TRAIN_SUMMARY: "the training summary (JSON)",
    paths.ONNX: "the model exported to ONNX",
    paths.ONNX_REPORT: "whether the ONNX export is usable, and why not (JSON)",
    paths.METRICS: "the metrics with bootstrap intervals (JSON)",
    paths.PREDICTIONS: "the test-set predictions (Parquet)",
    paths.PLOTS: "folder of the plot data DVC renders (CSV/JSON)",
    paths.FIGURES: "folder of the PNG figures",
    paths.GATE: "the gate's verdict (JSON)",
    paths.SLICES: "metrics per slice of the test set, with intervals (JSON)",
    paths.FAIRNESS: "group fairness differences per sensitive column (JSON)",
    paths.LEAKAGE: "test rows whose features also occur in the train split (JSON)",
    paths.EFFECTS: "partial dependence of the most important features (JSON)",
}


class HelpFormatter(argparse.HelpFormatter):
    """Wraps descriptions paragraph by paragraph, keeps lists and tables as written, shows defaults."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        out = []
        for para in textwrap.dedent(text).strip().split("\n\n"):
            lines = para.splitlines()
            if any(ln[:1].isspace() or ln.startswith(("-", "*")) or "  " in ln.strip() for ln in lines):
                out.append("\n".join(indent + ln for ln in lines))  # a list or a table: as written
            else:
                out.append(
                    textwrap.fill(
                        " ".join(lines), width, initial_indent=indent, subsequent_indent=indent, break_on_hyphens=False
                    )
                )
        return "\n\n".join(out)

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        no_default = action.default in (None, False, argparse.SUPPRESS) or not action.option_strings
        if no_default or "default" in text:
            return text
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """An ArgumentParser with our help format; subcommand parsers inherit it (argparse uses type(self)).

    Each one records its full name (`ml-gitops registry promote`) as ``prog``: the deepest
    subcommand's default wins, so ``ns.prog`` names the command in its error line.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
        self.set_defaults(prog=self.prog)


def _params_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--params", type=Path, default=paths.PARAMS, help="the composed config, written by make params")


def _stage(sub: Any, name: str, help_: str, args: dict[str, Path]) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help_, description=help_)
    _params_arg(p)
    for flag, default in args.items():
        p.add_argument(f"--{flag.replace('_', '-')}", dest=flag, type=Path, default=default, help=PATH_HELP[default])
    p.set_defaults(handler=_run_stage(name, list(args)))
    return p


def _run_stage(name: str, keys: list[str]) -> Handler:
    def handler(ns: argparse.Namespace) -> None:
        import importlib

        package = "adapters.onnx_export" if name == "export" else f"pipeline.{name}"
        module = importlib.import_module(f"{ROOT_PACKAGE}.{package}")
        module.main(ns.params, *(getattr(ns, k) for k in keys))

    return handler


def _lock(ns: argparse.Namespace) -> int:
    from ..config import stamp
    from ..config.lockfile import check_lock

    check_lock(ns.lock, thorough=True)
    log.debug("%s: readable", ns.lock)
    params = ns.lock.parent / paths.PARAMS.name
    if params.is_file():  # before any stage: also when DVC would run none (a conf/ edit it does not track)
        stamp.verify(params, params.read_text(encoding="utf-8"))
    return 0


def _params(ns: argparse.Namespace) -> int:
    from ..adapters import params

    if ns.action == "sync":
        changed = params.sync()
        log.info("params.yaml %s conf/", "updated from" if changed else "already matches")
    else:
        params.check()
        from ..config.settings import load_settings

        load_settings().model.estimator_class()  # the stages but train do not import the estimator
        log.info("params.yaml matches conf/ and validates")
    return 0


def _show_metrics(ns: argparse.Namespace) -> int:
    from ..adapters.io import read_json
    from ..core.metrics import METRICS, REGRESSION_METRICS

    m = read_json(ns.metrics)
    rows = ["| metric | value | 95% CI |", "|---|---:|---|"]
    for name in METRICS + REGRESSION_METRICS:
        if name in m:
            rows.append(f"| {name} | {m[name]:.4f} | [{m[name + '_ci_low']:.4f}, {m[name + '_ci_high']:.4f}] |")
    for name, b in m.get("baseline", {}).items():  # what the gate's relative floor judges
        rows.append(
            f"| {name}: gain over baseline ({b['baseline']:.4f}) | {b['improvement']:+.4f} "
            f"| [{b['improvement_ci_low']:+.4f}, {b['improvement_ci_high']:+.4f}] |"
        )
    print("\n".join(rows))  # the table is the command's output: stdout
    log.info("%s test rows; metrics in %s, plots in %s/", m.get("n_test", "?"), ns.metrics, paths.FIGURES)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog=PROG, description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="say more: -v our debug lines, -vv every library's too"
    )
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
            "train": paths.TRAIN,
            "slices": paths.SLICES,
            "fairness": paths.FAIRNESS,
            "leakage": paths.LEAKAGE,
            "effects": paths.EFFECTS,
        },
    )
    _stage(
        sub,
        "gate",
        "fail when a metric is under its floor",
        {"metrics": paths.METRICS, "out": paths.GATE, "fairness": paths.FAIRNESS},
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
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("sync", help="compose conf/ into params.yaml (rewritten only when it changes)")
    actions.add_parser("check", help="fail when params.yaml disagrees with conf/ or does not validate")
    p.set_defaults(handler=_params)

    p = sub.add_parser(
        "lock",
        help="check dvc.lock and params.yaml before `dvc repro` (an interrupted DVC write leaves dvc.lock empty)",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check",
        help="fail with one line when dvc.lock is empty or not valid YAML, or params.yaml is not conf/ composed",
    )
    check.add_argument("--lock", type=Path, default=paths.DVC_LOCK, help="the lock file (default: dvc.lock)")
    p.set_defaults(handler=_lock)

    p = sub.add_parser("metrics", help="print the metrics table of the last evaluate")
    p.add_argument("--metrics", type=Path, default=paths.METRICS, help=PATH_HELP[paths.METRICS])
    p.set_defaults(handler=_show_metrics)

    for name in COMMAND_MODULES:
        import importlib

        importlib.import_module(f"{__package__}.{name}").register(sub)
    return parser


# Lifecycle commands beyond the pipeline live in `cli/<name>.py`, each with
# a `register(subparsers)` that adds its command group. Keep their top-level
# imports light: every CLI start imports them all.
COMMAND_MODULES: list[str] = [
    "report",
    "registry",
    "release",
    "serve",
    "monitor",
    "retrain",
    "sweep",
    "template",
    "data",
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
        logging.getLogger(PROG).error("%s: error: %s", ns.prog, err)
        rc = err.exit_code
    except KeyboardInterrupt:
        rc = 130
    return rc


if __name__ == "__main__":
    sys.exit(main())
