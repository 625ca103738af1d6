"""The train stage validates only the `serve.onnx` key it declares in dvc.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ml_gitops.config.errors import UserError
from ml_gitops.config.onnx import onnx_settings
from ml_gitops.config.settings import load_settings

from ..helpers import ROOT


def _params(tmp_path: Path, edit) -> Path:
    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    edit(data["serve"])
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_bad_onnx_value_is_refused_naming_the_key(tmp_path: Path) -> None:
    path = _params(tmp_path, lambda s: s["onnx"].update(tolerance=5))
    with pytest.raises(UserError, match=r"params.yaml: serve\.onnx\.tolerance: .*less than or equal to 1 \(got 5\)"):
        onnx_settings(load_settings(path), str(path))


def test_serve_keys_train_does_not_declare_do_not_matter(tmp_path: Path) -> None:
    path = _params(tmp_path, lambda s: s.update(port=-1))
    cfg = onnx_settings(load_settings(path), str(path))
    assert cfg.tolerance == yaml.safe_load((ROOT / "params.yaml").read_text())["serve"]["onnx"]["tolerance"]
