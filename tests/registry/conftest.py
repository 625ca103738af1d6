"""A reproduced repo with its OWN bare origin and DVC remote, so tags pushed here stay here."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ..helpers import commit_all, run, run_main


def cli(work: Path, *args: str, check: bool = True, in_process: bool = False):
    """``ml-gitops *args`` in ``work``: a real process, or (``in_process``, for tests of many refusals)
    the same entry point in this one, which skips ~0.7 s of imports per command."""
    if not in_process:
        return run(["ml-gitops", *args], cwd=work, check=check)
    proc = run_main(list(args), cwd=work)
    assert not check or proc.returncode == 0, (proc.args, proc.returncode, proc.stdout, proc.stderr)
    return proc


def outputs(proc_or_text) -> dict[str, str]:
    """promote's and resolve's key=value lines (from a finished process or their text)."""
    text = proc_or_text if isinstance(proc_or_text, str) else proc_or_text.stdout
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and " " not in line)


def trust_test_tagger(work: Path) -> None:
    """Deploy trusts version tags by the tagger emails main's params.yaml lists: the tests tag as Test."""
    conf = work / "conf/registry/default.yaml"
    conf.write_text(conf.read_text().replace("trusted_taggers:\n", "trusted_taggers:\n  - test@example.com\n"))
    cli(work, "params", "sync")
    commit_all(work, "trust the test's tagger")


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
