"""Registry semantics (issue 15.4): our view is GTO's, promote registers only a changed model, and
two promotes at once both get a version.

Real git repos with a bare origin, real GTO, real DVC (for promote). Nothing is mocked.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from ml_gitops.cli.registry import registry_view
from ml_gitops.config.errors import UserError
from ml_gitops.registry.tags import Registry, assign, gto_api

from ..helpers import BIN, GIT_ENV, ROOT, commit_all, run
from .conftest import cli, origin_tags, outputs, trust_test_tagger

STAGES = ("staging", "canary", "prod")  # .gto's allow-list


@pytest.fixture
def tag_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repo with the registry's config files and three commits: v0.1.0, v0.2.0, v0.3.0's."""
    for k, v in GIT_ENV.items():
        monkeypatch.setenv(k, v)
    work = tmp_path / "tags"
    work.mkdir()
    run(["git", "init", "-q", "-b", "main"], cwd=work)
    for name in ("params.yaml", ".gto", "artifacts.yaml"):
        shutil.copy(ROOT / name, work / name)
    commit_all(work, "registry config")
    for n in (1, 2, 3):
        (work / "notes.txt").write_text(f"{n}\n")
        commit_all(work, f"change {n}")
    return work


def gto_view(root: Path) -> dict:
    """`gto show --json`'s answer for the artifact: latest version and each stage's version."""
    shown = gto_api().show(str(root))["model"]
    return {"latest": shown["version"], "stages": {s: shown["stage"].get(s) for s in STAGES}}


def our_view(root: Path) -> dict:
    view = registry_view(root)
    return {"latest": view["latest"], "stages": {s: view["stages"].get(s) for s in STAGES}}


def test_stage_operations_keep_our_view_and_gtos_identical(tag_repo: Path) -> None:
    api = gto_api()
    api.register(str(tag_repo), "model", "HEAD~2", version="v0.1.0", message="v0.1.0")
    api.register(str(tag_repo), "model", "HEAD~1", version="v0.2.0", message="v0.2.0")
    reg = Registry.open(tag_repo)

    def op(verb: str, stage: str, version: str) -> None:
        if verb == "deregister":
            api.deregister(str(tag_repo), "model", version=version, message="withdrawn")
        elif verb == "register":
            api.register(str(tag_repo), "model", "HEAD", version=version, message=version)
        else:
            assert assign(reg, stage, version, unassign=verb == "unassign")

    steps = [
        (("assign", "prod", "v0.2.0"), "v0.2.0"),
        (("assign", "prod", "v0.1.0"), "v0.1.0"),
        # The sequence: prod falls back to v0.2.0, which is still assigned to prod.
        (("unassign", "prod", "v0.1.0"), "v0.2.0"),
        (("assign", "staging", "v0.1.0"), "v0.2.0"),
        (("unassign", "prod", "v0.2.0"), None),
        (("assign", "prod", "v0.1.0"), "v0.1.0"),
        (("assign", "prod", "v0.2.0"), "v0.2.0"),
        # A deregistered version leaves every stage: prod shows the still-assigned v0.1.0.
        (("deregister", "", "v0.2.0"), "v0.1.0"),
        (("register", "", "v0.3.0"), "v0.1.0"),
        (("assign", "prod", "v0.3.0"), "v0.3.0"),
    ]
    for (verb, stage, version), prod in steps:
        op(verb, stage, version)
        ours, theirs = our_view(tag_repo), gto_view(tag_repo)
        assert ours == theirs, (verb, stage, version)
        assert ours["stages"]["prod"] == prod, (verb, stage, version)
    assert our_view(tag_repo)["stages"]["staging"] == "v0.1.0"

    # What `make registry` prints and what `gto show --json` prints, as the commands.
    ours = json.loads(cli(tag_repo, "registry", "show", "--json").stdout)
    theirs = json.loads(run([str(BIN / "gto"), "show", "--json"], cwd=tag_repo).stdout)
    assert ours["latest"] == theirs["model"]["version"] == "v0.3.0"
    want = {"staging": "v0.1.0", "canary": None, "prod": "v0.3.0"}
    assert ours["stages"] == {s: theirs["model"]["stage"].get(s) for s in STAGES} == want


def test_unassign_refuses_a_stage_the_version_does_not_hold(tag_repo: Path) -> None:
    api = gto_api()
    api.register(str(tag_repo), "model", "HEAD~2", version="v0.1.0", message="v0.1.0")
    reg = Registry.open(tag_repo)
    with pytest.raises(UserError, match="not assigned to v0.1.0"):
        assign(reg, "prod", "v0.1.0", unassign=True)
    assert assign(reg, "prod", "v0.1.0")
    assert assign(reg, "prod", "v0.1.0") == ""  # already there: nothing to do
    assert assign(reg, "prod", "v0.1.0", unassign=True)
    with pytest.raises(UserError, match="not assigned to v0.1.0"):
        assign(reg, "prod", "v0.1.0", unassign=True)


