"""Deploy's chain of trust (registry/provenance.py) on real temp git repos with a bare origin.

Each forgery from issue 15 is made the way a person would make it (`git tag`, `git tag -a`, a
branch that was never merged) and must be refused naming its check; promote's own tags (GTO,
as the GitHub Actions bot) pass.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from ml_gitops.config.registry import GITHUB_ACTIONS_BOT, RegistrySettings
from ml_gitops.registry import provenance
from ml_gitops.registry.tags import Registry, gto_api, parse_tag

from ..helpers import run

BOT = {"GIT_COMMITTER_NAME": "github-actions[bot]", "GIT_COMMITTER_EMAIL": GITHUB_ACTIONS_BOT}
MD5 = "0123456789abcdef0123456789abcdef"


def lock(md5: str | None = MD5) -> str:
    outs = [{"path": "models/model.skops", "hash": "md5", "md5": md5, "size": 3}] if md5 else []
    return yaml.safe_dump({"schema": "2.0", "stages": {"train": {"cmd": "train", "outs": outs}}})


def commit(work: Path, message: str, files: dict[str, str] | None = None) -> str:
    for rel, text in (files or {}).items():
        (work / rel).write_text(text)
    run(["git", "add", "-A"], cwd=work)
    run(["git", "commit", "-q", "--allow-empty", "-m", message], cwd=work)
    return run(["git", "rev-parse", "HEAD"], cwd=work).stdout.strip()


def tag(work: Path, name: str, rev: str, message: str | None, env: dict[str, str] | None = None) -> None:
    """A tag made by hand: lightweight without a message, else annotated by ``env``'s committer."""
    args = ["git", "tag", name, rev] if message is None else ["git", "tag", "-a", "-m", message, name, rev]
    run(args, cwd=work, env={**os.environ, **(env or {})})


def promote_message(version: str, sha: str) -> str:
    return f"model {version} from PR #7 at {sha[:12]}: Merge pull request #7\n\naccuracy: 0.9000"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A registry repo: params.yaml's registry group, artifacts.yaml, .gto and a dvc.lock, pushed to origin."""
    origin, work = tmp_path / "origin.git", tmp_path / "work"
    run(["git", "init", "--bare", "-q", "-b", "main", str(origin)], cwd=tmp_path)
    run(["git", "init", "-q", "-b", "main", str(work)], cwd=tmp_path)
    run(["git", "remote", "add", "origin", str(origin)], cwd=work)
    files = {
        "params.yaml": yaml.safe_dump({"registry": {"artifact": "model", "auto_stage": "staging"}}),
        "artifacts.yaml": yaml.safe_dump({"model": {"type": "model", "path": "models/model.skops"}}),
        ".gto": yaml.safe_dump({"types": ["model"], "stages": ["staging", "prod"]}),
        "dvc.lock": lock(),
    }
    commit(work, "Merge pull request #7", files)
    run(["git", "push", "-q", "origin", "main"], cwd=work)
    return work


def settings(work: Path) -> RegistrySettings:
    return Registry.open(work).settings


def refused(work: Path, version: str, check: str) -> str:
    with pytest.raises(provenance.ProvenanceError) as err:
        provenance.check_version_tag(work, settings(work), version)
    line = str(err.value)
    assert f"provenance check {check}:" in line and "\n" not in line, line
    return line


def test_promotes_tags_pass_and_a_human_rollback_is_trusted_through_its_version(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = run(["git", "rev-parse", "HEAD"], cwd=repo).stdout.strip()
    for k, v in BOT.items():
        monkeypatch.setenv(k, v)
    gto_api().register(str(repo), "model", head, version="v0.1.0", message=promote_message("v0.1.0", head))
    proof = provenance.check_version_tag(repo, settings(repo), "v0.1.0")
    assert (proof.version, proof.commit, proof.md5, proof.tagger) == ("v0.1.0", head, MD5, GITHUB_ACTIONS_BOT)

    # a person assigns prod (a rollback): the stage tag is theirs, the version it names is promote's
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "test@example.com")
    gto_api().assign(str(repo), "model", "prod", version="v0.1.0", message="assign prod to v0.1.0")
    reg = Registry.open(repo)
    ref = parse_tag("refs/tags/model#prod#1")
    assert ref is not None
    assert provenance.check_ref(repo, reg.settings, ref, reg.state()).version == "v0.1.0"


def test_a_lightweight_version_tag_is_refused(repo: Path) -> None:
    tag(repo, "model@v9.0.0", "HEAD", None)
    refused(repo, "v9.0.0", "annotated")


def test_a_tag_on_an_unmerged_commit_is_refused_even_when_the_bot_made_it(repo: Path) -> None:
    run(["git", "checkout", "-q", "-b", "feature"], cwd=repo)
    sha = commit(repo, "never reviewed", {"dvc.lock": lock("f" * 32)})
    tag(repo, "model@v9.0.0", sha, promote_message("v9.0.0", sha), BOT)
    line = refused(repo, "v9.0.0", "on-main")
    assert sha[:12] in line and "origin/main" in line


