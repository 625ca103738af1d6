"""A reproduced repo with its OWN bare origin and DVC remote, so tags pushed here stay here."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ..helpers import run


def cli(work: Path, *args: str, check: bool = True):
    return run(["ml-gitops", *args], cwd=work, check=check)


def origin_tags(origin: Path) -> set[str]:
    out = run(["git", "tag", "--list"], cwd=origin).stdout
    return set(out.split())


def refused(proc, *names: str) -> str:
    """Exit 2 with exactly one line on stderr that names each of ``names``."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for n in names:
        assert n in lines[0], (n, lines[0])
    return lines[0]


@pytest.fixture
def reg_repo(repo: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """(work, origin, dvc_remote): `repo` re-pointed at a private origin and a private DVC remote."""
    origin = tmp_path / "origin.git"
    remote = tmp_path / "dvc-remote"
    shared_remote = Path(run(["dvc", "remote", "list", "--local"], cwd=repo).stdout.split()[1])
    shutil.copytree(shared_remote, remote)
    run(["git", "init", "--bare", "-q", "-b", "main", str(origin)], cwd=tmp_path)
    run(["git", "remote", "set-url", "origin", str(origin)], cwd=repo)
    run(["dvc", "remote", "add", "--local", "-f", "-d", "local", str(remote)], cwd=repo)
    run(["git", "push", "-q", "origin", "main"], cwd=repo)
    return repo, origin, remote
