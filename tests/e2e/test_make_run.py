"""`make run` as the README writes it: metrics shown when the gate fails, never stale ones."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ml_gitops.adapters.params import sync as params_sync

from ..helpers import ROOT, run

pytestmark = pytest.mark.e2e


def _make_run(repo: Path, *args: str) -> tuple[int, str]:
    """`make run` (or ``args``) in ``repo`` with this checkout's installed venv (`-o`: make does not reinstall it)."""
    venv = repo / ".venv"
    if not venv.exists():
        venv.symlink_to(ROOT / ".venv")
    proc = run(["make", "-o", ".venv/.run-deps", *(args or ["run"])], cwd=repo, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def _set(repo: Path, dotted: str, value: object) -> None:
    """Change one parameter in conf/ (config.yaml's own keys come last, `_self_`), then `make params`."""
    node: object = value
    for key in reversed(dotted.split(".")):
        node = {key: node}
    conf = repo / "conf/config.yaml"
    conf.write_text(conf.read_text() + yaml.safe_dump(node, sort_keys=False))
    params_sync(repo / "conf", repo / "params.yaml")


def test_failing_gate_still_prints_this_runs_metrics(repo: Path) -> None:
    _set(repo, "gate.floors.accuracy", 1.01)
    code, out = _make_run(repo)
    assert code != 0, out
    assert "FAIL: accuracy" in out and "floor 1.0100" in out, out  # the gate's verdict names the floor it missed
    assert "| accuracy |" in out and "test rows" in out, out  # and the metrics table still shows


def test_no_stale_metrics_when_train_fails(repo: Path) -> None:
    _set(repo, "model.C", -1.0)  # refused by the estimator: train stops, evaluate never runs
    code, out = _make_run(repo)
    assert code != 0, out
    assert "no metrics: the pipeline stopped before evaluate" in out, out


def test_a_failed_experiment_leaves_params_yaml_as_conf_composes_it(repo: Path) -> None:
    before = (repo / "params.yaml").read_text()
    code, out = _make_run(repo, "exp", "S=split.test_size=1.5")
    assert code != 0 and "split.test_size: Input should be less than 1" in out, out
    assert (repo / "params.yaml").read_text() == before  # conf/'s composition, stamp and all


def test_every_stage_run_refuses_a_params_yaml_that_is_not_conf_composed(repo: Path) -> None:
    params = repo / "params.yaml"
    good = params.read_text()
    # What a plain `dvc exp run -S` leaves behind when it fails: its own composition, no stamp.
    code, _ = _make_run(repo, "params")  # links the venv
    run([str(ROOT / ".venv/bin/dvc"), "exp", "run", "-S", "split.test_size=1.5"], cwd=repo, check=False)
    assert "test_size: 1.5" in params.read_text()
    for text, why in [
        (None, "not composed by `make params`"),
        (good.replace("test_size: 0.2", "test_size: 0.3"), "edited by hand since `make params`"),
    ]:
        if text is not None:
            params.write_text(text)
        code, out = _make_run(repo)
        line = next(x for x in out.splitlines() if "error:" in x)
        assert code != 0 and why in line and "make params" in line, out
    params.write_text(good)
    (repo / "conf/split/default.yaml").write_text((repo / "conf/split/default.yaml").read_text() + "\n# note\n")
    code, out = _make_run(repo)
    assert code != 0 and "conf/ changed since `make params` composed it" in out, out
