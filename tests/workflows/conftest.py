"""Scenarios: a project pushed to a bare ``origin`` with a shared DVC remote, as GitHub would hold it."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ..helpers import ROOT, commit_all, run
from .runner import Event, JobResult, Runner

WORKFLOWS = ROOT / ".github" / "workflows"
# Passed through to the rehearsed steps: how this machine reaches the package registries, and the
# download caches a runner would restore with actions/cache. Nothing of the project's venv.
PASS_THROUGH = (
    "PIP_CERT",
    "PIP_FIND_LINKS",
    "PIP_DEFAULT_TIMEOUT",
    "PIP_DISABLE_PIP_VERSION_CHECK",
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
)


def runner_env() -> dict[str, str]:
    env = {k: os.environ[k] for k in PASS_THROUGH if k in os.environ}
    env["UV_CACHE_DIR"] = os.environ.get("UV_CACHE_DIR", str(Path.home() / ".cache" / "uv"))
    env["PIP_CACHE_DIR"] = os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip"))
    env["OMP_NUM_THREADS"] = "1"
    return env


@dataclass
class GitHub:
    """A repository as GitHub holds it: ``origin`` (bare), the DVC remote jobs share, and a developer clone."""

    base: Path
    origin: Path
    dev: Path
    remote: Path
    runs: int = 0

    @property
    def state(self) -> Path:
        """What the registry and GitHub hold between runs (images, attestations, releases)."""
        return self.base / "github-state"

    def head(self, ref: str = "HEAD") -> str:
        return run(["git", "rev-parse", ref], cwd=self.dev).stdout.strip()

    def rehearse(
        self,
        workflow: str,
        event: Event,
        secrets: dict[str, str] | None = None,
        only: list[str] | None = None,
        **runner_kw: Any,
    ) -> tuple[dict[str, JobResult], Runner]:
        """Run ``workflow``'s jobs for ``event`` in fresh clones of origin; (results by job, the runner).

        ``runner_kw`` go to `Runner` (e.g. ``state=github.state`` for stand-ins that remember across runs).
        """
        self.runs += 1
        work = self.base / f"run-{self.runs}-{workflow.split('.')[0]}"
        # The DVC remote sits beside the checkouts (`../ml-gitops-dvc-remote` in .dvc/config).
        (work / "ws").mkdir(parents=True)
        (work / "ws" / "ml-gitops-dvc-remote").symlink_to(self.remote)
        r = Runner(WORKFLOWS / workflow, self.origin, work, event, secrets=secrets, extra_env=runner_env(), **runner_kw)
        return r.run(only), r


@pytest.fixture
def github(pipeline_repo: Path, tmp_path: Path) -> GitHub:
    """The reproduced project pushed to a private bare origin, its DVC outputs in a private remote."""
    dev = tmp_path / "dev"
    shutil.copytree(pipeline_repo, dev, symlinks=True)
    origin = tmp_path / "origin.git"
    remote = tmp_path / "dvc-remote"
    run(["git", "init", "--bare", "-q", "-b", "main", str(origin)], cwd=tmp_path)
    run(["git", "remote", "set-url", "origin", str(origin)], cwd=dev)
    run(["dvc", "remote", "add", "--local", "-f", "-d", "local", str(remote)], cwd=dev)
    commit_all(dev, "project")
    run(["dvc", "push", "-q"], cwd=dev)
    run(["git", "push", "-q", "origin", "main"], cwd=dev)
    return GitHub(tmp_path, origin, dev, remote)
