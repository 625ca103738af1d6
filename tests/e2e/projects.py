"""A temp project as a user has it: a copy of this repository in git with a bare origin and a DVC remote."""

from __future__ import annotations

from pathlib import Path

from ..helpers import BIN, ROOT, commit_all, copy_project, init_repo, run
from ..serving.servers import FEEDBACK_ENV, FEEDBACK_TOKEN, Server, free_port


def new_project(base: Path) -> Path:
    work = copy_project(base / "work")
    init_repo(work, base / "origin.git", base / "dvc-remote")
    (work / ".venv").symlink_to(ROOT / ".venv")
    return work


def select(work: Path, data: str, model: str) -> None:
    """Choose the data and model in conf/config.yaml, as the README says."""
    conf = work / "conf" / "config.yaml"
    text = conf.read_text().replace("  - data: penguins\n", f"  - data: {data}\n")
    conf.write_text(text.replace("  - model: logistic_regression\n", f"  - model: {model}\n"))
    run(["make", "-o", ".venv/.run-deps", "params"], cwd=work)
    commit_all(work, f"select {data} + {model}")


def make_run(work: Path) -> tuple[int, str]:
    proc = run(["make", "-o", ".venv/.run-deps", "run"], cwd=work, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def serve_workspace(work: Path, log_url: str) -> Server:
    """The real server on the workspace's trained model (`serve --from-workspace`), ready."""
    port = free_port()
    cmd = [str(BIN / "ml-gitops"), "serve", "--from-workspace", "--port", str(port), "--log-url", log_url]
    srv = Server(cmd, work, port, log_url, {FEEDBACK_ENV: FEEDBACK_TOKEN})
    srv.wait()
    return srv
