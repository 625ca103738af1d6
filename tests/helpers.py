"""Shared test helpers: run real commands, copy the project into temp git repos."""

from __future__ import annotations

import fcntl
import hashlib
import io
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path

from ml_gitops.cli.main import PROG, main

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}
# Outputs of the pipeline: never copied into a fresh project (DVC recreates them).
OUTPUT_PREFIXES = (
    "data/processed/",
    "models/model.skops",
    "models/model.onnx",
    "reports/predictions.parquet",
    "reports/figures/",
)


def env() -> dict[str, str]:
    e = dict(os.environ)
    e.update(GIT_ENV)
    e["PATH"] = f"{BIN}{os.pathsep}{e.get('PATH', '')}"
    e["DVC_NO_ANALYTICS"] = "1"
    e["GTO_NO_ANALYTICS"] = "1"
    e["ITERATIVE_DO_NOT_TRACK"] = "1"
    e.setdefault("OMP_NUM_THREADS", "1")
    return e


def run(cmd: list[str] | str, cwd: Path, check: bool = True, **kw) -> subprocess.CompletedProcess[str]:
    """Run a real command; on an unexpected failure show its output in the assertion."""
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        env=kw.pop("env", env()),
        text=True,
        capture_output=True,
        shell=isinstance(cmd, str),
        **kw,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd!r} exited {proc.returncode}\nSTDOUT:\n{proc.stdout}\nSTDERR:\n{proc.stderr}")
    return proc


def run_main(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``ml-gitops *args`` in ``cwd`` through the CLI's entry point in this process, its exit code, stdout
    and stderr as `run` returns them. A new process pays ~2-5 s of imports (sklearn, skops, matplotlib) per
    command: tests of one command's many outcomes call this, and one test runs the real process."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    out, err = io.StringIO(), io.StringIO()
    old = Path.cwd()
    os.chdir(cwd)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = main(args)
    finally:
        os.chdir(old)
        root.handlers[:], root.level = handlers, level  # the CLI set up logging on the redirected stderr
    return subprocess.CompletedProcess([PROG, *args], code, out.getvalue(), err.getvalue())


def project_files(root: Path = ROOT) -> list[str]:
    """The files a clean clone has: tracked plus untracked-but-not-ignored."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted({f for f in out.split("\0") if f and (root / f).is_file()})


def copy_project(dest: Path, root: Path = ROOT) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for rel in project_files(root):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, target)
    return dest


def init_repo(work: Path, origin: Path, remote: Path) -> None:
    """git init + bare origin + a local DVC remote (in config.local, like real credentials)."""
    run(["git", "init", "--bare", "-q", "-b", "main", str(origin)], cwd=work.parent)
    run(["git", "init", "-q", "-b", "main"], cwd=work)
    run(["git", "remote", "add", "origin", str(origin)], cwd=work)
    run(["dvc", "remote", "add", "--local", "-f", "-d", "local", str(remote)], cwd=work)


def commit_all(work: Path, message: str) -> bool:
    """Commit everything; False when there was nothing to commit."""
    run(["git", "add", "-A"], cwd=work)
    if run(["git", "diff", "--cached", "--quiet"], cwd=work, check=False).returncode == 0:
        return False
    run(["git", "commit", "-q", "-m", message], cwd=work)
    return True


def reproduced_project(base: Path, env_: dict[str, str] | None = None) -> Path:
    """The project in ``base/work``: git repo with a bare ``base/origin.git``, a DVC remote in
    ``base/dvc-remote``, the pipeline reproduced and committed. Tests and benchmarks start here."""
    work = copy_project(base / "work")
    init_repo(work, base / "origin.git", base / "dvc-remote")
    commit_all(work, "project files")
    run(["dvc", "repro"], cwd=work, **({"env": env_} if env_ else {}))
    # The committed dvc.lock is reproduced byte for byte, so usually nothing changes here.
    commit_all(work, "run pipeline")
    return work


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def snapshot(work: Path, rels: list[str]) -> dict[str, str]:
    return {r: md5(work / r) for r in rels if (work / r).exists()}


def stages_run(output: str) -> list[str]:
    return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage '")]


# Absolute paths a project copy must re-point: git's origin and DVC's local remote.
_REPO_CONFIGS = ("work/.git/config", "work/.dvc/config.local")


def copy_tree(src: Path, dest: Path) -> Path:
    """Copy ``src`` (``work/``, ``origin.git``, ``dvc-remote`` as `reproduced_project` lays them out) into
    ``dest`` (new or empty) and re-point the copy's origin and DVC remote at the copied ones, so nothing
    done in the copy reaches ``src``. A copy takes a fraction of a second; `dvc repro` from scratch ~25 s."""
    shutil.copytree(src, dest, symlinks=True, dirs_exist_ok=True)
    for rel in _REPO_CONFIGS:
        conf = dest / rel
        if conf.is_file():
            conf.write_text(conf.read_text().replace(f"{src}{os.sep}", f"{dest}{os.sep}"))
    return dest


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (pytest-xdist workers) for the block."""
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def build_once(basetemp: Path, name: str, build: Callable[[Path], None]) -> Path:
    """``build(dir)`` once per test run: pytest-xdist workers share ``basetemp`` (their basetemps' parent)
    and take a file lock, so the first to ask builds and the others wait and reuse it. Callers copy the
    result (`copy_tree`) and never change it. A failed build is not retried: every caller gets its error."""
    target = basetemp / f"shared-{name}"
    done, failed = target.with_name(target.name + ".done"), target.with_name(target.name + ".failed")
    with _locked(target.with_name(target.name + ".lock")):
        if failed.exists():
            raise AssertionError(f"building {name} failed in another worker:\n{failed.read_text()}")
        if not done.exists():
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            try:
                build(target)
            except BaseException as exc:
                failed.write_text(f"{type(exc).__name__}: {exc}")
                raise
            done.touch()
    return target


def rehashed_lock(lock: dict, project: Path) -> dict:
    """``lock`` with each file dependency's md5 and size taken from ``project`` where its bytes differ.

    Renaming a project changes the bytes of sources that name it; outputs must still match exactly.
    """
    for stage in lock["stages"].values():
        for entry in stage.get("deps", []):
            path = project / entry["path"]
            if entry.get("md5", "").endswith(".dir") or not path.is_file():
                continue
            data = path.read_bytes()
            if len(data) != entry["size"] or hashlib.md5(data).hexdigest() != entry["md5"]:
                entry.update(md5=hashlib.md5(data).hexdigest(), size=len(data))
    return lock
