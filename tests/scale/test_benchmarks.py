"""The benchmarks run: their temp projects pass the stages' checks, the quick ones print their result."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from ml_gitops.config.settings import load_settings

from ..helpers import BIN, ROOT, run


def _benchmarks_common() -> ModuleType:
    """benchmarks/common.py under its own name (the scripts import it as `common`, beside them)."""
    spec = importlib.util.spec_from_file_location("benchmarks_common", ROOT / "benchmarks" / "common.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_benchmark_project_with_overrides_is_accepted_by_the_stages(tmp_path: Path) -> None:
    work = _benchmarks_common().project(tmp_path / "bench", ["data=synthetic", "data.source.n_rows=1234"])
    settings = load_settings(work / "params.yaml")  # raises when the stamp check refuses the file
    assert yaml.safe_load((work / "params.yaml").read_text())["data"]["source"]["n_rows"] == 1234
    assert settings.data.source is not None


# The quick benchmarks at their smallest sizes, and a line each prints with its result: a benchmark
# that crashes reports nothing, and two had drifted from the code they measure (a new stage
# argument, the cli/ package) unnoticed. Exit 1 is a missed floor (bake's), not a crash: at these
# sizes, beside other tests, the figures themselves mean nothing.
QUICK = {
    "evaluation": (["--rows", "10000", "--runs", "1"], "| validate + evaluate |"),
    "bake": (["--runs", "1"], "bake from local path"),
    "log_commit": (["--commits", "1"], "| raw INSERT, event loop (serving) |"),
    "release": (["--runs", "1"], "ml-gitops release verify <.tar.gz>"),
    "monitor": (["--rows", "1000", "--repeats", "1"], "make monitor, 1000 logged rows"),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(QUICK))
def test_the_quick_benchmarks_run_and_print_their_result(name: str) -> None:
    args, result = QUICK[name]
    if name == "bake" and not (ROOT / "cookiecutter.json").is_file():
        pytest.skip("a baked project is not the template: nothing to bake")
    cmd = [str(BIN / "python"), str(ROOT / "benchmarks" / f"{name}.py"), *args]
    proc = run(cmd, cwd=ROOT, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode in (0, 1) and "Traceback" not in out, out[-3000:]
    assert result in out, out[-3000:]
