"""The renamed bake passes its own two README commands: `make run` and `make test`.

This is the proof a user cares about: a new project, renamed everywhere, green on its first
commit with nothing from this repository's environment. It installs its own `.venv` from its
own `uv.lock` and runs its whole suite (a few minutes: the slowest test here).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from ..helpers import ROOT, run
from .conftest import FANCY_SLUG

pytestmark = pytest.mark.slow


def _own_env() -> dict[str, str]:
    """The environment of a user's shell: no venv of ours, no pytest/xdist state, no uv settings."""
    from ..helpers import env

    ours = {str(Path(p).resolve()) for p in (ROOT / ".venv" / "bin", Path(sys.executable).parent)}
    e = {k: v for k, v in env().items() if not k.startswith(("PYTEST", "UV_", "VIRTUAL_ENV", "PYTHONPATH", "COV_"))}
    e["PATH"] = os.pathsep.join(p for p in e["PATH"].split(os.pathsep) if str(Path(p).resolve()) not in ours)
    for cand in (shutil.which("uv"), ROOT / ".tools" / "bin" / "uv"):
        if cand and Path(cand).is_file():
            e["UV"] = str(cand)  # reuse the installer (not the environment); the Makefile bootstraps one otherwise
            break
    return e


def test_renamed_bake_passes_make_run_and_make_test(fancy_bake: Path, tmp_path: Path) -> None:
    work = tmp_path / FANCY_SLUG
    shutil.copytree(fancy_bake, work, symlinks=True)
    e = _own_env()
    ran = run(["make", "run"], cwd=work, env=e)
    assert "| accuracy |" in ran.stdout, ran.stdout[-2000:]
    tested = run(["make", "test", "PYTEST_ARGS=-n 2 -q -p no:cacheprovider"], cwd=work, env=e, check=False)
    tail = "\n".join(tested.stdout.splitlines()[-15:])
    assert tested.returncode == 0, f"make test failed in the baked project:\n{tail}\n{tested.stderr[-2000:]}"
    assert " passed" in tail and " failed" not in tail, tail
    assert not (work / "src" / "ml_gitops").exists(), "the old package name reappeared"
