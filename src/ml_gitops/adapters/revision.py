"""Read a pipeline's outputs as they were at a git revision (git- and DVC-tracked alike).

The PR report compares the working tree with a base revision. Small outputs
(metrics, validation summary, plot CSVs, dvc.lock) are git-tracked, so
`git show` reads them in milliseconds. DVC-cached outputs (the per-row
predictions) are found through the base's dvc.lock hash: first in the local
DVC cache (no DVC import, instant), else through `dvc.api` (which may fetch
from the remote). Anything missing is reported as ``None``, never raised: a
first PR has no base outputs at all.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from ..config import paths
from ..config.errors import UserError

# Branches the default base is the merge base with, in order of preference.
DEFAULT_BASE_REFS: tuple[str, ...] = ("main", "origin/main")
LOCK_FILE = paths.DVC_LOCK.as_posix()


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)


def resolve_base(spec: str | None, cwd: Path = Path()) -> str | None:
    """The base commit: ``spec`` if given, else the merge base of HEAD with main (or origin/main).

    Returns None when no base exists (a repository without main); an explicit
    ``spec`` that does not name a commit is the user's error.
    """
    if spec:
        proc = _git(["rev-parse", "--verify", "--quiet", f"{spec}^{{commit}}"], cwd)
        if proc.returncode != 0:
            raise UserError(f"--base {spec}: not a commit in this repository (fetch it first?)")
        return proc.stdout.decode().strip()
    for ref in DEFAULT_BASE_REFS:
        proc = _git(["merge-base", "HEAD", ref], cwd)
        if proc.returncode == 0 and proc.stdout.strip():
            return proc.stdout.decode().strip()
    return None


def short(rev: str | None, cwd: Path = Path()) -> str:
    if not rev:
        return "none"
    proc = _git(["rev-parse", "--short", rev], cwd)
    return proc.stdout.decode().strip() if proc.returncode == 0 else rev[:8]


def show(rev: str, path: str, cwd: Path = Path()) -> bytes | None:
    """A file's bytes at ``rev``, or None when it did not exist there."""
    proc = _git(["show", f"{rev}:{path}"], cwd)
    return proc.stdout if proc.returncode == 0 else None


def list_files(rev: str, prefix: str, cwd: Path = Path()) -> list[str]:
    proc = _git(["ls-tree", "-r", "--name-only", rev, "--", prefix], cwd)
    return proc.stdout.decode().split() if proc.returncode == 0 else []


def lock_hashes(lock: dict[str, Any] | None) -> dict[str, str]:
    """path -> md5 of every dep and out recorded in a parsed dvc.lock."""
    out: dict[str, str] = {}
    for stage in (lock or {}).get("stages", {}).values():
        for entry in [*stage.get("deps", []), *stage.get("outs", [])]:
            if "path" in entry and "md5" in entry:
                out[str(entry["path"])] = str(entry["md5"])
    return out


def parse_lock(text: bytes | str | None) -> dict[str, Any] | None:
    import yaml

    if text is None:
        return None
    # libyaml's loader when present: the pure-Python one takes ~0.3 s on a dvc.lock.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(text, Loader=loader)  # noqa: S506 (a safe loader)
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) else None


def cache_object(md5: str, root: Path = Path()) -> Path | None:
    """The object for ``md5`` in the project's default DVC cache, if it is there."""
    candidate = root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    return candidate if candidate.is_file() else None


def read_output(rev: str, path: str, lock: dict[str, Any] | None, root: Path = Path()) -> tuple[bytes | None, str]:
    """A DVC-tracked file's bytes at ``rev`` and where they came from (or why they are missing)."""
    md5 = lock_hashes(lock).get(path)
    if md5 is None:
        return None, f"{path} is not in the base's dvc.lock"
    local = cache_object(md5, root)
    if local is not None:
        return local.read_bytes(), "local DVC cache"
    try:
        import dvc.api

        with dvc.api.open(path, repo=str(root), rev=rev, mode="rb") as fh:
            return fh.read(), "DVC remote"
    except Exception as err:  # any DVC failure means "not available": the report says so
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        return None, f"{path}@{rev[:8]} is neither in the DVC cache nor in the remote ({first})"


def dvc_executable() -> str:
    """The dvc installed beside this Python (the locked env), else whatever is on PATH."""
    import sys

    beside = Path(sys.executable).with_name("dvc")
    return str(beside) if beside.is_file() else "dvc"


def start_params_diff(rev: str, cwd: Path = Path()) -> subprocess.Popen[str] | str:
    """`dvc params diff REV --json` in the background (it costs ~1 s: overlap it with other work).

    Returns the reason instead when dvc cannot even start.
    """
    try:
        return subprocess.Popen(
            [dvc_executable(), "params", "diff", rev, "--json"],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    except OSError as err:
        return f"cannot run dvc ({err.strerror})"


def finish_params_diff(proc: subprocess.Popen[str] | str) -> tuple[dict[str, dict[str, Any]] | None, str]:
    """Flattened {file:key -> {old, new}} from `dvc params diff --json`, or None and the reason."""
    import json

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
