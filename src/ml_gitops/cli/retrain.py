"""`retrain run|decide|open-pr`: decide, retrain on a branch (git + DVC only), open the PR (the one GitHub step).

ml-gitops retrain run      refresh the source, branch retrain/<date>-<md5>, dvc repro, commit, push (+ dvc push)
ml-gitops retrain decide   which switched-on triggers fired (schedule, new data, drift, performance)
ml-gitops retrain open-pr  gh pr create for the current retrain branch
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
MONITOR_JSON = Path("reports/monitor.json")


def _load(ns: argparse.Namespace) -> tuple[Any, Any]:
    from ..config.monitor import retrain_settings
    from ..config.settings import load_settings

    settings = load_settings(ns.params)
    return settings, retrain_settings(settings)


def _report(path: Path) -> dict[str, Any] | None:
    from ..adapters.io import read_json

    return read_json(path) if path.exists() else None


def _summary(line: str) -> None:
    """One line in the workflow's job summary (no-op outside GitHub Actions): what the job concluded."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as fh:  # appending is the summary file's contract
            fh.write(line + "\n")


def _decide(ns: argparse.Namespace) -> int:
    from ..monitoring.retrain import decide, source_state
    from .monitor import _github_output

    settings, cfg = _load(ns)
    event = ns.event or os.environ.get("GITHUB_EVENT_NAME") or "manual"
    d = decide(cfg, _report(ns.report), event, source_state(settings))
    print(f"retrain={'true' if d['retrain'] else 'false'}: {d['why']}")  # the answer: stdout
    _github_output(retrain="true" if d["retrain"] else "false", reasons=",".join(d["reasons"]))
    if not d["retrain"]:
        _summary(f"Retraining: nothing to do ({d['why']}).")
    return 0


def _run(ns: argparse.Namespace) -> int:
    from ..monitoring.retrain import decide, run_retrain, source_state
    from .monitor import _github_output

    settings, cfg = _load(ns)
    d = decide(cfg, _report(ns.report), "manual", source_state(settings))
    given = [r.strip() for r in (ns.reasons or "").split(",") if r.strip()]
    reasons = given or [r for r, hit in d["fired"].items() if hit] or ["manual"]
    out = run_retrain(settings, cfg, reasons)
    # The branch output is what the workflow's PR step waits for: empty means no PR to open.
    _github_output(branch=out["branch"] or "", changed="true" if out["changed"] else "false")
    if not out["changed"]:
        log.info("retrain: nothing to do (%s); no branch created", out["why"])
        _summary(f"Retraining: nothing to do ({out['why']}); no branch, no pull request.")
        return 0
    log.info(
        "retrain: pushed %s to %s (base %s); open the PR with `make retrain-pr`", out["branch"], cfg.remote, cfg.base
    )
    _summary(f"Retraining: pushed `{out['branch']}` ({', '.join(reasons)}); opening its pull request.")
    return 0


def _open_pr(ns: argparse.Namespace) -> int:
    from ..monitoring.retrain import open_pr

    _, cfg = _load(ns)
    log.info("retrain: pull request %s", open_pr(cfg, ns.report_md))
    return 0


def register(sub: Any) -> None:
    from . import main as cli

    p = sub.add_parser("retrain", help="retrain on a branch and open the PR, when a trigger fired", description=__doc__)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    def report(a: argparse.ArgumentParser) -> None:
        a.add_argument("--report", type=Path, default=MONITOR_JSON, help="the monitor report, if any (JSON)")

    r = actions.add_parser("run", help="refresh the data, branch, dvc repro, commit, push (+ dvc push)")
    cli._params_arg(r)
    report(r)
    r.add_argument("--reasons", help="comma-separated triggers for the commit message (default: those that fired)")
    r.set_defaults(handler=_run)
    d = actions.add_parser("decide", help="should the scheduled workflow retrain? (prints retrain=true|false)")
    cli._params_arg(d)
    report(d)
    d.add_argument("--event", help="schedule | workflow_dispatch | manual (default: $GITHUB_EVENT_NAME, else manual)")
    d.set_defaults(handler=_decide)
    o = actions.add_parser("open-pr", help="gh pr create for the current retrain branch")
    cli._params_arg(o)
    o.add_argument("--report-md", type=Path, default=Path("reports/monitor.md"), help="appended to the PR body")
    o.set_defaults(handler=_open_pr)
