"""Session fixtures for the scaffolding proofs: one template repo, one default bake, one renamed bake.

Bakes run the real `cookiecutter`/`cruft` commands. The renamed project is checked two ways:
quickly, with its own `params check`, a full `dvc repro` (twice: the second must be a no-op) and its
unit tests, run from a small venv that sees only the baked `src/` and our locked third-party
packages (not our `ml_gitops`); and completely, in `test_baked_make.py`, where a copy of it runs its
own `make run` and `make test` with its own fresh uv environment.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import pytest

from ..helpers import BIN, ROOT, commit_all, copy_project, run

sys.path.insert(0, str(ROOT / "hooks"))
sys.dont_write_bytecode = True  # keep hooks/ free of __pycache__

FANCY = {
    "project_name": "My Fancy Project",
    "package_name": "fancy_pkg",
    "description": "Penguins, but fancier.",
    "author_name": "Fancy Team",
    "author_email": "team@fancy.example",
    "init_git": "yes",
}
FANCY_SLUG = "my-fancy-project"


@dataclass(frozen=True)
class Baker:
    """Runs the real cookiecutter CLI with a private config (clone cache, replay dir)."""

    config: Path

    def __call__(self, template: str, out: Path, answers: dict[str, str] | None = None, check: bool = True, cwd=None):
        out.mkdir(parents=True, exist_ok=True)
        extra = [f"{k}={v}" for k, v in (answers or {}).items()]
        cmd = [str(BIN / "cookiecutter"), "--no-input", "--config-file", str(self.config), "-o", str(out), template]
        return run([*cmd, *extra], cwd=cwd or out, check=check)


@pytest.fixture(scope="session")
def baker(tmp_path_factory: pytest.TempPathFactory) -> Baker:
    base = tmp_path_factory.mktemp("cc-config")
    cfg = base / "config.yaml"
    cfg.write_text(f"cookiecutters_dir: {base / 'clones'}\nreplay_dir: {base / 'replay'}\n")
    return Baker(cfg)


@pytest.fixture(scope="session")
def template_git(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The root (shim included) committed in a temp git repo: what a user's `gh:` URL points at."""
    repo = copy_project(tmp_path_factory.mktemp("template") / "ml-gitops")
    run(["git", "init", "-q", "-b", "main"], cwd=repo)
    commit_all(repo, "template")
    return repo


@pytest.fixture(scope="session")
def default_bake(baker: Baker, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Default answers, from the live root as a local path."""
    out = tmp_path_factory.mktemp("default-bake")
    baker(str(ROOT), out)
    return out / "ml-gitops"


@pytest.fixture(scope="session")
def fancy_bake(baker: Baker, template_git: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Other answers, from a file:// git URL, with git init + first commit by the hook."""
    out = tmp_path_factory.mktemp("fancy-bake")
    baker(f"file://{template_git}", out, FANCY)
    return out / FANCY_SLUG


@pytest.fixture(scope="session")
def fancy_venv(fancy_bake: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv seeing the baked src/ and our third-party site-packages, plus the baked console script.

    Paths listed in a .pth file are not scanned for further .pth files, so our editable
    `ml_gitops` install stays invisible: the baked project must stand on its own code.
    """
    venv = tmp_path_factory.mktemp("fancy-venv") / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=venv.parent)
    site = Path(
        run(
            [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            cwd=venv.parent,
        ).stdout.strip()
    )
    (site / "baked.pth").write_text(f"{sysconfig.get_paths()['purelib']}\n{fancy_bake / 'src'}\n")
    script = venv / "bin" / FANCY_SLUG
    script.write_text(
        f"#!{venv / 'bin' / 'python'}\nimport sys\nfrom fancy_pkg.cli.main import main\nsys.exit(main())\n"
    )
    script.chmod(0o755)
    return venv


def venv_env(venv: Path) -> dict[str, str]:
    from ..helpers import env

    e = env()
    e["PATH"] = f"{venv / 'bin'}{os.pathsep}{e['PATH']}"
    e.pop("PYTHONPATH", None)
    e.pop("VIRTUAL_ENV", None)
    return e
