"""Session fixtures: one reproduced pipeline in a temp git repo with a bare origin.

Tests that change things copy it (cheap) instead of reproducing from scratch.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from .helpers import GIT_ENV, env, reproduced_project, run

os.environ.update(GIT_ENV)
os.environ["PATH"] = env()["PATH"]
os.environ.setdefault("DVC_NO_ANALYTICS", "1")


@pytest.fixture(scope="session")
def pipeline_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project in a temp git repo: pipeline reproduced, committed, pushed (git + DVC)."""
    work = reproduced_project(tmp_path_factory.mktemp("pipeline"))
    run(["dvc", "push"], cwd=work)
    run(["git", "push", "-q", "origin", "main"], cwd=work)
    return work


@pytest.fixture
def repo(pipeline_repo: Path, tmp_path: Path) -> Path:
    """A private copy of the reproduced repo (with its DVC cache) for one test to change."""
    dest = tmp_path / "work"
    shutil.copytree(pipeline_repo, dest, symlinks=True)
    return dest


@pytest.fixture(scope="session")
def settings_dict() -> dict:
    from ml_gitops.config.settings import load_params

    from .helpers import ROOT

    return load_params(ROOT / "params.yaml")


# Whole directories that only `make test-all` runs (scale runs at 1e5+ rows).
SLOW_DIRS = ("scale",)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if Path(item.fspath).parent.name in SLOW_DIRS:
            item.add_marker(pytest.mark.slow)
