"""The rehearsal harness evaluates GitHub expressions as GitHub does (the subset our workflows use)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .runner import Ctx, condition, evaluate, parse_env_file

CTX = {
    "github": Ctx(
        {
            "event_name": "pull_request",
            "repository": "me/repo",
            "event": Ctx({"pull_request": Ctx({"head": Ctx({"repo": Ctx({"full_name": "fork/repo"})})})}),
            "ref": "refs/tags/model#prod#3",
        }
    ),
    "secrets": Ctx({"AWS_ACCESS_KEY_ID": ""}),
    "env": Ctx({"IS_FORK": "true"}),
    "needs": Ctx({"plan": Ctx({"outputs": Ctx({"deploy": "true", "stage": ""})})}),
    "inputs": Ctx(),
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${{ github.event.pull_request.head.repo.full_name != github.repository }}", True),
        ("${{ secrets.AWS_ACCESS_KEY_ID != '' }}", False),
        ("${{ secrets.MISSING }}", ""),
        ("${{ inputs.ref || github.ref }}", "refs/tags/model#prod#3"),
        ("v-${{ needs.plan.outputs.deploy }}-x", "v-true-x"),
        ("${{ github.event_name == 'PULL_REQUEST' }}", True),
        ("${{ startsWith(github.ref, 'refs/tags/model#') && !contains(github.ref, 'staging') }}", True),
        ("${{ format('{0}-{1}', 'a', 'b') }}", "a-b"),
    ],
)
def test_expressions(text: str, expected: object) -> None:
    assert evaluate(text, CTX) == expected


def test_conditions_and_status_functions() -> None:
    assert condition("env.IS_FORK == 'true'", CTX)
    assert not condition("needs.plan.outputs.stage != ''", CTX)
    assert not condition("env.IS_FORK == 'true'", CTX, status="failure")  # implicit success()
    assert condition("always() && env.IS_FORK == 'true'", CTX, status="failure")
    assert condition(None, CTX) and not condition(None, CTX, status="failure")
    with pytest.raises(ValueError, match="cannot parse"):
        evaluate("${{ github.ref ; rm -rf / }}", CTX)


def test_output_files_with_heredocs(tmp_path: Path) -> None:
    f = tmp_path / "out"
    f.write_text("a=1\nbody<<EOF\nline 1\nline=2\nEOF\nb=x=y\n")
    assert parse_env_file(f) == {"a": "1", "body": "line 1\nline=2", "b": "x=y"}
