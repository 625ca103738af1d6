"""dvc.yaml declares what each stage really reads: code, params keys, and nothing hidden."""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

from ..helpers import ROOT

PACKAGE = next(p for p in (ROOT / "src").iterdir() if (p / "pipeline").is_dir())
# Dispatch-only modules: changing them cannot change a stage's output.
NOT_DEPS = {"errors.py", "paths.py", "__init__.py", "__main__.py"}


def imported_modules(path: Path, seen: set[Path] | None = None) -> set[Path]:
    """Package modules a file imports, transitively (relative imports only, as the package uses)."""
    seen = set() if seen is None else seen
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            base = path.parent
            for _ in range(node.level - 1):
                base = base.parent
            prefix = node.module.split(".") if node.module else []
            # `from ..pkg.module import name` and `from ..pkg import module` alike
            candidates = [base.joinpath(*prefix).with_suffix(".py")] if prefix else []
            candidates += [base.joinpath(*prefix, a.name).with_suffix(".py") for a in node.names]
            for target in candidates:
                if target.is_file() and target not in seen:
                    seen.add(target)
                    imported_modules(target, seen)
    return seen


def test_every_stage_declares_the_code_it_runs() -> None:
    pipeline = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    for name, stage in pipeline["stages"].items():
        module = PACKAGE / "pipeline" / f"{name}.py"
        assert module.is_file(), f"stage {name} has no module {module}"
        deps = {d for d in stage["deps"] if isinstance(d, str)}
        needed = {module, *imported_modules(module)}
        missing = sorted(
            str(m.relative_to(ROOT)) for m in needed if m.name not in NOT_DEPS and str(m.relative_to(ROOT)) not in deps
        )
        assert missing == [], f"stage {name} imports {missing} but dvc.yaml does not list them as deps"


def test_params_deps_are_per_key_not_whole_files() -> None:
    pipeline = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for name, stage in pipeline["stages"].items():
        for key in stage.get("params", []):
            assert isinstance(key, str), f"stage {name}: params must be keys of params.yaml, got {key!r}"
            node = params
            for part in key.split("."):
                assert part in node, f"stage {name}: params key {key!r} is not in params.yaml"
                node = node[part]


def test_stage_code_never_names_the_project() -> None:
    """A renamed bake must hash its stage code like the root does (same dvc.lock md5s, so its first
    `dvc repro` is a no-op): the files a stage depends on may not contain the project's identity."""
    import json
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {project["name"], PACKAGE.name, *project["scripts"]}
    shim = ROOT / "cookiecutter.json"  # the template root only; a baked project has no shim
    if shim.is_file():
        names.add(json.loads(shim.read_text())["project_name"])
    pipeline = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    deps = {d for stage in pipeline["stages"].values() for d in stage.get("deps", []) if d.startswith("src/")}
    found = {(d, n) for d in sorted(deps) if (ROOT / d).is_file() for n in names if n in (ROOT / d).read_text()}
    assert not found, f"stage code names the project (write around it): {sorted(found)}"
