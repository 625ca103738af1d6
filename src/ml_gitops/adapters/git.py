"""The one git wrapper: every git command the project runs goes through `run`.

Failures the caller does not expect become one UserError with git's last stderr line.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from ..config.errors import UserError

Cwd = str | Path


def run(*args: str, cwd: Cwd = ".", check: bool = True) -> subprocess.CompletedProcess[bytes]:
    """``git ARGS`` in ``cwd`` with its output captured; with ``check``, a failure is a UserError."""
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    if check and proc.returncode != 0:
        last = (proc.stderr.decode(errors="replace").strip().splitlines() or ["(no output)"])[-1]
        raise UserError(f"git {' '.join(args)} failed: {last}")
    return proc


def output(*args: str, cwd: Cwd = ".", check: bool = True) -> str:
    """git's stdout as text."""
    return run(*args, cwd=cwd, check=check).stdout.decode()


def succeeds(*args: str, cwd: Cwd = ".") -> bool:
    """Whether ``git ARGS`` exits 0 (``diff --quiet``, ``rev-parse --verify`` ...)."""
    return run(*args, cwd=cwd, check=False).returncode == 0


def show(rev: str, path: str | Path, cwd: Cwd = ".") -> bytes | None:
    """A file's bytes at ``rev``, or None when git does not track it there."""
    proc = run("show", f"{rev}:{Path(path).as_posix()}", cwd=cwd, check=False)
    return proc.stdout if proc.returncode == 0 else None


def show_text(rev: str, path: str | Path, cwd: Cwd = ".") -> str | None:
    data = show(rev, path, cwd)
    return None if data is None else data.decode("utf-8")


def commit_of(rev: str, cwd: Cwd = ".") -> str | None:
    """The full commit ``rev`` names, or None when it names none."""
    proc = run("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", cwd=cwd, check=False)
    if proc.returncode != 0:
        return None
    return proc.stdout.decode().strip() or None


def list_files(rev: str, prefix: str, cwd: Cwd = ".") -> list[str]:
    """Paths under ``prefix`` that git tracks at ``rev``."""
    proc = run("ls-tree", "-r", "--name-only", rev, "--", prefix, cwd=cwd, check=False)
    return proc.stdout.decode().split() if proc.returncode == 0 else []
