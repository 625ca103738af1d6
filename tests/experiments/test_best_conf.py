"""`sweep best`'s branch passes the params guard: the experiment's params.yaml is written back into conf/.

`dvc exp run` composes conf/ + the sweep's overrides into params.yaml and commits params.yaml only;
experiments/branch.py edits conf/ until it composes to that params.yaml. Real Hydra composition
(DVC's helper), real override applier, on a copy of the project's conf/.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from ml_gitops.adapters import params
from ml_gitops.config.errors import UserError
from ml_gitops.experiments.branch import write_params_to_conf

from ..helpers import ROOT, run


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    dest = tmp_path / "conf"
    shutil.copytree(ROOT / "conf", dest)
    return dest


@pytest.mark.parametrize(
    "overrides",
    [
        ["model.C=0.1"],  # a sweep of one estimator's argument
        ["model.C=10", "train.seed=7", "model.class_weight=balanced"],  # group file and config.yaml
        ["model=random_forest", "model.max_depth=4"],  # a sweep over the estimator itself
    ],
)
def test_conf_composes_to_the_experiments_params(conf: Path, overrides: list[str]) -> None:
    target_text = params.compose_text(conf, overrides)  # what `dvc exp run -S ...` writes
    params_file = conf.parent / "params.yaml"
    params_file.write_text(target_text)
    with pytest.raises(UserError, match="disagrees with"):
        params.check(conf, params_file)  # the red PR of issue 15

    changes = write_params_to_conf(conf, yaml.safe_load(target_text))
    assert changes
    with pytest.raises(UserError, match="stamp line is missing"):
        params.check(conf, params_file)  # the values agree; the stamp the stages check is not there yet
    assert params.sync(conf, params_file)  # what `sweep best` does next on the branch
    assert yaml.safe_load(params_file.read_text()) == yaml.safe_load(target_text)
    params.check(conf, params_file)  # the guard passes on the branch
    # comments in the edited files survive (DVC's round-trip YAML writer)
    assert "# The estimator" in (conf / "model/logistic_regression.yaml").read_text()


def test_nothing_to_write_when_the_experiment_is_the_baseline(conf: Path) -> None:
    before = {p: p.read_text() for p in conf.rglob("*.yaml")}
    assert write_params_to_conf(conf, yaml.safe_load(params.compose_text(conf))) == []
    assert {p: p.read_text() for p in conf.rglob("*.yaml")} == before


@pytest.mark.e2e
@pytest.mark.slow
def test_the_best_branch_passes_the_params_guard_and_its_lock_is_current(repo: Path) -> None:
    run(["ml-gitops", "sweep", "run", "model.C=0.01,0.3", "--jobs", "2"], cwd=repo)
    out = run(["ml-gitops", "sweep", "best", "--branch", "sweep/best"], cwd=repo)
    assert "conf/ on 'sweep/best' now composes to its params.yaml (model.C:" in out.stderr
    assert run(["git", "status", "--porcelain"], cwd=repo).stdout == ""  # edited in a worktree
    run(["git", "checkout", "-q", "sweep/best"], cwd=repo)
    run(["ml-gitops", "params", "check"], cwd=repo)  # `make params-check`, the PR loop's guard
    run(["dvc", "checkout", "--force"], cwd=repo)
    # conf/ is no stage's dependency: the experiment's dvc.lock is still the branch's pipeline.
    assert json.loads(run(["dvc", "status", "--json"], cwd=repo).stdout or "{}") == {}
