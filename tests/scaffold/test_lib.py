"""Unit tests of hooks/scaffold_lib.py and the shim's shape (fast, no bake)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import scaffold_lib as lib
import yaml

from ..helpers import ROOT, project_files

OLD = lib.root_identity(ROOT)
FORBIDDEN = lib.forbidden_modules(ROOT)
GOOD = {
    "project_name": "X",
    "project_slug": "x-proj",
    "package_name": "x_proj",
    "description": "d",
    "author_name": "a",
    "author_email": "a@b.org",
    "dvc_remote_url": "local",
}


def test_cookiecutter_defaults_are_the_roots_identity() -> None:
    cc = json.loads((ROOT / "cookiecutter.json").read_text())
    assert cc["description"] == OLD.description
    assert cc["author_email"] == OLD.author_email
    assert OLD.author_name == f"{OLD.project_name} maintainers"  # the default derives from project_name
    assert (OLD.slug, OLD.package, OLD.console_script) == ("ml-gitops", "ml_gitops", "ml-gitops")
    assert (ROOT / "src" / OLD.package / "cli" / "main.py").is_file()


def test_the_shim_is_exactly_four_things() -> None:
    files = project_files(ROOT)
    top = {f: "tests/scaffold" if f.startswith("tests/") else f.split("/")[0] for f in files}
    shim = sorted({top[f] for f in files if lib.is_shim(f)})
    assert shim == ["cookiecutter.json", "hooks", "tests/scaffold", "{{cookiecutter.project_slug}}"]
    assert [f for f in files if f.startswith("{{")] == ["{{cookiecutter.project_slug}}/" + lib.PLACEHOLDER]
    assert not [f for f in lib.source_files(ROOT) if lib.is_shim(f)]


def test_hook_scripts_hold_no_template_expressions_but_the_context() -> None:
    for hook in (ROOT / "hooks").glob("*_gen_project.py"):
        text = hook.read_text()
        assert re.findall(r"\{\{.*?\}\}|\{%.*?%\}|\{#", text) == ["{{ cookiecutter | jsonify }}"], hook


def test_renaming_is_one_pass_longest_first() -> None:
    new = lib.Identity("ml-gitops fan club", "club", "club_pkg", "desc", "ML GitOps fans", "f@x.org")
    rename = lib.make_renamer(lib.replacements(OLD, new))
    assert rename("ML GitOps maintainers <maintainers@example.com>") == "ML GitOps fans <f@x.org>"
    # the new name contains the old slug: it must not be renamed a second time
    got = rename("# ML GitOps / ml-gitops / ml_gitops / ML_GITOPS_X")
    assert got == "# ml-gitops fan club / club / club_pkg / CLUB_PKG_X"
    assert lib.make_renamer(lib.replacements(OLD, OLD))("ml_gitops") == "ml_gitops"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"package_name": "x-y"}, "not a valid Python identifier"),
        ({"package_name": "match"}, "Python keyword"),
        ({"package_name": "Pkg"}, "must be lowercase"),
        ({"package_name": "os"}, "standard-library"),
        ({"package_name": "numpy"}, "of a dependency"),
        ({"package_name": "test"}, "standard-library"),
        ({"package_name": "tests"}, "standard-library"),
        ({"package_name": "joblib"}, "of a dependency"),
        ({"package_name": "starlette"}, "of a dependency"),
        ({"package_name": "fsspec"}, "of a dependency"),
        ({"package_name": "yaml"}, "of a dependency"),
        ({"project_name": "{{ x }}"}, "project_name '{{ x }}' contains '{{'"),
        ({"author_name": "a }} b"}, "author_name 'a }} b' contains '}}'"),
        ({"description": "{% raw %}"}, "description '{% raw %}' contains '{%'"),
        ({"description": "two\nlines"}, "one line"),
        ({"project_slug": "-x"}, "project_slug"),
        ({"project_slug": "x.y"}, "project_slug"),
        ({"author_email": "a@b"}, "author_email"),
        ({"project_name": "back\\slash"}, "project_name"),
        ({"author_name": " "}, "author_name is empty"),
        ({"dvc_remote_url": "s3://a b"}, "dvc_remote_url"),
    ],
)
def test_validate_refuses(change: dict, message: str) -> None:
    with pytest.raises(lib.ScaffoldError, match=re.escape(message)):
        lib.validate({**GOOD, **change}, FORBIDDEN)


def test_validate_accepts_good_answers() -> None:
    lib.validate(GOOD, FORBIDDEN)
    assert {"sklearn", "hydra", "pandas", "dvc"} <= FORBIDDEN
    assert "ml_gitops" not in FORBIDDEN


def test_set_remote_url_touches_only_the_default_remote() -> None:
    cfg = "[core]\n    remote = a\n['remote \"b\"']\n    url = /b\n['remote \"a\"']\n    url = ../a\n[x]\n    y = 1\n"
    assert lib.set_remote_url(cfg, "s3://n") == cfg.replace("url = ../a", "url = s3://n")
    with pytest.raises(lib.ScaffoldError, match=r"no core\.remote"):
        lib.set_remote_url("[core]\n", "s3://n")


def test_refresh_lock_only_for_changed_files(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("new\n")
    lock = "    - path: a.py\n      hash: md5\n      md5: " + "0" * 32 + "\n      size: 1\n"
    fixed = lib.refresh_lock(lock, tmp_path, {"a.py"})
    digest = hashlib.md5((tmp_path / "a.py").read_bytes()).hexdigest()
    assert f"md5: {digest}\n" in fixed and "size: 4" in fixed
    assert lib.refresh_lock(lock, tmp_path, set()) == lock


def test_template_sync_workflow_is_thin_and_skips_without_cruft() -> None:
    wf = yaml.safe_load((ROOT / ".github" / "workflows" / "template-sync.yml").read_text())
    on = wf[True]  # YAML 1.1 reads the `on` key as a boolean
    assert "schedule" in on and "workflow_dispatch" in on
    assert wf["permissions"] == {}
    steps = wf["jobs"]["sync"]["steps"]
    runs = [s["run"] for s in steps if "run" in s]
    assert runs[:2] == ["make template-check", "make template-update"]
    assert runs[2].startswith("make template-pr ")
    assert "gh pr create" in (ROOT / "Makefile").read_text().split("template-pr:", 1)[1]
    gated = [s for s in steps if "uses" not in s or "setup-python" in s["uses"]]
    assert all("if" in s for s in gated)
    assert "hashFiles('.cruft.json')" in steps[1]["if"]


def test_refold_lock_cmds_is_identity_on_dvcs_own_lock_and_rewraps_renamed() -> None:
    lock = (ROOT / "dvc.lock").read_text()
    assert lib.refold_lock_cmds(lock) == lock
    # what renaming gives, and what DVC itself wrote for the renamed command (seen in a real repro)
    text = "  validate:\n    cmd: my-fancy-project validate --dataset data/processed/dataset.parquet --out \n"
    text += "      data/processed/validated.parquet --report reports/validation.json\n    deps:\n"
    want = "  validate:\n    cmd: my-fancy-project validate --dataset data/processed/dataset.parquet \n"
    want += "      --out data/processed/validated.parquet --report reports/validation.json\n    deps:\n"
    assert lib.refold_lock_cmds(text) == want
