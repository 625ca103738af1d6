"""Session fixtures: one reproduced pipeline in a temp git repo with a bare origin.

The pipeline is reproduced ONCE per test run (`built_project`, shared by every pytest-xdist
worker); each worker gets a copy (`pipeline_repo`), and tests that change things copy that
(cheap) instead of reproducing from scratch. Pull-request branches off it (`pr_branches`) are
reproduced once per run too.
"""

from __future__ import annotations

import os
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from ml_gitops.cli.main import PROG

from .helpers import GIT_ENV, build_once, commit_all, copy_tree, env, reproduced_project, run

os.environ.update(GIT_ENV)
os.environ["PATH"] = env()["PATH"]
os.environ.setdefault("DVC_NO_ANALYTICS", "1")


@pytest.fixture(scope="session")
def shared_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A temp folder every pytest-xdist worker of this run sees (their basetemps' parent), for `build_once`."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _reproduce_and_push(base: Path) -> None:
    work = reproduced_project(base)
    run(["dvc", "push"], cwd=work)
    run(["git", "push", "-q", "origin", "main"], cwd=work)


@pytest.fixture(scope="session")
def built_project(shared_tmp: Path) -> Path:
    """``work/`` (pipeline reproduced, committed), ``origin.git`` and ``dvc-remote`` (both pushed to), built
    once per run. Copy it with `copy_tree` (its origin and DVC remote follow); never change it."""
    return build_once(shared_tmp, "pipeline", _reproduce_and_push)


@pytest.fixture(scope="session")
def pipeline_repo(built_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project in a temp git repo: pipeline reproduced, committed, pushed (git + DVC) to this worker's
    own bare origin and DVC remote (beside it). Tests copy it, never change it."""
    return copy_tree(built_project, tmp_path_factory.mktemp("pipeline")) / "work"


@pytest.fixture
def repo(pipeline_repo: Path, tmp_path: Path) -> Path:
    """A private copy of the reproduced repo (with its DVC cache) for one test to change."""
    dest = tmp_path / "work"
    shutil.copytree(pipeline_repo, dest, symlinks=True)
    return dest


MODEL_CONF = Path("conf/model/logistic_regression.yaml")
# Branch -> model.C. C=0.5 moves no test prediction; C=0.01 regularises the model into a clearly
# worse one (accuracy 0.97 -> 0.91 on penguins).
PR_BRANCHES = {"param-change": 0.5, "worse-model": 0.01}


def set_param_c(work: Path, value: float) -> None:
    path = work / MODEL_CONF
    path.write_text(re.sub(r"(?m)^C: .*$", f"C: {value}", path.read_text()))
    run([PROG, "params", "sync"], cwd=work)


def _branch_and_push(work: Path, branch: str, c: float) -> None:
    """Branch off main with model.C = ``c``: `dvc repro` (train, evaluate, gate), commit, push git + DVC.
    `dvc repro`'s output is kept beside ``work`` (``repro-<branch>.log``): tests read which stages ran."""
    run(["git", "checkout", "-q", "-B", branch, "main"], cwd=work)
    run(["dvc", "checkout", "--force"], cwd=work)
    set_param_c(work, c)
    (work.parent / f"repro-{branch}.log").write_text(run(["dvc", "repro"], cwd=work).stdout)
    commit_all(work, f"{branch}: model.C={c}")
    run(["git", "push", "-q", "origin", branch], cwd=work)
    run(["dvc", "push"], cwd=work)


@pytest.fixture(scope="session")
def pr_branches(built_project: Path, shared_tmp: Path) -> Path:
    """`built_project` plus the `PR_BRANCHES`, each reproduced, committed and pushed (git + DVC); main
    checked out. Built once per run for every module that needs these branches: copy it with `copy_tree`,
    never change it."""

    def build(base: Path) -> None:
        work = copy_tree(built_project, base) / "work"
        for branch, c in PR_BRANCHES.items():
            _branch_and_push(work, branch, c)
        run(["git", "checkout", "-q", "main"], cwd=work)
        run(["dvc", "checkout", "--force"], cwd=work)

    return build_once(shared_tmp, "pr-branches", build)


@pytest.fixture(scope="session")
def settings_dict() -> dict:
    from ml_gitops.config.settings import load_params

    from .helpers import ROOT

    return load_params(ROOT / "params.yaml")


# Whole directories that only `make test-all` runs (scale runs at 1e5+ rows).
SLOW_DIRS = ("scale",)
# Session fixtures built once per run for several modules (see `pytest_collection_modifyitems`).
SHARED_BUILDS = ("pr_branches",)
# A long file that needs no reproduced repo: handed out second, so the second worker runs it while
# the first builds `built_project` (every heavy file waits for that build).
WHILE_BUILDING = "scaffold/test_bake.py"


def pytest_configure(config: pytest.Config) -> None:
    # pytest-xdist hands files out in the order collected below, not most-tests-first (its default,
    # which left the one-test, minute-long e2e modules for last: a long tail on one worker).
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if Path(item.fspath).parent.name in SLOW_DIRS:
            item.add_marker(pytest.mark.slow)
    # Longest first, so with `-n 2 --dist loadfile` the short unit files fill the gaps at the end: files with
    # e2e tests or the reproduced repo (real dvc/git runs, servers: seconds to a minute each) before the
    # rest, collection order otherwise.
    heavy = {item.path for item in items if item.get_closest_marker("e2e") or "pipeline_repo" in item.fixturenames}
    # A shared build beyond the pipeline (`build_once`): the file with the most tests using it builds it, the
    # others run after the other heavy files, when it is built, instead of waiting idle on another worker.
    later = set()
    for name in SHARED_BUILDS:
        users = Counter(item.path for item in items if name in item.fixturenames)
        later.update(path for path, _ in users.most_common()[1:])
    items.sort(key=lambda item: 2 if item.path not in heavy else (1 if item.path in later else 0))
    first_heavy = next((item.path for item in items if item.path in heavy), None)
    meanwhile = [item for item in items if item.path.as_posix().endswith(WHILE_BUILDING)]
    if first_heavy and meanwhile and meanwhile[0].path not in heavy:
        rest = [item for item in items if item not in meanwhile]
        at = next((i for i, item in enumerate(rest) if item.path != first_heavy), len(rest))
        items[:] = rest[:at] + meanwhile + rest[at:]
