"""The pure parts of sweeps: config validation, grid parsing and checks, ranking, tables."""

from __future__ import annotations

import logging

import pytest

from ml_gitops.config.errors import UserError
from ml_gitops.config.sweep import parse_sweep_settings
from ml_gitops.experiments import multirun
from ml_gitops.experiments.sweep import (
    changed_params,
    experiments,
    grid_size,
    param_deps,
    parse_grid,
    rank,
    uncovered_keys,
)

from ..helpers import ROOT

DEPS = {"model", "train", "data.schema", "runtime.threads", "split", "evaluate", "gate.floors"}


def test_committed_sweep_group_validates(settings_dict: dict) -> None:
    cfg = parse_sweep_settings(settings_dict["sweep"])
    assert cfg.metric == "balanced_accuracy" and not cfg.lower_is_better
    assert grid_size(parse_grid(cfg.grid)) == 8
    assert uncovered_keys(parse_grid(cfg.grid), DEPS) == []


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ({"grid": ["model.C=1,2"], "metric": "accuracyy"}, r"sweep\.metric: unknown metric 'accuracyy'"),
        ({"grid": ["model.C=1,2"], "jobs": 0}, r"sweep\.jobs: Input should be greater than or equal to 1"),
        ({"grid": []}, r"sweep\.grid: "),
        ({"grid": ["model.C=1"], "workers": 2}, r"sweep\.workers: unknown config key"),
        ({"grid": ["model.C=1"], "drop": "(("}, r"sweep\.drop: not a regular expression"),
        (None, r"no 'sweep' group"),
    ],
)
def test_bad_sweep_config_names_the_key(raw: dict | None, match: str) -> None:
    with pytest.raises(UserError, match=match):
        parse_sweep_settings(raw)


def test_grid_uses_hydra_syntax() -> None:
    axes = parse_grid(["model=logistic_regression,random_forest", "+train.extra=range(1,4)", "train.seed=7"])
    assert [(a.key, a.values) for a in axes] == [
        ("model", ("logistic_regression", "random_forest")),
        ("train.extra", ("1", "2", "3")),
        ("train.seed", ("7",)),
    ]
    assert grid_size(axes) == 6


@pytest.mark.parametrize(
    ("grid", "match"),
    [(["model.C=1,,2"], "cannot parse 'model.C=1,,2'"), (["model.C=1,2", "model.C=3"], "'model.C' appears twice")],
)
def test_bad_grid_is_a_clear_error(grid: list[str], match: str) -> None:
    with pytest.raises(UserError, match=match):
        parse_grid(grid)


def test_swept_keys_must_be_stage_params() -> None:
    import yaml

    deps = param_deps(yaml.safe_load((ROOT / "dvc.yaml").read_text()))
    assert {"model", "train", "split"} <= deps
    axes = parse_grid(["model=logistic_regression,random_forest", "model.C=1,2", "sweep.jobs=1,2", "data.name=a,b"])
    # A config group covers its keys; keys no stage reads would make identical experiments.
    assert uncovered_keys(axes, deps) == ["sweep.jobs", "data.name"]


def _rev(name: str, value: float | None, c: float, state: str = "success", error: bool = False) -> dict:
    data = {
        "params": {"params.yaml": {"data": {"model": {"name": "logistic_regression", "C": c}}}},
        "metrics": {} if value is None else {"reports/metrics.json": {"data": {"balanced_accuracy": value}}},
    }
    rev = {"rev": f"{name}-sha", "name": name, "data": data, "error": {"msg": "failed"} if error else None}
    return {"name": name, "executor": {"state": state}, "revs": [rev]}


