"""Workflow scenarios rehearsed as a clean runner runs them (tests/workflows/runner.py)."""

from __future__ import annotations

import pytest

from ..helpers import run
from .conftest import GitHub
from .runner import Event

# Each scenario installs the locked environment in fresh clones (~1 min): the full suite runs them.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_merge_to_main_promotes_and_calls_deploy(github: GitHub) -> None:
    sha = github.head()
    jobs, runner = github.rehearse("promote.yml", Event("push", ref="refs/heads/main", sha=sha))
    promote = jobs["promote"]
    assert promote.status == "success", promote.log
    assert promote.outputs["new"] == "true", promote.log
    tags = set(run(["git", "tag", "--list"], cwd=github.origin).stdout.split())
    assert "model@v0.1.0" in tags, tags
    call = next(c for c in runner.calls if c["tool"] == "workflow_call")
    assert call["with"]["ref"] == f"refs/tags/{promote.outputs['stage_tag']}"
