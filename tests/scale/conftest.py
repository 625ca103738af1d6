"""Fixtures for the data-beyond-memory tests: typed settings for file and synthetic sources."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from ml_gitops.config.settings import Settings, parse_settings

from ..helpers import ROOT

SYNTHETIC = yaml.safe_load((ROOT / "conf/data/synthetic.yaml").read_text())


@pytest.fixture
def make_settings(settings_dict: dict) -> Callable[..., Settings]:
    """Settings for the synthetic schema with any source, split or runtime overrides."""

    def make(source: dict[str, Any] | None = None, **groups: dict[str, Any]) -> Settings:
        raw = copy.deepcopy(settings_dict)
        raw["data"] = copy.deepcopy(SYNTHETIC)
        raw["data"]["source"].update(source or {})
        for group, values in groups.items():
            raw[group] = {**raw.get(group, {}), **values}
        return parse_settings(raw)

    return make
