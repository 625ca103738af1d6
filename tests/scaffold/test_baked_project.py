"""The renamed project runs on its own: params check, a reproducible `dvc repro`, its unit tests.

See conftest.py for why this is not a nested `make test` (cost on 2 cores) and how the venv is built.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import scaffold_lib
import yaml

from ..helpers import ROOT, rehashed_lock, run, stages_run
from .conftest import FANCY, FANCY_SLUG, venv_env

# A renamed bake reproduces its own pipeline and runs its suite: minutes, so the full suite only.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="session")
def fancy_repro(fancy_bake: Path, fancy_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """`dvc repro` in the baked project (its own console script), with a private local DVC remote."""
    remote = tmp_path_factory.mktemp("fancy-dvc-remote")
    e = venv_env(fancy_venv)
    run(["dvc", "remote", "add", "--local", "-f", "-d", "local", str(remote)], cwd=fancy_bake, env=e)
    first = run(["dvc", "repro"], cwd=fancy_bake, env=e)
    return fancy_bake, first.stdout


def test_baked_package_is_isolated_from_ours(fancy_venv: Path, fancy_bake: Path) -> None:
    py = str(fancy_venv / "bin" / "python")
    probe = "import importlib.util as u; print(u.find_spec('ml_gitops'), u.find_spec('fancy_pkg').origin)"
    out = run([py, "-c", probe], cwd=fancy_bake, env=venv_env(fancy_venv)).stdout.split()
    assert out[0] == "None" and out[1].startswith(str(fancy_bake / "src" / "fancy_pkg"))


def test_baked_params_check(fancy_bake: Path, fancy_venv: Path) -> None:
    proc = run([FANCY_SLUG, "params", "check"], cwd=fancy_bake, env=venv_env(fancy_venv))
    assert "params.yaml matches conf/" in proc.stderr


def test_baked_pipeline_computes_what_the_root_computes(fancy_repro: tuple[Path, str], pipeline_repo: Path) -> None:
    """Same data, model and metrics as the root's own `dvc repro`; committed reports reproduced exactly."""
    work, first = fancy_repro
    # Outputs DVC caches are not copied into a new project, so their stages rebuild them;
    # git-tracked outputs (e.g. reports/gate.json) are already current and may be skipped.
    assert {"ingest", "validate", "split", "train", "evaluate"} <= set(stages_run(first))
    assert (work / "models" / "model.skops").is_file()
    changed = run(["git", "status", "--porcelain"], cwd=work).stdout.split()
    # Every output the first commit holds is rebuilt byte for byte; dvc.lock differs only where
    # the root's own committed lock is stale (then the root's repro changes it the same way).
    assert set(changed) <= {"M", "dvc.lock"}, changed
    new = scaffold_lib.answers_identity({**FANCY, "project_slug": FANCY_SLUG})
    rename = scaffold_lib.make_renamer(scaffold_lib.replacements(scaffold_lib.root_identity(ROOT), new))
    expected = scaffold_lib.refold_lock_cmds(rename((pipeline_repo / "dvc.lock").read_text()))
    # The md5 of a dependency whose bytes the renaming changed (a source that names the package, e.g.
    # in an env var's name) is the baked file's own.
    assert yaml.safe_load((work / "dvc.lock").read_text()) == rehashed_lock(yaml.safe_load(expected), work)


def test_baked_second_repro_is_a_noop(fancy_repro: tuple[Path, str], fancy_venv: Path) -> None:
    work, _ = fancy_repro
    again = run(["dvc", "repro"], cwd=work, env=venv_env(fancy_venv))
    assert stages_run(again.stdout) == []


def test_baked_unit_tests_pass(fancy_repro: tuple[Path, str], fancy_venv: Path) -> None:
    work, _ = fancy_repro
    py = str(fancy_venv / "bin" / "python")
    cmd = [py, "-m", "pytest", "tests/unit", "-q", "-x", "-p", "no:cacheprovider"]
    proc = run(cmd, cwd=work, env=venv_env(fancy_venv))
    assert " passed" in proc.stdout and "failed" not in proc.stdout


def _uv() -> str | None:
    for cand in (os.environ.get("UV"), shutil.which("uv"), str(ROOT / ".tools" / "bin" / "uv")):
        if cand and Path(cand).is_file():
            return cand
    return None


def test_baked_lock_file_matches_its_pyproject(fancy_bake: Path) -> None:
    """The renamed uv.lock still fits the renamed pyproject.toml (`uv sync --locked` would pass)."""
    uv = _uv()
    if uv is None:
        pytest.skip("uv not found (make test puts it on PATH or in .tools/)")
    run([uv, "lock", "--check", "--offline"], cwd=fancy_bake)
    assert FANCY["package_name"] not in (ROOT / "uv.lock").read_text()