def test_experiments_and_rank_from_exp_show_json() -> None:
    head = {
        "rev": "abc1234def",
        "name": "main",
        "data": _rev("main", 0.9, 1.0)["revs"][0]["data"],
        "experiments": [
            _rev("low", 0.8, 0.01),
            _rev("high", 0.95, 0.3),
            _rev("tie", 0.95, 3.0),
            # A failed experiment shows the baseline's metrics in exp show: never the best.
            _rev("broken", 0.99, 0.001, state="failed", error=True),
            _rev("queued", None, 5.0, state="queued"),
        ],
    }
    base, exps = experiments([{"rev": "workspace"}, head], "reports/metrics.json", "balanced_accuracy")
    assert base.name == "main" and base.value == 0.9
    states = {e.name: e.state for e in exps}
    assert states == {"low": "success", "high": "success", "tie": "success", "broken": "failed", "queued": "queued"}
    assert [e.name for e in rank(exps, lower_is_better=False)] == ["high", "tie", "low"]
    assert [e.name for e in rank(exps, lower_is_better=True)] == ["low", "high", "tie"]
    assert changed_params(base, next(e for e in exps if e.name == "high")) == {"model.C": (1.0, 0.3)}


def test_experiments_needs_a_commit() -> None:
    with pytest.raises(UserError, match="no commit"):
        experiments([{"rev": "workspace"}], "reports/metrics.json", "balanced_accuracy")


def test_multirun_table_sorts_best_first_and_keeps_failed_jobs() -> None:
    rows = [
        {"job": "0", "params": {"model.C": "0.01"}, "metrics": {"balanced_accuracy": 0.8, "log_loss": 0.4}},
        {"job": "1", "params": {"model.C": "1"}, "metrics": None},
        {"job": "2", "params": {"model.C": "0.3"}, "metrics": {"balanced_accuracy": 0.95, "log_loss": 0.1}},
    ]
    lines = multirun.markdown_table(rows, "balanced_accuracy", lower_is_better=False).splitlines()
    assert lines[0].startswith("| Job | State | balanced_accuracy |")
    assert [ln.split("|")[1].strip() for ln in lines[2:]] == ["2", "0", "1"]
    assert "Failed" in lines[-1]


EMPTY = "No experiment tasks in the queue.\n\nWorker status: {active} active, {idle} idle\n"
QUEUED = (
    "Task     Name       Created    Status\n"
    "3f2a1bc  exp-aa1    11:02 PM   Queued\n"
    "9d8e7f6  exp-bb2    11:02 PM   Success\n\n"
    "Worker status: 0 active, 1 idle\n"
)


def test_sweep_waits_for_an_earlier_sweeps_idle_workers(caplog: pytest.LogCaptureFixture) -> None:
    """`dvc queue status` as DVC prints it: the check waits while workers linger, says so once,
    returns when they are gone, and refuses a queue that still holds experiments."""
    from ml_gitops.cli.sweep import _check_queue_empty

    seen = iter([EMPTY.format(active=0, idle=2), EMPTY.format(active=0, idle=1), EMPTY.format(active=0, idle=0)])
    calls: list[int] = []

    def status() -> str:
        calls.append(1)
        return next(seen)

    caplog.set_level(logging.INFO)
    _check_queue_empty(5, 0.01, status)
    assert len(calls) == 3
    assert caplog.text.count("waiting for 2 idle worker(s) of an earlier sweep to stop") == 1

    caplog.clear()
    _check_queue_empty(0, 0.01, lambda: EMPTY.format(active=1, idle=0))  # gives up at once, and warns
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "1 worker(s) of an earlier sweep still alive after 0 s" in warned[0].getMessage()

    with pytest.raises(UserError, match=r"already holds 1 experiment\(s\) \(exp-aa1\)"):
        _check_queue_empty(5, 0.01, lambda: QUEUED)


def test_a_multirun_job_with_a_bad_model_fails_on_its_model_line(settings_dict: dict, tmp_path) -> None:
    """Before any stage runs: the job's own error names the key, not a later "stage train failed"."""
    raw = {**settings_dict, "model": {**settings_dict["model"], "not_an_argument": 1}}
    with pytest.raises(
        UserError, match=r"^conf/ \(multirun job\): model\.not_an_argument: .* takes no argument 'not_an_argument'$"
    ):
        multirun.run_job(raw, tmp_path, tmp_path / "out")
