"""The retraining loop: decide whether to retrain, then retrain on a branch that goes through the PR loop.

`run_retrain` needs only git and DVC (it works against any origin, a local
bare one in tests): refresh the data source, branch, `dvc repro`, commit,
push the branch and the DVC outputs. Opening the pull request is the only
GitHub step and lives in `open_pr`, so everything before it runs offline.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ..adapters import dvc, git
from ..config import paths
from ..config.errors import UserError
from ..config.monitor import RetrainSettings

if TYPE_CHECKING:
    from ..config.settings import Settings

DRIFT_KINDS = frozenset({"drift", "quality", "prediction"})
HEADLINE_METRICS = ("accuracy", "balanced_accuracy", "roc_auc")
log = logging.getLogger(__name__)


def _gh(*args: str, what: str) -> str:
    """The GitHub CLI (found on PATH: GitHub-hosted runners have it preinstalled)."""
    gh = shutil.which("gh")
    if gh is None:
        raise UserError("gh (GitHub CLI) not found on PATH; it is preinstalled on GitHub-hosted runners")
    proc = subprocess.run([gh, *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout or "").strip().splitlines()
        tail = f": {detail[-1]}" if detail else ""
        raise UserError(f"{what} failed (exit {proc.returncode}){tail}")
    return proc.stdout


def source_state(settings: Settings, lock: Path = paths.DVC_LOCK) -> dict[str, Any]:
    """The data source's md5 now and as recorded in dvc.lock (ingest's dependency)."""
    path = Path(settings.data.source.path)
    md5 = dvc.file_md5(path) if path.is_file() else None
    recorded = dvc.lock_hashes(dvc.read_lock(lock)).get(path.as_posix())
    return {"path": path.as_posix(), "md5": md5, "lock_md5": recorded, "changed": md5 != recorded}


def decide(cfg: RetrainSettings, report: dict[str, Any] | None, event: str, source: dict[str, Any]) -> dict[str, Any]:
    """Which switched-on triggers fired; retrain when enabled and at least one did."""
    kinds = set((report or {}).get("breach_kinds") or [])
    fired = {
        "schedule": event == "schedule",
        "new_data": bool(source.get("changed")),
        "drift": bool(kinds & DRIFT_KINDS),
        "performance": "performance" in kinds,
    }
    switched = cfg.triggers.model_dump()
    reasons = [name for name, hit in fired.items() if hit and switched[name]]
    out = {"enabled": cfg.enabled, "fired": fired, "switched_on": switched, "reasons": reasons}
    out["retrain"] = bool(cfg.enabled and reasons)
    if not cfg.enabled:
        out["why"] = "retrain.enabled is false"
    elif not reasons:
        out["why"] = "no switched-on trigger fired"
    else:
        out["why"] = "triggered by " + ", ".join(reasons)
    return out


def _dirty(allowed: set[str]) -> list[str]:
    lines = git.output("status", "--porcelain", "--untracked-files=all").splitlines()
    paths = [line[3:].strip().strip('"') for line in lines if line.strip()]
    return [p for p in paths if p not in allowed]


def refresh(settings: Settings, cfg: RetrainSettings) -> str:
    """Bring the data source up to date: `dvc update` for an import, `dvc add` for a tracked file."""
    path = Path(settings.data.source.path)
    dvcfile = path.with_name(path.name + ".dvc")
    if cfg.refresh == "none" or settings.data.source.kind != "file" or not dvcfile.exists():
        return "none (the source path's current content is the new data)"
    meta = yaml.safe_load(dvcfile.read_text(encoding="utf-8")) or {}
    if meta.get("deps"):
        dvc.run("update", str(dvcfile))
        return f"dvc update {dvcfile}"
    dvc.run("add", str(path))
    return f"dvc add {path}"


def _metrics(text: str | None) -> dict[str, float]:
    try:
        return json.loads(text) if text else {}
    except json.JSONDecodeError:
        return {}


def commit_message(branch: str, reasons: list[str], source: dict[str, Any], before: dict, after: dict) -> str:
    lines = [
        f"Retrain: {', '.join(reasons) or 'manual'} ({branch.rsplit('/', 1)[-1]})",
        "",
        f"Data source `{source['path']}`: md5 {source.get('lock_md5')} -> {source.get('md5')}.",
        "Pipeline re-run with `dvc repro`; the PR loop compares this model with the base branch.",
        "",
        "| metric | before | after |",
        "|---|---:|---:|",
    ]
    for m in HEADLINE_METRICS:
        b, a = before.get(m), after.get(m)
        lines.append(f"| {m} | {'–' if b is None else f'{b:.4f}'} | {'–' if a is None else f'{a:.4f}'} |")
    return "\n".join(lines) + "\n"


def run_retrain(settings: Settings, cfg: RetrainSettings, reasons: list[str], *, today: dt.date | None = None) -> dict:
    """Refresh, branch, reproduce, commit, push. Returns what happened (``changed`` False: nothing to do)."""
    start = git.output("rev-parse", "--abbrev-ref", "HEAD").strip()
    # A CI checkout is a detached HEAD: going back then means the commit, not a branch named HEAD.
    back = ["--detach", git.output("rev-parse", "HEAD").strip()] if start == "HEAD" else [start]
    src = Path(settings.data.source.path).as_posix()
    dirty = _dirty({src, f"{src}.dvc"})
    if dirty:
        raise UserError(f"working tree not clean ({dirty[0]} and {len(dirty) - 1} more): commit or stash first")
    how = refresh(settings, cfg)
    source = source_state(settings)
    before = _metrics(git.show_text("HEAD", paths.METRICS))
    stamp = (today or dt.datetime.now(dt.UTC).date()).strftime("%Y%m%d")
    branch = f"{cfg.branch_prefix}{stamp}-{(source['md5'] or 'source')[:8]}"
    if git.output("branch", "--list", branch).strip():
        raise UserError(f"branch {branch} already exists: this data was already retrained on")
    git.run("switch", "-q", "-c", branch)
    log.info("retrain: refresh: %s; branch %s; running dvc repro", how, branch)
    try:
        dvc.run("repro", capture=False)
    except UserError as err:
        raise UserError(
            f"{err}; left on branch {branch} for inspection (`git switch {' '.join(back)}` to go back)"
        ) from None
    git.run("add", "-A")
    if git.succeeds("diff", "--cached", "--quiet"):
        git.run("switch", "-q", *back)
        git.run("branch", "-q", "-D", branch)
        return {"changed": False, "branch": None, "source": source, "why": "data and outputs unchanged"}
    after = _metrics(Path(paths.METRICS).read_text(encoding="utf-8") if Path(paths.METRICS).exists() else None)
    git.run("commit", "-q", "-m", commit_message(branch, reasons, source, before, after))
    git.run("push", "-q", "-u", cfg.remote, branch)
    if cfg.dvc_push:
        dvc.run("push")
    return {"changed": True, "branch": branch, "base": cfg.base, "source": source, "reasons": reasons}


def open_pr(cfg: RetrainSettings, body_extra: Path | None = None) -> str:
    """`gh pr create` for the current retrain branch (the one GitHub-only step); idempotent."""
    branch = git.output("rev-parse", "--abbrev-ref", "HEAD").strip()
    if not branch.startswith(cfg.branch_prefix):
        raise UserError(
            f"current branch {branch!r} is not a retrain branch ({cfg.branch_prefix}...): run retrain first"
        )
    existing = json.loads(_gh("pr", "list", "--head", branch, "--json", "url", what="gh pr list") or "[]")
    if existing:
        return str(existing[0]["url"])
    title = git.output("log", "-1", "--format=%s").strip()
    body = git.output("log", "-1", "--format=%b")
    if body_extra is not None and body_extra.exists():
        body += "\n" + body_extra.read_text(encoding="utf-8")
    out = _gh(
        "pr", "create", "--base", cfg.base, "--head", branch, "--title", title, "--body", body, what="gh pr create"
    )
    return out.strip()
