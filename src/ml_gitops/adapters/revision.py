"""Read a pipeline's outputs as they were at a git revision (git- and DVC-tracked alike).

The PR report compares the working tree with a base revision. Small outputs
(metrics, validation summary, plot CSVs, dvc.lock) are git-tracked, so
`git show` reads them. DVC-cached outputs (the per-row predictions) come
through `dvc.api` at that revision (the local cache first, else the remote).
Anything missing is reported as ``None`` with the reason, never raised: a
first PR has no base outputs at all.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from ..config.errors import UserError
from . import dvc, git

# Branches the default base is the merge base with, in order of preference.
DEFAULT_BASE_REFS: tuple[str, ...] = ("main", "origin/main")


def resolve_base(spec: str | None, cwd: Path = Path()) -> str | None:
    """The base commit: ``spec`` if given, else the merge base of HEAD with main (or origin/main).

    Returns None when no base exists (a repository without main); an explicit
    ``spec`` that does not name a commit is the user's error.
    """
    if spec:
        commit = git.commit_of(spec, cwd)
        if commit is None:
            raise UserError(f"--base {spec}: not a commit in this repository (fetch it first?)")
        return commit
    for ref in DEFAULT_BASE_REFS:
        proc = git.run("merge-base", "HEAD", ref, cwd=cwd, check=False)
        if proc.returncode == 0 and proc.stdout.strip():
            return proc.stdout.decode().strip()
    return None


def short(rev: str | None, cwd: Path = Path()) -> str:
    if not rev:
        return "none"
    proc = git.run("rev-parse", "--short", rev, cwd=cwd, check=False)
    return proc.stdout.decode().strip() if proc.returncode == 0 else rev[:8]


def read_output(rev: str, path: str, lock: dict[str, Any] | None, root: Path = Path()) -> tuple[bytes | None, str]:
    """A DVC-tracked file's bytes at ``rev`` and where they came from (or why they are missing)."""
    if path not in dvc.lock_hashes(lock):
        return None, f"{path} is not in the base's dvc.lock"
    try:
        return dvc.read_output(rev, path, root), "DVC cache or remote"
    except UserError as err:
        return None, str(err)


def start_params_diff(rev: str, cwd: Path = Path()) -> subprocess.Popen[str] | str:
    """`dvc params diff REV --json` in the background, to overlap with the report's other reads.

    Returns the reason instead when dvc cannot even start.
    """
    try:
        return dvc.start("params", "diff", rev, "--json", cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as err:
        return f"cannot run dvc ({err.strerror})"


def finish_params_diff(proc: subprocess.Popen[str] | str) -> tuple[dict[str, dict[str, Any]] | None, str]:
    """Flattened {file:key -> {old, new}} from `dvc params diff --json`, or None and the reason."""
    if isinstance(proc, str):
        return None, proc
    out, err = proc.communicate()
    if proc.returncode != 0:
        first = (err.strip().splitlines() or ["no output"])[-1]
        return None, f"dvc params diff failed: {first}"
    try:
        data = json.loads(out or "{}")
    except json.JSONDecodeError:
        return None, "dvc params diff printed no JSON"
    flat: dict[str, dict[str, Any]] = {}
    for file, keys in sorted(data.items()):
        for key, change in sorted(keys.items()):
            name = key if file == "params.yaml" else f"{file}:{key}"
            flat[name] = {"old": change.get("old"), "new": change.get("new")}
    return flat, ""
