"""Bake proofs: default answers reproduce the root; other answers rename everything and only that."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
import scaffold_lib
import yaml

from ml_gitops.config import stamp

from ..helpers import ROOT, project_files, rehashed_lock, run
from .conftest import FANCY, FANCY_SLUG, Baker

OLD = scaffold_lib.root_identity(ROOT)
OLD_NAMES = re.compile(r"ml[-_ ]?gitops", re.IGNORECASE)


def tree(root: Path) -> dict[str, tuple[bytes, bool]]:
    """rel path -> (bytes, executable) for every file, .git excluded."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not rel.startswith(".git/") and rel != ".git":
            out[rel] = (p.read_bytes(), bool(p.stat().st_mode & stat.S_IXUSR))
    return out


def test_default_bake_reproduces_the_root_byte_for_byte(default_bake: Path) -> None:
    expected = {
        rel: (
            scaffold_lib.project_text(rel, (ROOT / rel).read_text()).encode()
            if rel.endswith(".md")
            else (ROOT / rel).read_bytes(),
            bool((ROOT / rel).stat().st_mode & stat.S_IXUSR),
        )
        for rel in project_files(ROOT)
        if not scaffold_lib.is_shim(rel)
    }
    got = tree(default_bake)
    assert sorted(got) == sorted(expected), set(got) ^ set(expected)
    differ = [rel for rel in expected if got[rel] != expected[rel]]
    assert differ == []
    # the shim stays behind, and nothing was left unrendered
    assert not (default_bake / "hooks").exists() and not (default_bake / "cookiecutter.json").exists()
    assert not (default_bake / scaffold_lib.PLACEHOLDER).exists()
    assert (default_bake / ".git").is_dir()  # init_git defaults to yes


def test_renamed_bake_leaves_no_trace_of_the_old_identity(fancy_bake: Path) -> None:
    files = tree(fancy_bake)
    assert f"src/{FANCY['package_name']}/cli/main.py" in files
    offenders = [rel for rel in files if OLD_NAMES.search(rel)]
    for rel, (data, _) in files.items():
        text = data.decode("utf-8", errors="replace")
        for old in (OLD_NAMES.pattern, re.escape(OLD.description), re.escape(OLD.author_email)):
            if re.search(old, text, re.IGNORECASE):
                offenders.append(f"{rel}: {old}")
    assert offenders == []
    pyproject = (fancy_bake / "pyproject.toml").read_text()
    assert f'name = "{FANCY_SLUG}"' in pyproject
    assert f'{FANCY_SLUG} = "{FANCY["package_name"]}.cli.main:main"' in pyproject
    assert f'description = "{FANCY["description"]}"' in pyproject
    assert f'{{ name = "{FANCY["author_name"]}", email = "{FANCY["author_email"]}" }}' in pyproject
    assert (fancy_bake / "README.md").read_text().startswith(f"# {FANCY['project_name']}\n")


def test_renamed_bake_changes_nothing_but_the_identity(fancy_bake: Path) -> None:
    """Every file maps to a root file; every changed line carries one of the new names."""
    new = scaffold_lib.answers_identity({**FANCY, "project_slug": FANCY_SLUG})
    new_values = [new.project_name, new.slug, new.package, new.package.upper(), new.description]
    new_values += [new.author_name, new.author_email]
    baked = tree(fancy_bake)
    rename = scaffold_lib.make_renamer(scaffold_lib.replacements(OLD, new))
    for rel in project_files(ROOT):
        if scaffold_lib.is_shim(rel):
            continue
        data, _ = baked.pop(rename(rel))
        before = (ROOT / rel).read_bytes()
        if rel.endswith(".md"):  # template-only blocks dropped
            before = scaffold_lib.project_text(rel, before.decode()).encode()
        if data == before:
            continue
        if rel == "dvc.lock":  # re-folded where DVC would fold the renamed commands: same content,
            # except the md5/size of dependencies whose bytes the renaming changed (the hook rehashes them)
            assert rehashed_lock(yaml.safe_load(rename(before.decode())), fancy_bake) == yaml.safe_load(data), rel
            continue
        if rel == "params.yaml":  # the same composition, its stamp line re-hashed: the stages accept it
            stamp.verify(fancy_bake / rel, data.decode())
            before, data = before.decode().rsplit("\n", 2)[0].encode(), data.decode().rsplit("\n", 2)[0].encode()
        old_lines, new_lines = before.decode().splitlines(), data.decode().splitlines()
        assert len(old_lines) == len(new_lines), rel
        for a, b in zip(old_lines, new_lines, strict=True):
            assert a == b or any(v in b for v in new_values), f"{rel}: {a!r} -> {b!r}"
    assert baked == {}  # no extra files


