from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ml_gitops.adapters import params
from ml_gitops.config.errors import UserError

from ..helpers import ROOT


def test_committed_params_match_conf() -> None:
    params.check(ROOT / "conf", ROOT / "params.yaml")


def test_guard_catches_a_hand_edit_and_sync_repairs_it(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    out = tmp_path / "params.yaml"
    out.write_text((ROOT / "params.yaml").read_text().replace("test_size: 0.2", "test_size: 0.3"))
    with pytest.raises(UserError, match="params.yaml disagrees with .*test_size"):
        params.check(tmp_path / "conf", out)
    assert params.sync(tmp_path / "conf", out) is True
    params.check(tmp_path / "conf", out)
    assert out.read_text() == (ROOT / "params.yaml").read_text()


def test_broken_conf_is_a_clear_error(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    cfg = tmp_path / "conf/config.yaml"
    cfg.write_text(cfg.read_text().replace("model: logistic_regression", "model: svm"))
    with pytest.raises(UserError, match="cannot compose config"):
        params.compose_text(tmp_path / "conf")
