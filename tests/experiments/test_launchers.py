"""Hydra launchers: joblib runs for real; SLURM's submission script renders without a cluster."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from ..helpers import ROOT, run

pytestmark = pytest.mark.e2e


@pytest.mark.slow
def test_joblib_multirun_two_jobs_and_table(repo: Path) -> None:
    sweep_dir = repo / "multirun" / "test"
    out = run(
        [
            "ml-gitops",
            "sweep",
            "run",
            "--launcher",
            "joblib_local",
            "hydra.launcher.n_jobs=2",
            f"hydra.sweep.dir={sweep_dir}",
            "model.C=0.01,0.3",
        ],
        cwd=repo,
    )
    assert "Joblib.Parallel(n_jobs=2" in out.stdout + out.stderr
    for job in ("0", "1"):
        metrics = json.loads((sweep_dir / job / "metrics.json").read_text())
        assert 0.0 <= metrics["balanced_accuracy"] <= 1.0
        assert metrics["n_test"] > 0
    table = run(["ml-gitops", "sweep", "table", "--multirun", str(sweep_dir)], cwd=repo).stdout
    lines = [ln for ln in table.splitlines() if ln.startswith("|")]
    assert "balanced_accuracy" in lines[0] and "model.C" in lines[0]
    first = json.loads((sweep_dir / lines[2].split("|")[1].strip() / "metrics.json").read_text())
    best = max(json.loads((sweep_dir / j / "metrics.json").read_text())["balanced_accuracy"] for j in ("0", "1"))
    assert first["balanced_accuracy"] == best
    # The multirun leaves the DVC pipeline alone.
    assert "up to date" in run(["dvc", "status"], cwd=repo).stdout


def test_multirun_refuses_a_data_sweep(repo: Path) -> None:
    out = run(
        [
            "ml-gitops",
            "sweep",
            "run",
            "--launcher",
            "basic",
            f"hydra.sweep.dir={repo / 'multirun' / 'bad'}",
            "data=synthetic",
        ],
        cwd=repo,
        check=False,
    )
    assert out.returncode != 0
    assert "cannot sweep the data group" in out.stdout + out.stderr


def _compose_with_hydra(overrides: list[str]):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("config", overrides=overrides, return_hydra_config=True)


def test_launcher_configs_do_not_leak_into_params_yaml() -> None:
    from ml_gitops.adapters import params

    text = params.compose_text(ROOT / "conf")
    assert "hydra" not in text and "launcher" not in text


def test_slurm_submission_script_renders_without_a_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import submitit
    from hydra.utils import instantiate
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from omegaconf import OmegaConf

    cfg = _compose_with_hydra(["hydra/launcher=slurm", "hydra.launcher.partition=cpu"])
    launcher_cfg = OmegaConf.to_container(cfg.hydra.launcher, resolve=False)
    launcher_cfg.update(submitit_folder=str(tmp_path / "submitit"), name="ml-train")
    # Instantiating proves the config matches the plugin's launcher signature.
    launcher = instantiate(launcher_cfg)
    assert type(launcher).__name__ == "SlurmLauncher"

    # submitit refuses to build a SLURM executor unless `srun` is on PATH. This stand-in is
    # never run (rendering the script does not call it); it only passes that check.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    srun = bin_dir / "srun"
    srun.write_text("#!/bin/sh\necho 'no SLURM cluster here' >&2\nexit 1\n")
    srun.chmod(srun.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    # The same mapping the plugin's launch() applies before submitting.
    executor = submitit.AutoExecutor(cluster="slurm", folder=launcher.params["submitit_folder"])
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(
        **{
            (k if k in base else f"slurm_{k}"): v
            for k, v in launcher.params.items()
            if k not in {"submitit_folder", "max_num_timeout"}
        }
    )
    script = executor._executor._make_submission_file_text("python -m ml_gitops.experiments.multirun", "uid")
    for line in (
        "#SBATCH --partition=cpu",
        "#SBATCH --cpus-per-task=1",
        "#SBATCH --mem=4GB",
        "#SBATCH --time=60",
        "#SBATCH --job-name=ml-train",
        "export OMP_NUM_THREADS=1",
    ):
        assert line in script, f"{line!r} missing from:\n{script}"
    assert "python -m ml_gitops.experiments.multirun" in script
