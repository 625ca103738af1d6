"""The base revision's outputs for the PR report, obtained so that the gate fails closed.

The base's small outputs (metrics, plots, dvc.lock) are git-tracked; its per-row
predictions, which the paired bootstrap needs, live in DVC. A fork PR has no
credentials for the DVC remote, so those predictions often cannot be pulled.
Without them no regression can be counted, and a gate that then passed would
let a real regression through. So when they cannot be pulled they are rebuilt
from git: the pipeline is reproducible, and ``dvc repro`` on the base commit in
a ``git worktree`` (sharing this checkout's DVC cache, so unchanged stages are
cache hits) recreates them. Only when that fails too is the base marked
unavailable, which the gate turns into a "cannot compare" failure, never a pass.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from ..adapters import dvc, git, revision
from ..config import paths
from ..config.errors import UserError
from .report import Side, collect_base, collect_head

log = logging.getLogger(__name__)


def needs_rebuild(side: Side) -> bool:
    """The base has compared outputs (metrics) but its predictions could not be read."""
    return side.metrics is not None and side.predictions is None and side.unavailable == ""


def obtain(rev: str | None, root: Path = Path(), rebuild: bool = True) -> Side:
    """The base's outputs: from git and DVC, else rebuilt from git, else marked unavailable."""
    side = collect_base(rev, root)
    if rev is None or not needs_rebuild(side):
        return side
    log.info("base %s: %s", side.label.strip("`"), side.predictions_note)
    pulled = f"its {paths.PREDICTIONS.as_posix()} is neither in the DVC cache nor in a reachable DVC remote"
    if not rebuild:
        return replace(side, unavailable=f"{pulled} (rebuilding from git is turned off)")
    log.info("base %s: rebuilding its outputs from git (dvc repro in a worktree)", side.label.strip("`"))
    try:
        rebuilt = rebuild_from_git(rev, root, side.label)
    except UserError as err:
        return replace(side, unavailable=f"{pulled}, and rebuilding it from git failed: {err}")
    if rebuilt.predictions is None:
        return replace(side, unavailable=f"{pulled}, and `dvc repro` at the base did not produce {paths.PREDICTIONS}")
    return replace(rebuilt, source=f"rebuilt from git with `dvc repro` at {side.label} ({pulled})")


def _worktree_env(tree: Path) -> dict[str, str]:
    """The base's own code runs its stages: its src/ first on the import path, this interpreter's bin/ on PATH."""
    pythonpath = os.pathsep.join(p for p in (str(tree / "src"), os.environ.get("PYTHONPATH", "")) if p)
    bindir = str(Path(sys.executable).parent)
    return {"PYTHONPATH": pythonpath, "PATH": os.pathsep.join((bindir, os.environ.get("PATH", "")))}


def rebuild_from_git(rev: str, root: Path, label: str) -> Side:
    """``dvc repro`` on ``rev`` in a temporary git worktree that shares this checkout's DVC cache."""
    cache = dvc.run("cache", "dir", cwd=root).stdout.strip()
    tree = Path(tempfile.mkdtemp(prefix="ml-gitops-base-"))
    try:
        git.run("worktree", "add", "--detach", "--force", str(tree), rev, cwd=root)
        dvc.run("cache", "dir", "--local", str(Path(root, cache).resolve()), cwd=tree)
        # Whatever the shared cache already holds (this branch's unchanged stages) is checked out;
        # what it lacks is reported missing here and rebuilt by repro.
        dvc.run("checkout", cwd=tree, check=False)
        dvc.run("repro", cwd=tree, env=_worktree_env(tree), what=f"dvc repro at {revision.short(rev, root)}")
        return collect_head(tree, label=label, where="the rebuilt base")
    finally:
        git.run("worktree", "remove", "--force", str(tree), cwd=root, check=False)
        shutil.rmtree(tree, ignore_errors=True)
        git.run("worktree", "prune", cwd=root, check=False)
