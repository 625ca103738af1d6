"""The one DVC adapter: running DVC, reading dvc.lock, and reading an output as of a git revision.

DVC runs as ``python -m dvc`` with this interpreter, so it is the locked environment's DVC even
on a runner whose PATH lacks the virtualenv's ``bin/``. Outputs at a revision come through
``dvc.api``, which looks in the local cache first and then in the remote: no cache layout is
assumed here.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, BinaryIO

from ..config import paths
from ..config.errors import UserError
from ..config.lockfile import parse_lock
from . import git

Cwd = str | Path
# DVC's and GTO's usage reports stay off: runs in CI and tests must not phone home.
QUIET_ENV = {"DVC_NO_ANALYTICS": "1", "GTO_NO_ANALYTICS": "1", "ITERATIVE_DO_NOT_TRACK": "1"}


def command(*args: str) -> list[str]:
    """The argv that runs ``dvc ARGS`` with this interpreter's DVC."""
    return [sys.executable, "-m", "dvc", *args]


def environment() -> dict[str, str]:
    return {**os.environ, **QUIET_ENV}


def error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """DVC's own last ``ERROR`` line (else its last line): what went wrong, in its words."""
    lines = [ln.strip() for ln in ((proc.stderr or "") + (proc.stdout or "")).splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("ERROR")]
    return (errors or lines or ["(no output)"])[-1]


def run(
    *args: str,
    cwd: Cwd = ".",
    capture: bool = True,
    check: bool = True,
    what: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``dvc ARGS`` in ``cwd``; with ``check``, a failure is one UserError with DVC's last error line.

    Never pass ``-q``: it hides the error lines. ``capture=False`` lets DVC's output stream through
    (``dvc repro`` in the retrain loop). ``env`` adds variables (the base rebuild's PYTHONPATH).
    """
    full_env = {**environment(), **(env or {})}
    proc = subprocess.run(command(*args), cwd=cwd, capture_output=capture, text=True, env=full_env, check=False)
    if check and proc.returncode != 0:
        detail = f": {error_line(proc)}" if capture else ""
        raise UserError(f"`{what or 'dvc ' + ' '.join(args)}` exited {proc.returncode}{detail}")
    return proc


def start(*args: str, cwd: Cwd = ".", **popen: Any) -> subprocess.Popen[str]:
    """``dvc ARGS`` in the background (``stdout``/``stderr`` as given); raises OSError if it cannot start."""
    return subprocess.Popen(command(*args), cwd=cwd, text=True, env=environment(), **popen)


# ---------------------------------------------------------------- dvc.lock
def read_lock(path: str | Path = paths.DVC_LOCK) -> dict[str, Any] | None:
    """The working tree's dvc.lock parsed, None when there is none; a corrupt one is a UserError."""
    path = Path(path)
    if not path.is_file():
        return None
    return parse_lock(path.read_bytes(), path)


def lock_at(rev: str, cwd: Cwd = ".") -> dict[str, Any] | None:
    """dvc.lock as committed at ``rev``; None when that commit has none (or an unreadable one)."""
    text = git.show(rev, paths.DVC_LOCK, cwd)
    if text is None:
        return None
    try:
        return parse_lock(text, f"{rev[:12]}:{paths.DVC_LOCK.as_posix()}")
    except UserError:
        return None


def _entries(lock: dict[str, Any] | None, kind: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (stage, entry)
        for stage, body in ((lock or {}).get("stages") or {}).items()
        for entry in body.get(kind) or []
        if isinstance(entry, dict) and "path" in entry
    ]


def lock_outputs(lock: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """{out path: {"md5", "stage"}} of every stage's outputs."""
    return {str(e["path"]): {"md5": e.get("md5"), "stage": stage} for stage, e in _entries(lock, "outs")}


def lock_deps(lock: dict[str, Any] | None) -> dict[str, str]:
    """{dep path: md5} of every stage's dependencies."""
    return {str(e["path"]): str(e.get("md5", "")) for _, e in _entries(lock, "deps")}


def lock_hashes(lock: dict[str, Any] | None) -> dict[str, str]:
    """{path: md5} of every dependency and output that records one."""
    out: dict[str, str] = {}
    for kind in ("deps", "outs"):
        out.update({str(e["path"]): str(e["md5"]) for _, e in _entries(lock, kind) if "md5" in e})
    return out


def file_md5(path: str | Path) -> str:
    """A file's md5, as dvc.lock records it."""
    h = hashlib.md5()  # noqa: S324 - DVC's content address, not a security hash
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------------- outputs at a revision
def _copy(rev: str, path: str, root: Cwd, out: BinaryIO) -> None:
    # dvc.api imports most of DVC (docs/performance.md, "Imports on CLI paths"): only the
    # commands that fetch an output pay for it, not every reader of dvc.lock.
    import dvc.api

    try:
        with dvc.api.open(path, repo=str(root), rev=rev, mode="rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
    except Exception as err:  # DVC raises many types here; all mean "not available at that revision"
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise UserError(f"{path}@{rev[:12]}: neither in the DVC cache nor in the remote ({first})") from None


def copy_output(rev: str, path: str, dest: str | Path, root: Cwd = ".") -> None:
    """Write the DVC-tracked ``path`` as of ``rev`` to ``dest`` (local cache first, else the remote)."""
    with open(dest, "wb") as out:
        _copy(rev, path, root, out)


def read_output(rev: str, path: str, root: Cwd = ".") -> bytes:
    """The bytes of the DVC-tracked ``path`` as of ``rev`` (for outputs that fit in memory)."""
    buf = io.BytesIO()
    _copy(rev, path, root, buf)
    return buf.getvalue()