def test_a_version_tag_by_an_untrusted_tagger_is_refused(repo: Path) -> None:
    sha = run(["git", "rev-parse", "HEAD"], cwd=repo).stdout.strip()
    tag(repo, "model@v9.0.0", sha, promote_message("v9.0.0", sha))
    assert "test@example.com" in refused(repo, "v9.0.0", "trusted-tagger")


def test_the_checkouts_own_params_cannot_widen_trust_only_the_trusted_branch_can(repo: Path) -> None:
    sha = run(["git", "rev-parse", "HEAD"], cwd=repo).stdout.strip()
    tag(repo, "model@v9.0.0", sha, promote_message("v9.0.0", sha))
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["registry"]["trusted_taggers"] = [GITHUB_ACTIONS_BOT, "test@example.com"]
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    refused(repo, "v9.0.0", "trusted-tagger")  # uncommitted here: origin/main's params rule

    commit(repo, "trust the release manager")
    run(["git", "push", "-q", "origin", "main"], cwd=repo)
    assert provenance.check_version_tag(repo, settings(repo), "v9.0.0").tagger == "test@example.com"


@pytest.mark.parametrize(
    "message",
    [
        "release v9.0.0",  # not promote's format
        "model v9.0.0 from PR #7 at 000000000000: Merge pull request #7",  # names another commit
        "model v9.0.1 from PR #7 at {sha}: Merge pull request #7",  # names another version
    ],
)
def test_a_message_not_in_promotes_format_is_refused(repo: Path, message: str) -> None:
    sha = run(["git", "rev-parse", "HEAD"], cwd=repo).stdout.strip()
    tag(repo, "model@v9.0.0", sha, message.format(sha=sha[:12]), BOT)
    refused(repo, "v9.0.0", "promote-message")


def test_a_later_tag_message_format_on_main_keeps_older_versions_deployable(repo: Path) -> None:
    sha = run(["git", "rev-parse", "HEAD"], cwd=repo).stdout.strip()
    tag(repo, "model@v0.1.0", sha, promote_message("v0.1.0", sha), BOT)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["registry"]["tag_message"] = "{artifact} {version} ({commit})"
    commit(repo, "new tag format", {"params.yaml": yaml.safe_dump(params)})
    run(["git", "push", "-q", "origin", "main"], cwd=repo)
    assert provenance.check_version_tag(repo, settings(repo), "v0.1.0").commit == sha  # a rollback target


def test_a_commit_whose_dvc_lock_names_no_model_is_refused(repo: Path) -> None:
    sha = commit(repo, "no model", {"dvc.lock": lock(None)})
    run(["git", "push", "-q", "origin", "main"], cwd=repo)
    tag(repo, "model@v1.0.0", sha, promote_message("v1.0.0", sha), BOT)
    refused(repo, "v1.0.0", "locked-md5")


def test_forged_stage_tags_are_refused(repo: Path) -> None:
    reg = Registry.open(repo)
    tag(repo, "model#prod#6", "HEAD", None)
    with pytest.raises(provenance.ProvenanceError, match="check annotated:"):
        provenance.check_ref(repo, reg.settings, parse_tag("model#prod#6"), reg.state())  # type: ignore[arg-type]
    tag(repo, "model#prod#7", "HEAD", "assign prod")
    with pytest.raises(provenance.ProvenanceError, match="check version-tag:.*no registered version"):
        provenance.check_ref(repo, reg.settings, parse_tag("model#prod#7"), reg.state())  # type: ignore[arg-type]


def test_plan_refuses_a_forged_tag_in_one_line(repo: Path) -> None:
    run(["git", "checkout", "-q", "-b", "feature"], cwd=repo)
    sha = commit(repo, "never reviewed")
    tag(repo, "model@v9.0.0", sha, "model v9.0.0 by hand")
    tag(repo, "model#prod#6", sha, "assign prod to v9.0.0")
    for ref in ("refs/tags/model#prod#6", "refs/tags/model@v9.0.0"):
        proc = run(["ml-gitops", "registry", "plan", "--repo", str(repo), "--ref", ref], cwd=repo, check=False)
        assert proc.returncode == 2 and "deploy=true" not in proc.stdout, (proc.stdout, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "refused by provenance check on-main" in lines[0], proc.stderr


def test_message_pattern_allows_what_git_does_to_an_empty_metrics_block() -> None:
    template = "{artifact} {version} from {pr} at {commit}: {subject}\n\n{metrics}"
    pat = provenance.message_pattern(template, "model", "v1.0.0", "a" * 40)
    assert pat.fullmatch(f"model v1.0.0 from no PR at {'a' * 12}: docs")
    assert pat.fullmatch(f"model v1.0.0 from PR #12 at {'a' * 12}: x\n\naccuracy: 1.0000\nlog_loss: 0.1")
    assert not pat.fullmatch(f"model v1.0.0 from PR #12 at {'b' * 12}: x")
    assert not pat.fullmatch(f"model v1.0.0 from a friend at {'a' * 12}: x")
