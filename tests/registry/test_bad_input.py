"""Every refusal is one line naming the culprit, and leaves no tag pushed and no release built."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_gitops.config.errors import UserError
from ml_gitops.registry.tags import bump, requested_bump

from ..helpers import commit_all, run
from .conftest import cli, origin_tags, refused

pytestmark = pytest.mark.e2e


def test_refusals_name_the_culprit_and_change_nothing(reg_repo, tmp_path: Path) -> None:
    work, origin, _ = reg_repo
    cli(work, "registry", "promote", "--push")
    before = origin_tags(origin)
    assert before == {"model@v0.1.0", "model#staging#1"}

    # a new commit asking for a version that already exists
    (work / "NOTES.md").write_text("notes\n")
    commit_all(work, "notes")
    refused(
        cli(work, "registry", "promote", "--push", "--version", "v0.1.0", check=False, in_process=True),
        "model@v0.1.0",
        "already exists",
    )
    refused(
        cli(work, "registry", "promote", "--push", "--version", "1.0", check=False, in_process=True),
        "'1.0'",
        "malformed",
    )
    # a stage outside .gto's allow-list, a malformed version, an unregistered one
    refused(
        cli(work, "registry", "assign", "--stage", "qa", "--version", "v0.1.0", "--push", check=False, in_process=True),
        "'qa'",
        ".gto",
    )
    refused(
        cli(work, "registry", "assign", "--stage", "prod", "--version", "v1", "--push", check=False, in_process=True),
        "'v1'",
        "malformed",
    )
    refused(
        cli(
            work, "registry", "assign", "--stage", "prod", "--version", "v0.9.0", "--push", check=False, in_process=True
        ),
        "model@v0.9.0",
        "not registered",
    )
    refused(
        cli(
            work,
            "registry",
            "assign",
            "--stage",
            "prod",
            "--version",
            "v0.1.0",
            "--unassign",
            check=False,
            in_process=True,
        ),
        "'prod'",
        "nothing to unassign",
    )
    # deploy-plan: a malformed tag of ours is an error; other artifacts' tags are quietly not ours
    refused(
        cli(work, "registry", "plan", "--ref", "refs/tags/model@v1.0", check=False, in_process=True),
        "model@v1.0",
        "malformed",
    )
    assert "deploy=false" in cli(work, "registry", "plan", "--ref", "refs/tags/churn@v1.0.0").stdout
    refused(
        cli(work, "registry", "plan", "--ref", "refs/tags/model#prod#99", check=False, in_process=True),
        "model#prod#99",
        "not found",
    )
    # releases of unregistered or malformed versions build nothing
    refused(
        cli(work, "release", "build", "--version", "v0.5.0", check=False, in_process=True),
        "model@v0.5.0",
        "not registered",
    )
    refused(cli(work, "release", "build", "--version", "0.1", check=False, in_process=True), "'0.1'", "malformed")
    refused(
        cli(work, "release", "verify", str(tmp_path / "nope.tar.gz"), check=False, in_process=True),
        "nope.tar.gz",
        "not found",
    )
    refused(
        cli(work, "release", "verify", str(work / "conf"), check=False, in_process=True),
        "conf",
        "MANIFEST.json missing",
    )
    assert not (work / "dist").exists() or not any((work / "dist").iterdir())
    assert origin_tags(origin) == before
    assert set(run(["git", "tag"], cwd=work).stdout.split()) == before

    # a model that neither the cache nor the remote holds: the release is refused, nothing is left in dist/
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(origin), str(clone)], cwd=tmp_path)
    run(["dvc", "remote", "add", "--local", "-f", "-d", "local", str(tmp_path / "empty-remote")], cwd=clone)
    refused(
        cli(clone, "release", "build", "--version", "v0.1.0", check=False, in_process=True),
        "models/model.skops",
        "neither in the DVC cache nor in the remote",
    )
    assert not (clone / "dist/model-v0.1.0").exists() and not (clone / "dist/model-v0.1.0.tar.gz").exists()
    refused(cli(clone, "registry", "resolve", "--stage", "prod", check=False, in_process=True), "'prod'", "no version")


def test_release_bump_trailer(reg_repo) -> None:
    """The largest trailer since the last version picks the bump; an unknown one is one line naming it.

    These commits leave the model as it is, so promote registers nothing for them (issue 15.4): the
    bump promote would take is read with promote's own function, version after version.
    """
    work, origin, _ = reg_repo
    cli(work, "registry", "promote", "--push")
    version, since = "v0.1.0", run(["git", "rev-parse", "HEAD"], cwd=work).stdout.strip()
    for trailer, expected in (("major", "v1.0.0"), ("patch", "v1.0.1"), ("sideways", None)):
        (work / "NOTES.md").write_text(f"{trailer}\n")
        commit_all(work, f"change\n\nRelease-Bump: {trailer}")
        if expected is None:
            with pytest.raises(UserError, match="Release-Bump: 'sideways' is not one of"):
                requested_bump(work, "Release-Bump", since, "minor")
        else:
            version = bump(version, requested_bump(work, "Release-Bump", since, "minor"))
            assert version == expected
            since = run(["git", "rev-parse", "HEAD"], cwd=work).stdout.strip()
    proc = cli(work, "registry", "promote", "--push")
    assert "model unchanged since v0.1.0; nothing to register" in proc.stderr
    assert {t for t in origin_tags(origin) if "@" in t} == {"model@v0.1.0"}
