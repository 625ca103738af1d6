"""The line `make params` appends to params.yaml: which conf/ it was composed from.

Every stage loads its settings through `load_settings`, which recomputes two SHA-256s
(conf/'s files, and the text above the line; a few milliseconds) and stops in one line
when they differ: conf/ changed since `make params`, or params.yaml was edited by hand.
A params.yaml without the line was written by something else, typically `dvc exp run`,
which composes conf/ plus its `-S` overrides: inside such a run (DVC sets
``DVC_EXP_NAME``) that is expected; anywhere else it is refused too, so a failed
experiment's composition is never silently trained on.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from .errors import UserError

PREFIX = "# composed from conf/ by `make params`:"
LINE = re.compile(re.escape(PREFIX) + r" conf sha256 ([0-9a-f]{64}), params sha256 ([0-9a-f]{64})\n?\Z")
EXPERIMENT_ENV = "DVC_EXP_NAME"  # set by DVC for every stage of `dvc exp run`


def conf_digest(conf_dir: Path) -> str:
    """SHA-256 over conf/'s YAML files, each with its relative path (renames count)."""
    h = hashlib.sha256()
    for f in sorted(conf_dir.rglob("*.yaml")):
        h.update(f.relative_to(conf_dir).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def stamped(text: str, conf_dir: Path) -> str:
    """``text`` (the composition) with its stamp line."""
    return f"{text}{PREFIX} conf sha256 {conf_digest(conf_dir)}, params sha256 {_digest(text)}\n"


def verify(params_file: Path, text: str) -> None:
    """Refuse a params.yaml that is not the composition of the conf/ beside it.

    Only the file `make params` writes, a ``params.yaml`` with a conf/ directory beside it, is
    judged: another params file given with ``--params`` is the caller's explicit choice.
    """
    conf_dir = params_file.parent / "conf"
    if params_file.name != "params.yaml" or not conf_dir.is_dir() or os.environ.get(EXPERIMENT_ENV):
        return
    fix = f"edit {conf_dir}/ and run `make params`"
    body, _, last = text.rstrip("\n").rpartition("\n")
    match = LINE.match(last + "\n")
    if match is None:
        raise UserError(
            f"{params_file}: not composed by `make params` (no stamp line; `dvc exp run` writes it with "
            f"its -S overrides, a failed one leaves that behind); {fix}"
        )
    conf_hash, params_hash = match.groups()
    if _digest(body + "\n") != params_hash:
        raise UserError(f"{params_file}: edited by hand since `make params` (it disagrees with {conf_dir}/); {fix}")
    if conf_digest(conf_dir) != conf_hash:
        raise UserError(f"{params_file}: {conf_dir}/ changed since `make params` composed it; run `make params`")
