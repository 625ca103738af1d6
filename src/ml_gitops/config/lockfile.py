"""Refuse an empty or corrupt ``dvc.lock`` before any work, with the one line that says how to restore it.

A ``kill -9`` while DVC rewrites ``dvc.lock`` leaves it empty (DVC truncates, then writes), and the
next ``dvc repro`` fails with a schema error that does not say why. Every stage loads settings,
so the settings loader runs the cheap check (`check_lock`); the CLI's ``lock check`` runs the
thorough one before ``dvc repro``. `parse_lock` is the one parser of the file's text; the DVC
adapter (adapters/dvc.py) reads hashes and outputs from what it returns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from . import paths
from .errors import UserError

CORRUPT = (
    "is empty or not valid YAML (an interrupted DVC write?): "
    "restore it with 'git checkout dvc.lock' (or delete it to rebuild)"
)
# libyaml's loader when it is installed (docs/performance.md, Pipeline: YAML parsing).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def yaml_load(text: str | bytes) -> Any:
    """Parse YAML with the fast safe loader; raises ``yaml.YAMLError``."""
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 (a safe loader)


def parse_lock(text: str | bytes, source: str | Path = paths.DVC_LOCK) -> dict[str, Any]:
    """The parsed lock file, or a UserError naming ``source`` when it is empty or corrupt."""
    try:
        data = yaml_load(text) if text.strip() else None
    except yaml.YAMLError:
        data = None
    stages = data.get("stages") if isinstance(data, dict) else None
    if not isinstance(stages, dict) or not all(isinstance(s, dict) for s in stages.values()):
        raise UserError(f"{Path(source).as_posix()} {CORRUPT}")
    return data  # type: ignore[return-value]


def check_lock(path: str | Path = paths.DVC_LOCK, *, thorough: bool = False) -> None:
    """Refuse an empty or corrupt lock file; a missing one is fine (nothing has run yet).

    The quick check (every stage start) is a size check, and a parse only when the file does not
    end with the newline DVC always writes last; ``thorough`` parses it whatever its ending.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    if not data.strip():
        raise UserError(f"{path.as_posix()} {CORRUPT}")
    if thorough or not data.endswith(b"\n"):
        parse_lock(data, path)
