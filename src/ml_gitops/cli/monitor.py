"""`monitor run`: drift, data quality, prediction drift and feedback performance; `monitor issue`: one GitHub issue.

Exit codes of `monitor run`: 0 healthy, 1 breach, 2 cannot judge (too few rows,
unpinned reference, unreadable log). The reports are written in every case that
gets as far as reading the window, so a workflow can always upload them.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# The workflow passes the log's URL (a secret for a real database) through this variable.
LOG_URL_ENV = "MONITOR_LOG_URL"
ISSUE_TITLE = "Model monitor: breach"
ISSUE_LABEL = "model-monitor"


def _positive(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return n


def _log_url_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--log-url", help=f"SQLAlchemy URL of the prediction log (default: ${LOG_URL_ENV}, then monitor.log_url)"
    )


def _log_url(ns: argparse.Namespace, configured: str) -> str:
    """--log-url, else $MONITOR_LOG_URL, else the configured monitor.log_url."""
    return str(ns.log_url or os.environ.get(LOG_URL_ENV) or configured)


def _github_output(**values: str) -> None:
    """Hand results to later workflow steps (no-op outside GitHub Actions)."""
    from ..adapters.io import append_github_output

    append_github_output(os.environ.get("GITHUB_OUTPUT"), values)


def _monitor(ns: argparse.Namespace) -> int:
    from ..config.errors import UserError
    from ..config.monitor import monitor_settings
    from ..config.settings import load_settings
    from ..monitoring.deployed import Deployed, resolve
    from ..monitoring.logsource import Window, parse_time
    from ..monitoring.run import monitor, summary, write_reports

    settings = load_settings(ns.params)
    cfg = monitor_settings(settings)
    if ns.current is not None and (ns.since or ns.until or ns.last):
        raise UserError("--current reads a batch file: it cannot be combined with --since/--until/--last")
    since = parse_time(ns.since, flag="--since")
    until = parse_time(ns.until, flag="--until")
    window = Window(since, until, ns.last if ns.last else (None if since or until else cfg.default_last))
    log_url = _log_url(ns, cfg.log_url)
    try:
        stage = None if ns.workspace else (ns.stage if ns.stage is not None else cfg.stage)
        deployed = Deployed() if ns.workspace else resolve(Path.cwd(), stage, ns.version)
        _github_output(version=deployed.version or "")
        report, ref, cur = monitor(settings, cfg, window=window, current=ns.current, log_url=log_url, deployed=deployed)
    except UserError:
        _github_output(status="error", exit_code="2")
        raise
    if cfg.compare.in_report and ns.current is None:
        from ..monitoring.compare import compare_log, has_candidate

        if has_candidate(log_url):  # a shadow or canary ran: the report gets its comparison section
            report["comparison"] = compare_log(log_url, cfg.compare)
    written = write_reports(report, ref, cur, cfg)
    log.info("%s", summary(report))
    log.info("reports: %s", ", ".join(p.as_posix() for p in written))
    _github_output(status=report["status"], exit_code=str(report["exit_code"]))
    if report["status"] == "cannot_judge":
        raise UserError(report["reason"])
    return int(report["exit_code"])


def _compare(ns: argparse.Namespace) -> int:
    """Candidate vs current from the prediction log: print the section, write JSON + Markdown, say the verdict."""
    from ..adapters.io import write_json, write_text
    from ..config.monitor import monitor_settings
    from ..config.settings import load_settings
    from ..monitoring.compare import compare_log, markdown

    monitor_cfg = monitor_settings(load_settings(ns.params))
    cfg = monitor_cfg.compare
    result = compare_log(_log_url(ns, monitor_cfg.log_url), cfg, ns.current, ns.candidate)
    md = "\n".join(markdown(result))
    write_json(Path(cfg.json_), result)
    write_text(Path(cfg.markdown), md)
    print(md)
    log.info("compare: %s (%s)", result["verdict"], result["reason"])
    _github_output(verdict=result["verdict"], candidate=result["candidate"]["version"])
    return 0


def _prune(ns: argparse.Namespace) -> int:
    """Apply serve.log_retention to the prediction log (predictions and their feedback); print the counts."""
    from ..adapters.predlog import PredictionLog, redact
    from ..config.monitor import monitor_settings
    from ..config.serve import serve_settings
    from ..config.settings import load_settings

    settings = load_settings(ns.params)
    keep = serve_settings(settings, str(ns.params)).log_retention
    url = _log_url(ns, monitor_settings(settings).log_url)
    if keep.max_age_days is None and keep.max_rows is None:
        log.info("prune: serve.log_retention sets no limit: nothing deleted")
        return 0
    deleted = PredictionLog(url).create().prune(keep.max_age_days, keep.max_rows)
    print(
        f"prune: deleted {deleted['predictions']} prediction(s) and {deleted['feedback']} feedback row(s) "
        f"from {redact(url)} (max_age_days: {keep.max_age_days}, max_rows: {keep.max_rows})"
    )
    return 0


def issue_plan(existing: list[dict[str, Any]], title: str) -> tuple[str, int | None]:
    """Update the open issue with our exact title, else create one: never a second issue."""
    for issue in sorted(existing, key=lambda i: int(i["number"])):
        if issue.get("title") == title:
            return "edit", int(issue["number"])
    return "create", None


def _issue(ns: argparse.Namespace) -> int:
    import json
    import shutil
    import subprocess

    from ..config.errors import UserError

    if not ns.report.exists():
        raise UserError(f"{ns.report}: report not found (run `make monitor` first)")
    gh = shutil.which("gh")
    if gh is None:
        raise UserError("gh (GitHub CLI) not found on PATH; it is preinstalled on GitHub-hosted runners")

    def call(*args: str) -> str:
        proc = subprocess.run([gh, *args], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise UserError(f"gh {args[0]} {args[1]}: {proc.stderr.strip().splitlines()[-1:] or proc.returncode}")
        return proc.stdout

    listed = call(
        "issue", "list", "--state", "open", "--label", ns.label, "--search", f"{ns.title} in:title",
        "--json", "number,title", "--limit", "50",
    )  # fmt: skip
    action, number = issue_plan(json.loads(listed or "[]"), ns.title)
    if action == "edit":
        call("issue", "edit", str(number), "--body-file", str(ns.report))
        log.info("monitor issue: updated issue #%s", number)
    else:
        call("label", "create", ns.label, "--force", "--description", "opened by the model monitor")
        url = call("issue", "create", "--title", ns.title, "--label", ns.label, "--body-file", str(ns.report))
        log.info("monitor issue: opened %s", url.strip())
    return 0


def register(sub: Any) -> None:
    from . import main as cli

    group = sub.add_parser(
        "monitor",
        help="watch the served model: drift, data quality, predictions, feedback; one GitHub issue on a breach",
        description=__doc__,
    )
    actions = group.add_subparsers(dest="monitor_command", required=True, metavar="ACTION")
    p = actions.add_parser(
        "run",
        help="drift, data quality, prediction drift and feedback performance vs the training reference",
        description=__doc__,
    )
    cli._params_arg(p)
    g = p.add_argument_group("window (default: the last monitor.default_last logged rows)")
    g.add_argument("--since", help="ISO date/time (UTC) or an age such as 7d, 24h")
    g.add_argument("--until", help="ISO date/time (UTC) or an age; exclusive")
    g.add_argument("--last", type=_positive, help="the last N logged rows (within --since/--until if given)")
    g.add_argument("--current", type=Path, help="a batch file (CSV/Parquet) instead of the prediction log")
    _log_url_arg(p)
    d = p.add_argument_group("judged model (default: the version at registry stage monitor.stage)")
    which = d.add_mutually_exclusive_group()
    which.add_argument("--stage", help="judge the version this registry stage points to")
    which.add_argument("--version", help="judge this registered version (e.g. v0.2.0)")
    which.add_argument(
        "--workspace", action="store_true", help="the working tree's model and reference, all logged traffic"
    )
    p.set_defaults(handler=_monitor)

    p = actions.add_parser(
        "compare",
        help="candidate vs current in the prediction log (shadow/canary): agreement, accuracy CIs, latency, verdict",
        description="Compare two versions in the prediction log and say promote, hold or roll back "
        "(rules: monitor.compare). Writes monitor.compare.json/markdown and prints the section.",
    )
    cli._params_arg(p)
    _log_url_arg(p)
    p.add_argument("--current", help="the current version (default: the one besides the candidate)")
    p.add_argument("--candidate", help="the candidate version (default: the shadow rows' version, else the rarer one)")
    p.set_defaults(handler=_compare)

    p = actions.add_parser(
        "prune",
        help="delete predictions (and their feedback) beyond serve.log_retention (max_age_days, max_rows)",
        description="Apply serve.log_retention to the prediction log and print how many rows went.",
    )
    cli._params_arg(p)
    _log_url_arg(p)
    p.set_defaults(handler=_prune)

    p = actions.add_parser("issue", help="open or update the one GitHub issue with the monitor report (gh)")
    p.add_argument("--report", type=Path, default=Path("reports/monitor.md"), help="the markdown report to post")
    p.add_argument("--title", default=ISSUE_TITLE, help="issue title: the open issue with this title is updated")
    p.add_argument("--label", default=ISSUE_LABEL, help="label the issue carries (created when missing)")
    p.set_defaults(handler=_issue)