# ---------------------------------------------------------------- promote (DVC)
@pytest.mark.e2e
def test_a_docs_only_merge_registers_nothing(reg_repo) -> None:
    work, origin, _ = reg_repo
    trust_test_tagger(work)
    run(["git", "push", "-q", "origin", "main"], cwd=work)
    assert outputs(cli(work, "registry", "promote", "--push"))["version"] == "v0.1.0"

    (work / "README.md").write_text((work / "README.md").read_text() + "\nA docs-only change.\n")
    commit_all(work, "Merge pull request #8 from me/docs")
    run(["git", "push", "-q", "origin", "main"], cwd=work)
    proc = cli(work, "registry", "promote", "--push")
    assert outputs(proc) == {"version": "v0.1.0", "new": "false", "tags": "", "stage_tag": ""}
    said = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert said == ["model unchanged since v0.1.0; nothing to register"], proc.stderr
    assert origin_tags(origin) == {"model@v0.1.0", "model#staging#1"}


@pytest.mark.e2e
@pytest.mark.slow
def test_two_promotes_at_once_both_get_a_version(reg_repo, tmp_path: Path) -> None:
    """Clone B fetches origin's tags and computes v0.2.0; then clone A promotes and pushes v0.2.0 (run by
    B's pre-push hook, so the interleaving is deterministic); B's atomic push is refused, B re-reads
    origin's tags and registers v0.3.0. No version is lost."""
    work, origin, _ = reg_repo
    trust_test_tagger(work)
    run(["git", "push", "-q", "origin", "main"], cwd=work)
    cli(work, "registry", "promote", "--push")  # v0.1.0: model m1
    # Merge 1 (A's) trains model m2, merge 2 (B's, on top of it) model m3: both differ from v0.1.0's.
    revs = []
    for c in ("0.05", "0.2"):
        conf = work / "conf/model/logistic_regression.yaml"
        conf.write_text(re.sub(r"(?m)^C: .*$", f"C: {c}", conf.read_text(), count=1))
        cli(work, "params", "sync")
        run(["dvc", "repro"], cwd=work)
        run(["dvc", "push"], cwd=work)
        commit_all(work, f"Merge pull request #9: C {c}")
        revs.append(run(["git", "rev-parse", "HEAD"], cwd=work).stdout.strip())
    first, second = revs
    run(["git", "push", "-q", "origin", "main"], cwd=work)

    clones = {}
    for name, rev in (("a", first), ("b", second)):
        clones[name] = tmp_path / name
        shutil.copytree(work, clones[name], symlinks=True)  # same origin, same DVC remote and cache
        run(["git", "checkout", "-q", rev], cwd=clones[name])
        run(["dvc", "checkout", "--force"], cwd=clones[name])
    done = tmp_path / "a-promoted"
    hook = clones["b"] / ".git/hooks/pre-push"
    hook.write_text(
        "#!/bin/sh\n"
        f"[ -e '{done}' ] && exit 0\n"
        f"touch '{done}'\n"
        f"cd '{clones['a']}' && env -u GIT_DIR -u GIT_WORK_TREE -u GIT_INDEX_FILE "
        f"'{BIN / 'ml-gitops'}' registry promote --push > '{tmp_path / 'a.out'}'\n"
    )
    hook.chmod(0o755)
    proc = cli(clones["b"], "registry", "promote", "--push")
    assert done.exists(), proc.stderr  # A promoted between B's fetch and B's push
    out_a = outputs((tmp_path / "a.out").read_text())
    assert (out_a["version"], out_a["stage_tag"]) == ("v0.2.0", "model#staging#2")

    out_b = outputs(proc)
    assert (out_b["version"], out_b["new"], out_b["stage_tag"]) == ("v0.3.0", "true", "model#staging#3")
    assert "model@v0.2.0 was taken" in proc.stderr
    assert origin_tags(origin) == {
        "model@v0.1.0",
        "model#staging#1",
        "model@v0.2.0",
        "model#staging#2",
        "model@v0.3.0",
        "model#staging#3",
    }
    peel = {
        t: run(["git", "rev-parse", f"{t}^{{commit}}"], cwd=origin).stdout.strip()
        for t in ("model@v0.2.0", "model@v0.3.0")
    }
    assert peel == {"model@v0.2.0": first, "model@v0.3.0": second}
    # Annotated, made by GTO with registry.tag_message (deploy's provenance check relies on it).
    kind = run(["git", "cat-file", "-t", "model@v0.3.0"], cwd=origin).stdout.strip()
    msg = run(["git", "tag", "-l", "--format=%(contents)", "model@v0.3.0"], cwd=origin).stdout
    assert kind == "tag" and msg.startswith("model v0.3.0 from ")
    assert our_view(clones["b"]) == gto_view(clones["b"])
    assert our_view(clones["b"])["stages"]["staging"] == "v0.3.0"
