"""cruft create / check / update through `template check|update`, conflicts included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ..helpers import BIN, commit_all, run

# cruft create/update against a bare origin: the full suite only.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ANSWERS = {"project_name": "Crufty Thing", "package_name": "crufty"}
CLI = str(BIN / "ml-gitops")  # the root's own command, run inside the generated project


@pytest.fixture
def linked(template_git: Path, tmp_path: Path) -> tuple[Path, Path]:
    """(template clone we may change, project created from it with `cruft create` and committed)."""
    template = tmp_path / "template"
    run(["git", "clone", "-q", str(template_git), str(template)], cwd=tmp_path)
    extra = json.dumps(ANSWERS)
    run([str(BIN / "cruft"), "create", "--no-input", "--extra-context", extra, str(template)], cwd=tmp_path)
    project = tmp_path / "crufty-thing"
    state = json.loads((project / ".cruft.json").read_text())
    assert state["context"]["cookiecutter"]["package_name"] == "crufty"
    assert (project / "src" / "crufty" / "cli" / "main.py").is_file()
    assert not (project / ".git").exists()  # under cruft the hook never runs git init
    run(["git", "init", "-q", "-b", "main"], cwd=project)
    commit_all(project, "start")
    return template, project


def change_template(template: Path, rel: str, old: str, new: str) -> None:
    path = template / rel
    path.write_text(path.read_text().replace(old, new, 1))
    commit_all(template, f"template: change {rel}")


def test_check_in_sync_then_out_of_date(linked: tuple[Path, Path]) -> None:
    template, project = linked
    assert run([str(BIN / "cruft"), "check"], cwd=project, check=False).returncode == 0
    ok = run([CLI, "template", "check"], cwd=project)
    assert "up to date" in ok.stderr
    change_template(template, "README.md", "## Use your own data", "## Use your own data (now better)")
    assert run([str(BIN / "cruft"), "check"], cwd=project, check=False).returncode == 1
    out = project.parent / "gh-output"
    late = run([CLI, "template", "check", "--output", str(out)], cwd=project, check=False)
    assert late.returncode == 1 and "out of date" in late.stderr
    assert "outdated=true" in out.read_text()


def test_update_applies_the_template_change_renamed(linked: tuple[Path, Path], tmp_path: Path) -> None:
    template, project = linked
    # A change that mentions the package name: it arrives renamed.
    change_template(
        template,
        "src/ml_gitops/config/paths.py",
        '"""',
        '"""Paths of ml_gitops (template v2).\n\n',
    )
    body, out = tmp_path / "body.md", tmp_path / "gh-output"
    proc = run([CLI, "template", "update", "--commit", "--body-file", str(body), "--output", str(out)], cwd=project)
    assert "No conflicts" in proc.stdout
    assert (
        (project / "src" / "crufty" / "config" / "paths.py").read_text().startswith('"""Paths of crufty (template v2).')
    )
    head = run(["git", "rev-parse", "HEAD"], cwd=template).stdout.strip()
    assert json.loads((project / ".cruft.json").read_text())["commit"] == head
    outputs = dict(line.split("=", 1) for line in out.read_text().splitlines())
    assert outputs["updated"] == "true" and outputs["conflicts"] == "0"
    assert run(["git", "branch", "--show-current"], cwd=project).stdout.strip() == outputs["branch"]
    assert run(["git", "status", "--porcelain"], cwd=project).stdout == ""
    assert "src/crufty/config/paths.py" in body.read_text()
    assert run([CLI, "template", "check"], cwd=project).returncode == 0
    again = run([CLI, "template", "update"], cwd=project)
    assert "already up to date" in again.stderr


def test_update_reports_conflicts(linked: tuple[Path, Path], tmp_path: Path) -> None:
    template, project = linked
    line = "  threads: 1"
    cfg = project / "conf" / "config.yaml"
    cfg.write_text(cfg.read_text().replace(line, "  threads: 2"))
    commit_all(project, "project: more threads")
    change_template(template, "conf/config.yaml", line, "  threads: 4")
    body = tmp_path / "body.md"
    proc = run([CLI, "template", "update", "--body-file", str(body)], cwd=project, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # cruft itself exits 0 here
    assert "1 conflict(s) to resolve: conf/config.yaml" in proc.stderr
    assert "Conflicts (1)" in body.read_text() and "`conf/config.yaml`" in body.read_text()
    # with --allow-conflicts (the workflow) the same state is reported but does not fail
    run(["git", "reset", "-q", "--hard"], cwd=project)
    run(["git", "clean", "-qfd"], cwd=project)
    ok = run([CLI, "template", "update", "--allow-conflicts", "--commit"], cwd=project)
    assert "conf/config.yaml" in ok.stdout
    assert "<<<<<<<" in cfg.read_text()


def test_update_refuses_a_dirty_tree(linked: tuple[Path, Path]) -> None:
    _, project = linked
    (project / "README.md").write_text("local edit\n")
    proc = run([CLI, "template", "update"], cwd=project, check=False)
    assert proc.returncode == 2 and "working tree is not clean" in proc.stderr


def test_no_cruft_file_is_a_noop(tmp_path: Path) -> None:
    run(["git", "init", "-q"], cwd=tmp_path)
    for action in ("check", "update"):
        proc = run([CLI, "template", action], cwd=tmp_path)
        assert "nothing to" in proc.stderr
