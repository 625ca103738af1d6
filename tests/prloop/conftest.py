"""Pull-request branches off the reproduced project, reproduced once per test run and shared."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ml_gitops.cli.main import PROG

from ..helpers import build_once, commit_all, copy_tree, run

MODEL_CONF = Path("conf/model/logistic_regression.yaml")
# Branch -> model.C. C=0.5 moves no test prediction; C=0.01 regularises the model into a clearly
# worse one (accuracy 0.97 -> 0.91 on penguins).
PR_BRANCHES = {"param-change": 0.5, "worse-model": 0.01}


def set_param_c(work: Path, value: float) -> None:
    path = work / MODEL_CONF
    path.write_text(re.sub(r"(?m)^C: .*$", f"C: {value}", path.read_text()))
    run([PROG, "params", "sync"], cwd=work)


def _branch_and_push(work: Path, branch: str, c: float) -> None:
    """Branch off main with model.C = ``c``: `dvc repro` (train, evaluate, gate), commit, push git + DVC."""
    run(["git", "checkout", "-q", "-B", branch, "main"], cwd=work)
    run(["dvc", "checkout", "--force"], cwd=work)
    set_param_c(work, c)
    run(["dvc", "repro"], cwd=work)
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
