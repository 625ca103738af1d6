"""Every path the shipped pipeline and data configs name exists (a moved module would otherwise
surface only as a DVC error in the run that uses it)."""

from __future__ import annotations

import pytest
import yaml

from ..helpers import ROOT

STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_dvc_yaml_dependencies_exist(stage: str) -> None:
    literal = [d for d in STAGES[stage].get("deps", []) if "${" not in d]
    missing = [d for d in literal if not (ROOT / d).exists()]
    assert missing == [], f"dvc.yaml stage {stage}: dependencies that do not exist: {missing}"


@pytest.mark.parametrize("name", ["penguins", "synthetic"])
def test_shipped_data_sources_exist(name: str) -> None:
    source = yaml.safe_load((ROOT / "conf" / "data" / f"{name}.yaml").read_text())["source"]
    assert (ROOT / source["path"]).exists(), f"conf/data/{name}.yaml: source.path {source['path']} does not exist"
