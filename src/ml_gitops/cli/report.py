"""`pr report|gate`: compare this branch's pipeline outputs with its base revision.

`pr report` writes the PR comment (markdown + side-by-side PNGs) and never fails
on a bad model, so the comment is posted either way; `pr gate` applies the same
comparison's rules and exits 1 with a one-line reason. Both default the base
to the merge base with main (origin/main in a CI checkout). When the base's
predictions cannot be pulled (a fork PR has no DVC credentials), both rebuild
them from git (`dvc repro` at the base in a worktree); when that fails too, the
gate fails with "cannot compare with <base>: <reason>", never a pass.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import paths

if TYPE_CHECKING:
    from ..prloop.report import Comparison, Side

REPORT_MD = Path("reports/pr-report.md")
REPORT_JSON = Path("reports/pr-report.json")
REPORT_FIGURES = Path("reports/pr")
log = logging.getLogger(__name__)


def _common(p: argparse.ArgumentParser) -> None:
    from . import main as cli

    p.add_argument(
        "--base",
        default=None,
        metavar="REV",
        help="base revision (default: merge base of HEAD with main, else origin/main)",
    )
    cli._params_arg(p)
    p.add_argument(
        "--no-rebuild",
        dest="rebuild",
        action="store_false",
        help="do not rebuild the base's outputs from git when they cannot be pulled (the gate then fails)",
    )


def register(sub: Any) -> None:
    group = sub.add_parser(
        "pr",
        help="the pull-request loop: report and gate this branch against its base revision",
        description=__doc__,
    )
    actions = group.add_subparsers(dest="pr_command", required=True, metavar="ACTION")
    p = actions.add_parser(
        "report",
        help="PR report: metrics (paired-bootstrap deltas), params, data, plots vs the base revision",
        description=__doc__,
    )
    _common(p)
    p.add_argument("--out", type=Path, default=REPORT_MD, help="the markdown report (the PR comment)")
    p.add_argument("--json", type=Path, default=REPORT_JSON, help="the comparison as JSON")
    p.add_argument("--figures", type=Path, default=REPORT_FIGURES, help="folder for the side-by-side PNGs")
    p.add_argument(
        "--plots-url",
        default=None,
        metavar="URL",
        help="link the PNGs at this URL (e.g. the workflow run holding them as an artifact) instead of embedding them",
    )
    p.set_defaults(handler=_report)

    p = actions.add_parser(
        "gate",
        help="quality gate vs the base: floors, and no significant regression beyond conf/gate/ max_regression",
        description=__doc__,
    )
    _common(p)
    p.set_defaults(handler=_gate)


def build(
    base_spec: str | None, params_file: Path, root: Path, with_params: bool, rebuild: bool = True
) -> tuple[Comparison, Side, Side]:
    """Collect both sides and compare them (the report and the gate share this)."""
    from ..adapters import revision
    from ..config.settings import load_settings
    from ..prloop import base as base_outputs
    from ..prloop import report

    settings = load_settings(params_file)
    rev = revision.resolve_base(base_spec, root)
    diff_proc = revision.start_params_diff(rev, root) if (with_params and rev) else None
    head = report.collect_head(root)
    base = base_outputs.obtain(rev, root, rebuild=rebuild)
    params, note = None, "no base revision" if rev is None else ""
    if diff_proc is not None:
        flat, note = revision.finish_params_diff(diff_proc)
        if flat is not None:
            params = [(k, v["old"], v["new"]) for k, v in flat.items()]
    if head.metrics is None:
        from ..config.errors import UserError

        raise UserError(f"{paths.METRICS}: not found on this branch; run the pipeline first (make repro)")
    return report.compare(base, head, settings.gate, settings.evaluate, params, note), base, head


def _report(ns: argparse.Namespace) -> int:
    import os

    from ..adapters.io import write_json, write_text
    from ..prloop import report

    root = Path()
    c, base, head = build(ns.base, ns.params, root, with_params=True, rebuild=ns.rebuild)
    ns.figures.mkdir(parents=True, exist_ok=True)
    for stale in ns.figures.glob("*.png"):
        stale.unlink()
    figures = report.draw_plots(base.plots, head.plots, c.base_label.strip("`"), ns.figures)
    rel = [os.path.relpath(f, ns.out.parent).replace(os.sep, "/") for f in figures]
    write_text(ns.out, report.render_markdown(c, rel, ns.plots_url or None))
    write_json(ns.json, report.to_json(c))
    log.info("report: %s (gate %s; %d figure(s) in %s/)", ns.out, c.gate.line.split(":")[0], len(figures), ns.figures)
    return 0


def _gate(ns: argparse.Namespace) -> int:
    from ..config.errors import GateFailure

    c, _, _ = build(ns.base, ns.params, Path(), with_params=False, rebuild=ns.rebuild)
    if c.gate.cannot_compare:
        raise GateFailure(c.gate.line)
    if not c.gate.passed:
        raise GateFailure(f"{c.gate.line} (base {c.base_label.strip('`')}; rules in conf/gate/)")
    log.info("pr gate: %s (base %s)", c.gate.line, c.base_label.strip("`"))
    return 0
