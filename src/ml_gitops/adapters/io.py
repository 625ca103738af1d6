"""Atomic file output, JSON and text.

Every output is written to a temp file in the destination folder and renamed
into place, so a crash (even SIGKILL) leaves either the old file or the new
one, never a half-written file that a rerun would trust.
"""

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ..config.errors import UserError


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp path beside ``dest``; rename it onto ``dest`` on success."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, dest)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_bytes(dest: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)


def _backup(dest: Path) -> Path:
    """Where ``replace_dir`` parks the previous directory during its swap."""
    return dest.with_name(f".{dest.name}.old.tmp")


@contextlib.contextmanager
def replace_dir(dest: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty sibling temp directory to fill; on success it becomes ``dest``.

    The previous ``dest`` stays whole until the block succeeds: then it is renamed aside,
    the new one renamed in, and the old one removed. On an error the temp directory goes
    and ``dest`` is untouched. A kill between the two renames leaves the old directory
    parked beside ``dest``: ``clear_stale`` puts it back.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        yield tmp
        old = _backup(dest)
        shutil.rmtree(old, ignore_errors=True)
        if dest.exists():
            dest.rename(old)
        tmp.rename(dest)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def clear_stale(*outputs: str | os.PathLike[str]) -> list[Path]:
    """Remove the temp files and directories an earlier, killed run left beside ``outputs``.

    Those are ``.<name>.*.tmp`` siblings (``atomic_path``, ``replace_dir``) and, inside an
    output directory, ``.*.tmp`` entries. A directory ``replace_dir`` had parked is put back
    when ``dest`` itself is missing. Returns what was removed.
    """
    removed: list[Path] = []
    for out in map(Path, outputs):
        old = _backup(out)
        if old.is_dir() and not out.exists():
            old.rename(out)
        stale = list(out.parent.glob(f".{out.name}.*.tmp")) if out.parent.is_dir() else []
        if out.is_dir():
            stale += out.glob(".*.tmp")
        for path in stale:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def copy_file(src: str | os.PathLike[str], dest: str | os.PathLike[str]) -> None:
    """``dest`` becomes a byte copy of ``src`` (written beside it, then renamed)."""
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)


def write_text(dest: str | os.PathLike[str], text: str) -> None:
    write_bytes(dest, text.encode("utf-8"))


def append_github_output(path: str | os.PathLike[str] | None, values: Mapping[str, object]) -> None:
    """Append ``key=value`` lines to a GitHub Actions output file ($GITHUB_OUTPUT); no-op without one.

    Appending is the file's contract (every step adds to it), so this is the one write that is
    not atomic. None becomes an empty value; a newline would split a value, so it is refused.
    """
    if not path:
        return
    lines = []
    for key, value in values.items():
        text = "" if value is None else str(value)
        if "\n" in text or "\r" in text:
            raise UserError(f"{path}: GitHub output {key!r} must be one line, got {text!r}")
        lines.append(f"{key}={text}\n")
    with open(path, "a", encoding="utf-8") as fh:
        fh.writelines(lines)


def dump_json(obj: Any) -> str:
    """Stable JSON: sorted keys, fixed indent, trailing newline (byte-identical reruns)."""
    return json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n"


def write_json(dest: str | os.PathLike[str], obj: Any) -> None:
    write_text(dest, dump_json(obj))


def read_json(path: str | os.PathLike[str]) -> Any:
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: file not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise UserError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None
