"""Every path the shipped pipeline and data configs name exists (a moved module would otherwise
surface only as a DVC error in the run that uses it)."""

from __future__ import annotations

import hashlib

import pytest
import yaml

from ml_gitops.adapters.params import compose_text

from ..helpers import ROOT

STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
# What a stage writes is another stage's input, absent from a clean clone until `dvc repro`.
PRODUCED = {
    next(iter(out)) if isinstance(out, dict) else out
    for stage in STAGES.values()
    for kind in ("outs", "metrics", "plots")
    for out in stage.get(kind, [])
}


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_dvc_yaml_dependencies_exist(stage: str) -> None:
    literal = [d for d in STAGES[stage].get("deps", []) if "${" not in d and d not in PRODUCED]
    missing = [d for d in literal if not (ROOT / d).exists()]
    assert missing == [], f"dvc.yaml stage {stage}: dependencies that do not exist: {missing}"


@pytest.mark.parametrize("name", ["penguins", "synthetic"])
def test_shipped_data_sources_exist(name: str) -> None:
    source = yaml.safe_load((ROOT / "conf" / "data" / f"{name}.yaml").read_text())["source"]
    assert (ROOT / source["path"]).exists(), f"conf/data/{name}.yaml: source.path {source['path']} does not exist"


@pytest.mark.parametrize("name", ["penguins", "synthetic", "csv_file"])
def test_slice_and_fairness_columns_are_the_datas_own(name: str) -> None:
    """Slices come with the data config (conf/evaluate/data/): another dataset never inherits penguins' columns."""
    composed = yaml.safe_load(compose_text(ROOT / "conf", [f"data={name}"]))
    columns = set(composed["data"]["schema"]["columns"])
    evaluate = composed["evaluate"]
    named = {c["column"] for c in evaluate["slices"]["columns"]} | set(evaluate["fairness"]["sensitive"])
    assert named <= columns, f"data={name}: slice/fairness columns {sorted(named - columns)} are not in its schema"
    if name == "penguins":
        assert named == {"island", "sex"}


def test_dvc_lock_is_current_for_every_source_file() -> None:
    """The committed dvc.lock names the bytes of each tracked dependency (else every PR's lock-verify fails)."""
    lock = yaml.safe_load((ROOT / "dvc.lock").read_text())
    stale = sorted(
        {
            dep["path"]
            for stage in lock["stages"].values()
            for dep in stage.get("deps", [])
            if dep["path"] not in PRODUCED
            and (ROOT / dep["path"]).is_file()
            and hashlib.md5((ROOT / dep["path"]).read_bytes()).hexdigest() != dep["md5"]
        }
    )
    assert stale == [], f"dvc.lock is stale for {stale}: run `make repro` and commit dvc.lock"
