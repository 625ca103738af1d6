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


def test_every_stage_load_refuses_a_params_yaml_that_is_not_conf_composed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """load_settings (every stage's first step) checks the stamp; `make run` is tested in tests/e2e."""
    from ml_gitops.config.settings import load_settings

    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    out = tmp_path / "params.yaml"
    params.sync(tmp_path / "conf", out)
    good = out.read_text()
    assert load_settings(out).split.test_size == 0.2
    cases = [
        (good.replace("test_size: 0.2", "test_size: 0.3"), "edited by hand since `make params`"),
        (params.compose_text(tmp_path / "conf", ["split.test_size=0.3"]), "not composed by `make params`"),
    ]
    for text, why in cases:
        out.write_text(text)
        with pytest.raises(UserError, match=why):
            load_settings(out)
    monkeypatch.setenv("DVC_EXP_NAME", "exp-1")  # inside `dvc exp run`: DVC composed it with -S itself
    assert load_settings(out).split.test_size == 0.3
    monkeypatch.delenv("DVC_EXP_NAME")
    out.write_text(good)
    (tmp_path / "conf/split/default.yaml").write_text((tmp_path / "conf/split/default.yaml").read_text() + "# x\n")
    with pytest.raises(UserError, match="conf/ changed since `make params`"):
        load_settings(out)
    other = tmp_path / "run-params.yaml"  # an explicit --params file is the caller's choice
    other.write_text(cases[0][0])
    assert load_settings(other).split.test_size == 0.3
