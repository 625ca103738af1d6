"""The benchmarks' temp projects pass the stages' own checks (a broken benchmark reports nothing)."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from ml_gitops.config.settings import load_settings

from ..helpers import ROOT


def test_a_benchmark_project_with_overrides_is_accepted_by_the_stages(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from common import project
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    work = project(tmp_path / "bench", ["data=synthetic", "data.source.n_rows=1234"])
    settings = load_settings(work / "params.yaml")  # raises when the stamp check refuses the file
    assert yaml.safe_load((work / "params.yaml").read_text())["data"]["source"]["n_rows"] == 1234
    assert settings.data.source is not None