def test_hook_made_the_first_commit(fancy_bake: Path) -> None:
    assert run(["git", "status", "--porcelain"], cwd=fancy_bake).stdout == ""
    log = run(["git", "log", "--format=%s"], cwd=fancy_bake).stdout.splitlines()
    assert log == [f"Start {FANCY['project_name']} from the ML GitOps template"]


BAD = [
    ({"package_name": "1abc"}, "package_name '1abc' is not a valid Python identifier"),
    ({"package_name": "my-pkg"}, "not a valid Python identifier"),
    ({"package_name": "class"}, "is a Python keyword"),
    ({"package_name": "json"}, "shadows the standard-library module 'json'"),
    ({"package_name": "sklearn"}, "shadows the module 'sklearn' of a dependency"),
    ({"package_name": "pandas"}, "shadows the module 'pandas' of a dependency"),
    ({"project_slug": "Bad_Slug"}, "project_slug 'Bad_Slug' is invalid"),
    ({"project_slug": "9lives", "package_name": "nine"}, "project_slug '9lives' is invalid"),
    ({"project_slug": "has space", "package_name": "ok_pkg"}, "project_slug 'has space' is invalid"),
    ({"author_email": "not-an-email"}, "author_email 'not-an-email' is not an e-mail address"),
    ({"project_name": 'say "hi"'}, "which Python strings and YAML in the project cannot hold"),
]


@pytest.mark.parametrize(("answers", "message"), BAD, ids=[next(iter(a.values())) for a, _ in BAD])
def test_bad_answers_are_refused_without_leftovers(baker: Baker, tmp_path: Path, answers: dict, message: str) -> None:
    out = tmp_path / "out"
    proc = baker(str(ROOT), out, {"project_name": "Some Project", **answers}, check=False)
    assert proc.returncode != 0
    errors = [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and message in errors[0], proc.stderr
    assert list(out.iterdir()) == []  # no partial project directory


def test_relative_template_path(baker: Baker, tmp_path: Path) -> None:
    """`cookiecutter .` from the template root: the hook resolves the relative _repo_dir."""
    proc = baker(".", tmp_path, {"project_name": "Rel Proj"}, cwd=ROOT)
    assert "make run" in proc.stdout
    assert (tmp_path / "rel-proj" / "src" / "rel_proj" / "cli" / "main.py").is_file()


def test_gh_abbreviation_form(baker: Baker, template_git: Path, tmp_path: Path) -> None:
    """`gh:owner/repo` goes through cookiecutter's own abbreviation expansion.

    GitHub is unreachable here, so (1) the built-in expansion is checked to give the https URL,
    and (2) the same code path bakes for real with `gh` pointed at a local git repository.
    """
    from cookiecutter.config import BUILTIN_ABBREVIATIONS
    from cookiecutter.repository import expand_abbreviations

    url = expand_abbreviations("gh:acme/ml-gitops", BUILTIN_ABBREVIATIONS)
    assert url == "https://github.com/acme/ml-gitops.git"
    cfg = tmp_path / "config.yaml"
    cfg.write_text(baker.config.read_text() + f"abbreviations:\n  gh: 'file://{template_git.parent}/{{0}}'\n")
    Baker(cfg)(f"gh:{template_git.name}", tmp_path / "out", {"project_name": "From Gh"})
    assert (tmp_path / "out" / "from-gh" / "src" / "from_gh" / "pipeline" / "train.py").is_file()


def test_dvc_remote_answer(baker: Baker, template_git: Path, tmp_path: Path) -> None:
    baker(str(template_git), tmp_path, {"project_name": "Remote Proj", "dvc_remote_url": "s3://bucket/remote-proj"})
    config = (tmp_path / "remote-proj" / ".dvc" / "config").read_text()
    root = (ROOT / ".dvc" / "config").read_text()
    url = re.search(r"url = (.*)", root).group(1)
    assert config == root.replace(url, "s3://bucket/remote-proj")
