"""The pipeline through real `dvc repro` in temp git repos with a bare origin."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from ..conftest import PR_BRANCHES
from ..helpers import run, stages_run

pytestmark = pytest.mark.e2e
ALL_STAGES = ["ingest", "validate", "split", "train", "evaluate", "gate"]


def test_first_repro_ran_every_stage_and_wrote_every_output(pipeline_repo: Path) -> None:
    lock = yaml.safe_load((pipeline_repo / "dvc.lock").read_text())
    assert sorted(lock["stages"]) == sorted(ALL_STAGES)
    metrics = json.loads((pipeline_repo / "reports/metrics.json").read_text())
    for name in ["accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "log_loss"]:
        assert metrics[f"{name}_ci_low"] <= metrics[name] <= metrics[f"{name}_ci_high"]
    assert metrics["accuracy"] > 0.9  # penguins are easy; a broken pipeline is not
    for png in ["confusion", "roc", "precision_recall", "calibration", "importance"]:
        assert (pipeline_repo / f"reports/figures/{png}.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((pipeline_repo / "reports/gate.json").read_text())["passed"] is True


def test_second_repro_does_nothing(pipeline_repo: Path) -> None:
    out = run(["dvc", "repro"], cwd=pipeline_repo).stdout
    assert stages_run(out) == []
    assert "Data and pipelines are up to date" in out
    assert run(["git", "status", "--porcelain"], cwd=pipeline_repo).stdout == ""


def test_one_model_param_reruns_only_train_evaluate_gate(pr_branches: Path) -> None:
    """Each PR branch of `pr_branches` changed model.C in conf/, ran `make params`' sync and `dvc repro` off
    main's reproduced outputs (the same steps a user takes; the build is shared with the PR-loop tests)."""
    for branch in PR_BRANCHES:
        out = (pr_branches / f"repro-{branch}.log").read_text()
        assert sorted(stages_run(out)) == sorted(["train", "evaluate", "gate"]), (branch, out)


@pytest.mark.slow
def test_a_schema_change_reaches_train_through_validates_schema_file(repo: Path) -> None:
    """train reads the schema validate enforced (data/processed/schema.json), not params.yaml."""
    conf = repo / "conf/data/penguins.yaml"
    conf.write_text(conf.read_text().replace("max: 7000.0", "max: 7500.0", 1))
    run(["ml-gitops", "params", "sync"], cwd=repo)
    out = run(["dvc", "repro"], cwd=repo).stdout
    # split reruns too (it reads the schema's target and task: stratified or not); its outputs are the same rows
    assert {"validate", "split", "train", "evaluate"} <= set(stages_run(out))
    assert json.loads((repo / "data/processed/schema.json").read_text())["columns"]["body_mass_g"]["max"] == 7500.0
    assert json.loads((repo / "models/signature.json").read_text())["features"]["body_mass_g"]["max"] == 7500.0


@pytest.mark.slow
def test_from_scratch_twice_gives_byte_identical_outputs(repo: Path) -> None:
    """Reproducibility that survives a library bump: two fresh runs on this machine (the session's and
    this one, cache wiped) give the same dvc.lock outs and the same model bytes; the committed md5s
    are not pinned."""
    model = (repo / "models/model.skops").read_bytes()
    before = (repo / "dvc.lock").read_text()
    for rel in [
        "data/processed",
        "models/model.skops",
        "reports/figures",
        "reports/predictions.parquet",
        "models/model.onnx",
    ]:
        path = repo / rel
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    shutil.rmtree(repo / ".dvc/cache")
    out = run(["dvc", "repro", "--force"], cwd=repo).stdout
    assert sorted(stages_run(out)) == sorted(ALL_STAGES)
    assert (repo / "dvc.lock").read_text() == before
    assert (repo / "models/model.skops").read_bytes() == model


@pytest.mark.slow
@pytest.mark.parametrize("model", ["random_forest", "hist_gradient_boosting", "lightgbm"])
def test_other_model_families_are_deterministic(repo: Path, model: str) -> None:
    if model == "lightgbm":
        pytest.importorskip("lightgbm")
    run(["dvc", "exp", "run", "-S", f"model={model}", "-S", "train.seed=3"], cwd=repo)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    assert params["model"]["name"] == model and params["train"]["seed"] == 3
    lock1 = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]["train"]["outs"]
    # Again inside an experiment: outside one, the stages refuse params.yaml (the experiment's composition).
    run(["dvc", "exp", "run", "--force", "-s", "train", "-S", f"model={model}", "-S", "train.seed=3"], cwd=repo)
    lock2 = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]["train"]["outs"]
    assert lock1 == lock2


def test_push_then_pull_into_a_fresh_clone_is_up_to_date(pipeline_repo: Path, tmp_path: Path) -> None:
    origin = run(["git", "remote", "get-url", "origin"], cwd=pipeline_repo).stdout.strip()
    remote = run(["dvc", "remote", "list", "--local"], cwd=pipeline_repo).stdout.split()[1]
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", origin, str(clone)], cwd=tmp_path)
    run(["dvc", "remote", "add", "--local", "-f", "-d", "local", remote], cwd=clone)
    run(["dvc", "pull"], cwd=clone)
    assert (clone / "models/model.skops").read_bytes() == (pipeline_repo / "models/model.skops").read_bytes()
    out = run(["dvc", "repro"], cwd=clone).stdout
    assert stages_run(out) == []
