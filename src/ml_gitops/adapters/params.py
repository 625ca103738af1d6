"""Keep `params.yaml` the composed view of `conf/`.

`dvc exp run` (Hydra integration on) recomposes `conf/` into `params.yaml` and
overwrites hand edits, so a hand-edited `params.yaml` silently loses work. The
guard fails when the two disagree. Composition uses DVC's own helper, so our
file is byte-for-byte what `dvc exp run` would write.
"""

from __future__ import annotations

import difflib
import tempfile
from pathlib import Path

import yaml
from dvc.utils.hydra import compose_and_dump

from ..config import paths, stamp
from ..config.errors import UserError
from .io import write_text

CONF_DIR = paths.CONF
CONFIG_NAME = "config"
PARAMS_FILE = paths.PARAMS


def compose_text(conf_dir: Path = CONF_DIR, overrides: list[str] | None = None) -> str:
    """Compose conf/ (plus Hydra overrides) and return params.yaml's text."""
    if not (conf_dir / f"{CONFIG_NAME}.yaml").exists():
        raise UserError(f"{conf_dir}/{CONFIG_NAME}.yaml: file not found")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "params.yaml"
        try:
            compose_and_dump(
                out,
                str(conf_dir.resolve()),
                None,
                CONFIG_NAME,
                str(conf_dir.resolve().parent),
                overrides or [],
            )
        except Exception as err:  # Hydra raises many types; all are config errors here
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise UserError(f"{conf_dir}: cannot compose config: {first}") from None
        return out.read_text(encoding="utf-8")


def sync(conf_dir: Path = CONF_DIR, params_file: Path = PARAMS_FILE) -> bool:
    """Write the composed config, stamped with conf/'s hash, to params.yaml; return True when it changed."""
    text = stamp.stamped(compose_text(conf_dir), conf_dir)
    old = params_file.read_text(encoding="utf-8") if params_file.exists() else None
    if old == text:
        return False
    write_text(params_file, text)
    return True


def check(conf_dir: Path = CONF_DIR, params_file: Path = PARAMS_FILE) -> None:
    """Raise when params.yaml is not exactly the composition of conf/."""
    text = compose_text(conf_dir)
    if not params_file.exists():
        raise UserError(f"{params_file}: missing; run `make params` to compose it from {conf_dir}/")
    old = params_file.read_text(encoding="utf-8")
    if yaml.safe_load(old) != yaml.safe_load(text):
        diff = difflib.unified_diff(
            text.splitlines(),
            old.splitlines(),
            f"{conf_dir}/ (composed)",
            str(params_file),
            lineterm="",
            n=0,
        )
        changed = [d for d in diff if d[:1] in "+-" and not d.startswith(("+++", "---"))]
        raise UserError(
            f"{params_file} disagrees with {conf_dir}/ ({len(changed)} line(s), first: {changed[0].strip()!r}); "
            f"edit {conf_dir}/ and run `make params`"
        )
    if old != stamp.stamped(text, conf_dir):
        raise UserError(f"{params_file}: its `make params` stamp line is missing or stale; run `make params`")
