"""`make pr-comment` and `make pr-number`: the pr-report artifact is untrusted data, checked before posting.

pr-comment.yml runs `make pr-comment` with `pull-requests: write` on an artifact a fork's
PR may have made. These run the real Makefile recipes with `gh` and `cml` stand-ins on PATH
(the only calls that need GitHub): a malformed PR number or a PR whose head is not the
commit the pr run built posts nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ..helpers import ROOT

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def tools(tmp_path: Path) -> Path:
    """`gh` answers SHA for any PR's head; `cml` records its argv in calls.jsonl."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "gh").write_text(f"#!/bin/sh\necho {SHA}\n")
    (bindir / "cml").write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"open({str(tmp_path / 'calls.jsonl')!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
    )
    for tool in ("gh", "cml"):
        (bindir / tool).chmod(0o755)
    return bindir


def make(target: str, cwd: Path, tools: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}", "GITHUB_REPOSITORY": "o/r", **env}
    return subprocess.run(
        ["make", "--no-print-directory", "-f", str(ROOT / "Makefile"), target],
        cwd=cwd,
        env=full,
        capture_output=True,
        text=True,
        check=False,
    )


def posted(tmp_path: Path) -> list[list[str]]:
    calls = tmp_path / "calls.jsonl"
    return [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []


def artifact(tmp_path: Path, number: str) -> Path:
    folder = tmp_path / "pr-report"
    folder.mkdir()
    (folder / "pr-report.md").write_text("## Model report\n")
    (folder / "pr-number").write_text(number)
    return folder


def test_a_valid_artifact_updates_the_one_sticky_comment(tmp_path: Path, tools: Path) -> None:
    folder = artifact(tmp_path, "42\n")
    proc = make("pr-comment", tmp_path, tools, PR_REPORT_DIR=str(folder), HEAD_SHA=SHA)
    assert proc.returncode == 0, proc.stderr
    assert posted(tmp_path) == [
        [
            "comment",
            "update",
            f"{folder}/pr-report.md",
            "--target=pr/42",
            "--watermark-title=ml-gitops PR report",
            "--no-publish",
        ]
    ]


@pytest.mark.parametrize("number", ["42; touch pwned", "$(touch pwned)", "-1", "0", "", "4" * 20])
def test_a_malformed_pr_number_posts_nothing(tmp_path: Path, tools: Path, number: str) -> None:
    folder = artifact(tmp_path, number)
    proc = make("pr-comment", tmp_path, tools, PR_REPORT_DIR=str(folder), HEAD_SHA=SHA)
    assert proc.returncode == 2
    assert "does not hold a PR number; not posting" in proc.stderr
    assert posted(tmp_path) == [] and not (tmp_path / "pwned").exists()


def test_a_pr_whose_head_is_another_commit_posts_nothing(tmp_path: Path, tools: Path) -> None:
    folder = artifact(tmp_path, "42")
    other = "f" * 40
    proc = make("pr-comment", tmp_path, tools, PR_REPORT_DIR=str(folder), HEAD_SHA=other)
    assert proc.returncode == 2
    assert f"pr-comment: PR #42's head is {SHA}, not {other}" in proc.stderr
    assert posted(tmp_path) == []


def test_no_report_is_nothing_to_post(tmp_path: Path, tools: Path) -> None:
    proc = make("pr-comment", tmp_path, tools, PR_REPORT_DIR=str(tmp_path / "absent"), HEAD_SHA=SHA)
    assert proc.returncode == 0 and "nothing to post" in proc.stdout
    assert posted(tmp_path) == []


def test_pr_number_writes_digits_only(tmp_path: Path, tools: Path) -> None:
    assert make("pr-number", tmp_path, tools, PR_NUMBER="7").returncode == 0
    assert (tmp_path / "reports" / "pr-number").read_text() == "7\n"
    bad = make("pr-number", tmp_path, tools, PR_NUMBER="7 && x")
    assert bad.returncode == 2 and "is not a PR number" in bad.stderr
