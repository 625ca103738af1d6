"""README's commands, verbatim, from a fresh shell in a fresh clone (issue 16, point 6).

`env -i HOME=... PATH=/usr/bin:/bin bash -lc '<command>'`: a login shell with no venv of ours, no uv
and no test environment, in a `git clone` with no `.venv` and no pipeline outputs. The one thing
prepared is the uv installer (`.tools/bin/uv`, what the Makefile's pip bootstrap would leave there),
and the machine's TLS/proxy settings pass through; the environment comes from the clone's own uv.lock.
tests/unit/test_doc_commands.py checks every command statically; this runs the quickstart for real.
The baked project's `cd my-fancy-project && make run && make test` is tests/scaffold/test_baked_make.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ..helpers import ROOT, commit_all, copy_project, run
from ..unit.test_doc_commands import extract

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

UV = next((Path(p) for p in (shutil.which("uv"), ROOT / ".tools/bin/uv") if p and Path(p).is_file()), None)


# The machine's network trust and proxy settings (a user's system has its own): uv fetches the build
# backend from the index when it builds the project, behind a TLS-inspecting proxy on some machines.
PROXIES = ("http_proxy", "https_proxy", "no_proxy")
NETWORK = ("SSL_CERT_FILE", "SSL_CERT_DIR", *PROXIES, *(p.upper() for p in PROXIES))


def fresh_shell(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``command`` exactly as typed into a new terminal: only HOME, a system PATH and network settings survive."""
    network = [f"{k}={os.environ[k]}" for k in NETWORK if k in os.environ]
    return subprocess.run(
        ["env", "-i", f"HOME={os.environ['HOME']}", "PATH=/usr/bin:/bin", *network, "bash", "-lc", command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )


def documented(doc: str, command: str) -> str:
    """``command``, after checking it is written in ``doc`` (fenced or inline), word for word."""
    assert any(c.where.startswith(f"{doc}:") and " ".join(c.words) == command for c in extract()), (doc, command)
    return command


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if UV is None:
        pytest.skip("uv not found (make test puts it on PATH or in .tools/)")
    base = tmp_path_factory.mktemp("fresh-shell")
    origin = copy_project(base / "origin")
    run(["git", "init", "-q", "-b", "main"], cwd=origin)
    commit_all(origin, "project files")
    run(["git", "clone", "-q", str(origin), str(base / "clone")], cwd=base)
    work = base / "clone"
    (work / ".tools/bin").mkdir(parents=True)
    (work / ".tools/bin/uv").symlink_to(UV.resolve())
    return work


def test_the_quickstart_runs_from_a_fresh_shell(clone: Path) -> None:
    """`make run` installs, reproduces and prints the metrics; `make params && make run` then redoes nothing."""
    assert not (clone / ".venv").exists()
    ran = fresh_shell(documented("README.md", "make run"), clone)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert "| accuracy |" in ran.stdout, ran.stdout[-3000:]
    again = fresh_shell("make params && make run", clone)
    documented("README.md", "make params"), documented("README.md", "make run")
    assert again.returncode == 0 and "| accuracy |" in again.stdout, again.stdout[-3000:] + again.stderr[-3000:]
    assert "Running stage" not in again.stdout + again.stderr  # conf/ unchanged: nothing to rebuild
    helped = fresh_shell(documented("README.md", "make help"), clone)
    listed = set(re.findall(r"\x1b\[36m(\S+)", helped.stdout))
    assert helped.returncode == 0 and {"run", "test", "schema"} <= listed, helped.stdout


def test_a_bare_venv_tool_is_not_found_but_the_documented_forms_are(clone: Path) -> None:
    """Why the docs write `.venv/bin/dvc`: in a fresh shell a bare `dvc` is exit 127."""
    installed = fresh_shell("make install", clone)  # a no-op after the quickstart
    assert installed.returncode == 0, installed.stderr
    assert fresh_shell("dvc --version", clone).returncode == 127
    assert fresh_shell("ml-gitops --version", clone).returncode == 127
    line = documented("docs/lifecycle.md", ".venv/bin/dvc remote add -d storage s3://my-bucket/ml-gitops")
    added = fresh_shell(line, clone)
    assert added.returncode == 0, added.stderr
    assert "s3://my-bucket/ml-gitops" in (clone / ".dvc/config").read_text()
    run(["git", "checkout", "--", ".dvc/config"], cwd=clone)


def test_make_schema_drafts_from_a_fresh_shell(clone: Path) -> None:
    """README's own-data step: `make schema DATA=data/raw/my_data.csv TARGET=label`."""
    raw = clone / "data/raw/my_data.csv"
    raw.parent.mkdir(parents=True, exist_ok=True)
    penguins = (ROOT / "src/ml_gitops/datasets/penguins.csv").read_text()
    raw.write_text(penguins.replace("species,", "label,", 1))
    line = documented("README.md", "make schema DATA=data/raw/my_data.csv TARGET=label")
    draft = clone / "conf/data/my_data.yaml"
    try:
        drafted = fresh_shell(line, clone)
        assert drafted.returncode == 0, drafted.stdout[-2000:] + drafted.stderr[-2000:]
        assert "label" in draft.read_text()
    finally:  # the other tests' `make run` would refuse a conf/ that changed since `make params`
        raw.unlink()
        draft.unlink(missing_ok=True)


def test_make_test_finds_its_tools_from_a_fresh_shell(clone: Path) -> None:
    """`make test` installs the dev tools and runs pytest from .venv (one small file here, not the suite)."""
    tested = fresh_shell('make test PYTEST_ARGS="-q -n 0 -p no:randomly tests/unit/test_cli.py"', clone)
    documented("README.md", "make test")
    assert tested.returncode == 0, tested.stdout[-3000:] + tested.stderr[-3000:]
    assert " passed" in tested.stdout, tested.stdout[-2000:]
