"""The retraining job against a bare origin and a local DVC remote (real git, real dvc repro)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from ml_gitops.config.monitor import RetrainSettings, RetrainTriggers
from ml_gitops.monitoring.retrain import decide

from ..helpers import run

SOURCE = "src/ml_gitops/datasets/penguins.csv"


def _lock(text: str) -> dict:
    return yaml.safe_load(text)["stages"]


def _branches(repo: Path) -> list[str]:
    out = run(["git", "ls-remote", "--heads", "origin"], cwd=repo).stdout
    return [line.split("refs/heads/")[1] for line in out.splitlines()]


@pytest.mark.e2e
def test_retrain_without_new_data_creates_nothing(repo: Path) -> None:
    proc = run(["ml-gitops", "retrain", "run"], cwd=repo)
    assert "nothing to do" in proc.stderr
    assert _branches(repo) == ["main"]
    assert run(["git", "branch", "--show-current"], cwd=repo).stdout.strip() == "main"


@pytest.mark.e2e
@pytest.mark.slow
def test_retrain_on_new_data_pushes_a_branch_that_differs_only_where_the_data_changed(repo: Path) -> None:
    lines = (repo / SOURCE).read_text().splitlines(keepends=True)
    (repo / SOURCE).write_text("".join(lines[:-30]))  # the source now holds different data
    decided = run(["ml-gitops", "retrain", "decide", "--event", "schedule"], cwd=repo).stdout
    assert decided.startswith("retrain=false: retrain.enabled is false")

    proc = run(["ml-gitops", "retrain", "run"], cwd=repo)
    branch = run(["git", "branch", "--show-current"], cwd=repo).stdout.strip()
    assert branch.startswith("retrain/") and f"pushed {branch}" in proc.stderr
    assert sorted(_branches(repo)) == sorted(["main", branch])
    message = run(["git", "log", "-1", "--format=%B"], cwd=repo).stdout
    assert message.startswith("Retrain: new_data") and "| balanced_accuracy |" in message
    assert run(["git", "status", "--porcelain"], cwd=repo).stdout == ""

    changed = set(run(["git", "diff", "--name-only", "main", branch], cwd=repo).stdout.split())
    assert SOURCE in changed and "dvc.lock" in changed
    code = {f for f in changed if f.endswith(".py") or f.startswith(("conf/", "params.yaml", "dvc.yaml"))}
    assert code == set(), code  # no code, config or pipeline definition changed

    old = _lock(run(["git", "show", "main:dvc.lock"], cwd=repo).stdout)
    new = _lock((repo / "dvc.lock").read_text())
    assert old.keys() == new.keys()
    for stage in old:
        assert old[stage]["params"] == new[stage]["params"], stage
        old_deps = {d["path"]: d["md5"] for d in old[stage]["deps"]}
        new_deps = {d["path"]: d["md5"] for d in new[stage]["deps"]}
        for path, md5 in old_deps.items():
            if path.endswith(".py"):
                assert new_deps[path] == md5, (stage, path)
    ingest_old = {d["path"]: d["md5"] for d in old["ingest"]["deps"]}
    ingest_new = {d["path"]: d["md5"] for d in new["ingest"]["deps"]}
    assert ingest_old[SOURCE] != ingest_new[SOURCE]
    for stage in ("ingest", "split", "train"):
        assert [o["md5"] for o in old[stage]["outs"]] != [o["md5"] for o in new[stage]["outs"]], stage

    # The new model is in the DVC remote: a fresh clone of the branch can pull it.
    model_md5 = next(o["md5"] for o in new["train"]["outs"] if o["path"] == "models/model.skops")
    remote = Path(run(["dvc", "remote", "list", "--local"], cwd=repo).stdout.split()[1])
    assert (remote / "files/md5" / model_md5[:2] / model_md5[2:]).exists()
    metrics = json.loads((repo / "reports/metrics.json").read_text())
    assert metrics["n_test"] < json.loads(run(["git", "show", "main:reports/metrics.json"], cwd=repo).stdout)["n_test"]


@pytest.mark.e2e
def test_retrain_refuses_a_dirty_tree(repo: Path) -> None:
    (repo / "dvc.yaml").write_text((repo / "dvc.yaml").read_text() + "\n# an uncommitted edit\n")
    proc = run(["ml-gitops", "retrain", "run"], cwd=repo, check=False)
    assert proc.returncode == 2 and "working tree not clean (dvc.yaml" in proc.stderr, proc.stderr
    # A conf/ edit without `make params` is refused before that, by the settings check every stage makes.
    (repo / "dvc.yaml").write_text((repo / "dvc.yaml").read_text().replace("\n# an uncommitted edit\n", ""))
    (repo / "conf/model/logistic_regression.yaml").write_text("name: logistic_regression\nC: 0.5\n")
    proc = run(["ml-gitops", "retrain", "run"], cwd=repo, check=False)
    assert proc.returncode == 2 and "conf/ changed since `make params`" in proc.stderr, proc.stderr


CASES = [
    ("schedule", None, False, ["schedule"]),
    ("workflow_dispatch", {"breach_kinds": ["drift"]}, False, ["drift"]),
    ("workflow_dispatch", {"breach_kinds": ["quality"]}, False, ["drift"]),
    ("workflow_dispatch", {"breach_kinds": ["performance"]}, False, ["performance"]),
    ("workflow_dispatch", None, True, ["new_data"]),
    ("workflow_dispatch", {"breach_kinds": []}, False, []),
]


@pytest.mark.parametrize(("event", "report", "changed", "reasons"), CASES)
def test_decide_each_trigger(event: str, report: dict | None, changed: bool, reasons: list[str]) -> None:
    cfg = RetrainSettings(enabled=True, triggers=RetrainTriggers(schedule=True))
    d = decide(cfg, report, event, {"changed": changed})
    assert d["reasons"] == reasons and d["retrain"] is bool(reasons)


def test_decide_respects_switches_and_enabled() -> None:
    report = {"breach_kinds": ["drift", "performance"]}
    off = RetrainSettings(enabled=True, triggers=RetrainTriggers(drift=False, performance=False, new_data=False))
    assert decide(off, report, "schedule", {"changed": True})["retrain"] is False
    disabled = RetrainSettings(enabled=False)
    d = decide(disabled, report, "schedule", {"changed": True})
    assert d["retrain"] is False and d["why"] == "retrain.enabled is false"
