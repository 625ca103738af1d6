"""Scaffolding answers are checked where they are given (issue 16): the lock's modules, Jinja, escaping."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import scaffold_lib as lib

from ..helpers import ROOT, run


def test_forbidden_modules_come_from_the_lock_not_the_interpreter(tmp_path: Path) -> None:
    """A template with only pyproject.toml + uv.lock: transitive deps are refused without being installed."""
    for name in ("pyproject.toml", "uv.lock", "cookiecutter.json"):
        (tmp_path / name).write_bytes((ROOT / name).read_bytes())
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    fake = '[[package]]\nname = "not-installed-anywhere"\nversion = "1"\n'
    (tmp_path / "uv.lock").write_text((ROOT / "uv.lock").read_text() + "\n" + fake)
    forbidden = lib.forbidden_modules(tmp_path)
    assert {"joblib", "starlette", "fsspec", "sklearn", "yaml", "git", "not_installed_anywhere"} <= forbidden
    assert "ml_gitops" not in forbidden
    assert len(lock["package"]) > 50


def test_import_name_mapping_matches_the_wheels_metadata() -> None:
    """Every public top-level module of every locked, installed wheel is forbidden (keeps IMPORT_NAMES honest)."""
    locked = lib.locked_distributions(ROOT)
    forbidden = lib.forbidden_modules(ROOT)
    missing = set()
    for module, dists in metadata.packages_distributions().items():
        if not module.isidentifier() or module.startswith("_"):
            continue
        for dist in dists:
            if lib.normalise(dist) in locked and lib.normalise(dist) != "ml-gitops" and module.lower() not in forbidden:
                missing.add(f"{dist}: {module}")
    assert sorted(missing) == []


def test_markdown_blocks_for_the_template_only() -> None:
    text = "# T\n<!-- template-only -->\nThis repository is also the template.\n<!-- /template-only -->\n"
    text += "<!-- project-only\nStarted from a template.\n-->\nend\n"
    assert lib.project_text("README.md", text) == "# T\nStarted from a template.\nend\n"
    assert lib.project_text("x.py", text) == text
    with pytest.raises(lib.ScaffoldError, match="README.md: unbalanced"):
        lib.project_text("README.md", "<!-- template-only -->\nno end\n")
    for rel in lib.source_files(ROOT):  # the root's own markers are balanced
        if rel.endswith(".md"):
            lib.project_text(rel, (ROOT / rel).read_text())


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["project_name={{ x }}"], "error: project_name '{{ x }}' contains '{{'"),
        (["package_name=test"], "error: package_name 'test' shadows the standard-library module 'test'"),
        (["package_name=fsspec"], "error: package_name 'fsspec' shadows the module 'fsspec' of a dependency"),
        (["init_git=maybe"], "could not be converted to a boolean"),
        (["colour=red"], "error: unknown answer 'colour'"),
    ],
)
def test_new_refuses_in_one_line_before_cookiecutter(tmp_path: Path, argv: list[str], message: str) -> None:
    proc = run(
        ["python", str(ROOT / "hooks" / "scaffold_lib.py"), "-o", str(tmp_path), *argv], cwd=tmp_path, check=False
    )
    assert proc.returncode == 2
    assert proc.stdout == "" and proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_default_git_and_a_quoted_description_are_carried_through(tmp_path: Path) -> None:
    description = 'Say "hi" \\ to C:\\data'
    argv = ["-o", str(tmp_path), "project_name=Quoted Proj", f"description={description}", 'author_name=O\'Neil "Q"']
    run(["python", str(ROOT / "hooks" / "scaffold_lib.py"), *argv], cwd=tmp_path)
    baked = tmp_path / "quoted-proj"
    project = tomllib.loads((baked / "pyproject.toml").read_text())["project"]
    assert project["description"] == description
    assert project["authors"][0]["name"] == 'O\'Neil "Q"'
    # init_git defaults to yes: a clean repository with one commit on main
    assert run(["git", "status", "--porcelain"], cwd=baked).stdout == ""
    assert run(["git", "branch", "--show-current"], cwd=baked).stdout.strip() == "main"
    assert "This repository is also the template" not in (baked / "README.md").read_text()
