"""The pipeline through real `dvc repro` in temp git repos with a bare origin."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

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


def test_one_model_param_reruns_only_train_evaluate_gate(repo: Path) -> None:
    conf = repo / "conf/model/logistic_regression.yaml"
    conf.write_text(conf.read_text().replace("C: 1.0", "C: 0.3"))
    run(["ml-gitops", "params", "sync"], cwd=repo)
    out = run(["dvc", "repro"], cwd=repo).stdout
    assert sorted(stages_run(out)) == sorted(["train", "evaluate", "gate"])


def test_a_schema_change_reaches_train_through_validates_schema_file(repo: Path) -> None:
    """train reads the schema validate enforced (data/processed/schema.json), not params.yaml."""
    conf = repo / "conf/data/penguins.yaml"
    conf.write_text(conf.read_text().replace("max: 7000.0", "max: 7500.0", 1))
    run(["ml-gitops", "params", "sync"], cwd=repo)
    out = run(["dvc", "repro"], cwd=repo).stdout
    assert {"validate", "train", "evaluate"} <= set(stages_run(out)) and "split" not in stages_run(out)
    assert json.loads((repo / "data/processed/schema.json").read_text())["columns"]["body_mass_g"]["max"] == 7500.0
    assert json.loads((repo / "models/signature.json").read_text())["features"]["body_mass_g"]["max"] == 7500.0


def test_from_scratch_twice_gives_byte_identical_outputs(repo: Path) -> None:
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


def test_worker_processes_write_the_same_outputs(repo: Path) -> None:
    """runtime.worker_min_rows=0: train saves and exports, and evaluate draws its figures, in forked
    worker processes (as on big data); every output is byte for byte what one process writes."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    before = {s: lock[s]["outs"] for s in ("train", "evaluate")}
    out = run(["dvc", "exp", "run", "-S", "runtime.worker_min_rows=0"], cwd=repo).stdout
    assert sorted(stages_run(out)) == ["evaluate", "train"]  # the gate's input did not change
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    assert {s: lock[s]["outs"] for s in ("train", "evaluate")} == before


SPY = """
import os, sys
from pathlib import Path
from ml_gitops.adapters import figures as plots
from ml_gitops.pipeline import train

def spy(step, name):
    def wrapped(*args, **kw):
        Path(sys.argv[1], name).write_text(str(os.getpid()))
        return step(*args, **kw)
    return wrapped

train.save_and_export = spy(train.save_and_export, "save")
plots.draw_figures = spy(plots.draw_figures, "draw")
from ml_gitops.cli.main import main
rc = main(sys.argv[2:])
Path(sys.argv[1], "parent-" + sys.argv[2]).write_text(str(os.getpid()))
"""


@pytest.mark.parametrize("min_rows", [0, 10**9])
def test_worker_min_rows_decides_which_process_saves_and_draws(
    pipeline_repo: Path, tmp_path: Path, min_rows: int
) -> None:
    """train's save + ONNX export and evaluate's PNGs run in the forked child from
    runtime.worker_min_rows rows on, and in the stage's own process below it."""
    import sys

    params = yaml.safe_load((pipeline_repo / "params.yaml").read_text())
    params["runtime"]["worker_min_rows"] = min_rows
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = tmp_path / "out"
    out.mkdir()
    stage_args = {
        "train": ["--model", out / "model.skops", "--signature", out / "signature.json", "--summary",
                  out / "training.json", "--onnx", out / "model.onnx", "--onnx-report", out / "onnx.json"],
        "evaluate": ["--model", out / "model.skops", "--onnx", out / "model.onnx", "--onnx-report", out / "onnx.json",
                     "--signature", out / "signature.json", "--metrics", out / "metrics.json", "--predictions",
                     out / "predictions.parquet", "--plots", out / "plots", "--figures", out / "figures"],
    }  # fmt: skip
    for stage, args in stage_args.items():
        cmd = [
            sys.executable,
            "-c",
            SPY,
            str(tmp_path),
            stage,
            *map(str, args),
            "--params",
            str(tmp_path / "params.yaml"),
        ]
        run(cmd, cwd=pipeline_repo)
    pid = {name: (tmp_path / name).read_text() for name in ("save", "draw", "parent-train", "parent-evaluate")}
    in_child = min_rows == 0
    assert (pid["save"] != pid["parent-train"]) is in_child, pid
    assert (pid["draw"] != pid["parent-evaluate"]) is in_child, pid
    assert (out / "model.skops").read_bytes() == (pipeline_repo / "models/model.skops").read_bytes()
    assert (out / "figures/roc.png").read_bytes() == (pipeline_repo / "reports/figures/roc.png").read_bytes()


@pytest.mark.parametrize("model", ["random_forest", "hist_gradient_boosting"])
def test_other_model_families_are_deterministic(repo: Path, model: str) -> None:
    run(["dvc", "exp", "run", "-S", f"model={model}", "-S", "train.seed=3"], cwd=repo)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    assert params["model"]["name"] == model and params["train"]["seed"] == 3
    lock1 = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]["train"]["outs"]
    run(["dvc", "repro", "--force", "-s", "train"], cwd=repo)
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


def test_a_fresh_copy_reproduces_the_committed_lock(pipeline_repo: Path) -> None:
    """Same inputs, same model: a new machine rebuilds exactly the md5s committed on main."""
    from ..helpers import ROOT

    committed = run(["git", "show", "HEAD:dvc.lock"], cwd=ROOT, check=False)
    if committed.returncode != 0:
        pytest.skip("dvc.lock is not committed in this checkout")
    assert (pipeline_repo / "dvc.lock").read_text() == committed.stdout
