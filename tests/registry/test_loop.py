"""The whole registry loop, offline: promote, release, verify, assign, roll back, deploy-resolve.

Real git (bare origin), real DVC (local remote), real GTO. Nothing is mocked.
"""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import pytest
import yaml

from ..helpers import commit_all, md5, run
from .conftest import cli, origin_tags, outputs, refused, trust_test_tagger

pytestmark = pytest.mark.e2e


def lock_md5(work: Path, rev: str, path: str = "models/model.skops") -> str:
    lock = yaml.safe_load(run(["git", "show", f"{rev}:dvc.lock"], cwd=work).stdout)
    for body in lock["stages"].values():
        for out in body.get("outs", []):
            if out["path"] == path:
                return out["md5"]
    raise AssertionError(f"{path} not in dvc.lock at {rev}")


def test_merge_promotes_tags_release_and_roll_back(reg_repo, tmp_path: Path) -> None:
    work, origin, remote = reg_repo
    trust_test_tagger(work)
    run(["git", "push", "-q", "origin", "main"], cwd=work)

    # ---- pipeline on main -> v0.1.0, assigned to staging, pushed
    out = outputs(cli(work, "registry", "promote", "--push"))
    assert out["version"] == "v0.1.0" and out["new"] == "true"
    assert origin_tags(origin) == {"model@v0.1.0", "model#staging#1"}

    # ---- idempotent: the same commit registers nothing new
    out = outputs(cli(work, "registry", "promote", "--push"))
    assert out == {"version": "v0.1.0", "new": "false", "tags": "", "stage_tag": ""}
    assert origin_tags(origin) == {"model@v0.1.0", "model#staging#1"}

    # ---- a branch changes a param and is merged without `dvc repro`: refused, naming the stage
    run(["git", "checkout", "-q", "-b", "feature"], cwd=work)
    conf = work / "conf/model/logistic_regression.yaml"
    conf.write_text(conf.read_text().replace("C: 1.0", "C: 0.05"))
    cli(work, "params", "sync")
    commit_all(work, "smaller C")
    run(["git", "checkout", "-q", "main"], cwd=work)
    run(["git", "merge", "-q", "--no-ff", "feature", "-m", "Merge pull request #7 from me/feature"], cwd=work)
    line = refused(cli(work, "registry", "promote", "--push", check=False), "dvc.lock is stale", "train", "model")
    assert "evaluate" not in line.split(":", 1)[0]
    assert origin_tags(origin) == {"model@v0.1.0", "model#staging#1"}
    assert "model@v0.2.0" not in run(["git", "tag"], cwd=work).stdout

    # ---- reproduced and committed but not pushed to the DVC remote: refused, naming the model
    run(["dvc", "repro"], cwd=work)
    run(["git", "add", "-A"], cwd=work)
    run(["git", "commit", "-q", "-m", "Merge pull request #7: retrain"], cwd=work)
    refused(cli(work, "registry", "promote", "--push", check=False), "models/model.skops", "not in the DVC remote")
    assert origin_tags(origin) == {"model@v0.1.0", "model#staging#1"}

    run(["dvc", "push"], cwd=work)
    run(["git", "push", "-q", "origin", "main"], cwd=work)  # merged: promote runs on main's push
    out = outputs(cli(work, "registry", "promote", "--push"))
    assert out["version"] == "v0.2.0" and out["stage_tag"] == "model#staging#2"
    msg = run(["git", "tag", "-l", "--format=%(contents)", "model@v0.2.0"], cwd=work).stdout
    assert "PR #7" in msg and "accuracy:" in msg and "log_loss:" in msg
    v1, v2 = lock_md5(work, "model@v0.1.0"), lock_md5(work, "model@v0.2.0")
    assert v1 != v2

    # ---- release bundle for v0.2.0 builds from the tag and verifies (dir and archive)
    cli(work, "release", "build", "--version", "v0.2.0")
    bundle, archive = work / "dist/model-v0.2.0", work / "dist/model-v0.2.0.tar.gz"
    assert {p.name for p in bundle.iterdir()} == {
        "MANIFEST.json",
        "model.skops",
        "model.onnx",  # exported by the train stage: serving's fast path
        "signature.json",
        "training.json",
        "metrics.json",
        "validation.json",
        "slices.json",  # the card's per-slice table
        "effects.json",  # the card's partial dependence of the top features
        "card.md",
        "lineage.json",
    }
    assert md5(bundle / "model.skops") == v2
    lineage = json.loads((bundle / "lineage.json").read_text())
    assert lineage["git_sha"] == run(["git", "rev-parse", "model@v0.2.0^{commit}"], cwd=work).stdout.strip()
    assert lineage["outputs"]["models/model.skops"] == v2 and lineage["params"]["model"]["C"] == 0.05
    assert lineage["data"]["source_md5"] and "scikit-learn" in lineage["packages"]
    card = (bundle / "card.md").read_text()
    for part in (
        "Intended use",
        "class balance",
        "interval",
        "Effect of the top features",
        "Known limitations",
        "previous version (v0.1.0)",
    ):
        assert part in card, part
    assert "| log_loss |" in card and ("(worse)" in card or "(better)" in card)
    for target in (bundle, archive):
        assert "OK" in cli(work, "release", "verify", str(target)).stderr
    # the bundle comes from the tag, not the workspace: v0.1.0 carries v0.1.0's model
    cli(work, "release", "build", "--version", "v0.1.0")
    assert md5(work / "dist/model-v0.1.0/model.skops") == v1

    # ---- tampered, incomplete or padded bundles are refused, naming the file
    def copy() -> Path:
        dest = tmp_path / f"b{len(list(tmp_path.glob('b*')))}" / bundle.name
        shutil.copytree(bundle, dest)
        return dest

    t = copy()
    (t / "metrics.json").write_text('{"accuracy": 1.0}')
    refused(cli(work, "release", "verify", str(t), check=False, in_process=True), "metrics.json", "changed")
    t = copy()
    (t / "card.md").unlink()
    refused(cli(work, "release", "verify", str(t), check=False, in_process=True), "card.md", "missing")
    t = copy()
    (t / "extra.pkl").write_bytes(b"x")
    refused(cli(work, "release", "verify", str(t), check=False, in_process=True), "extra.pkl", "not in the manifest")
    t = copy()
    (t / "model.skops").write_bytes((t / "model.skops").read_bytes() + b"\0")
    bad_archive = t.parent / "bad.tar.gz"
    with tarfile.open(bad_archive, "w:gz") as tar:
        tar.add(t, arcname=t.name)
    refused(cli(work, "release", "verify", str(bad_archive), check=False, in_process=True), "model.skops", "changed")

    # ---- prod gets v0.2.0, then rolls back to v0.1.0 (one command, a tag)
    cli(work, "registry", "assign", "--stage", "prod", "--version", "v0.2.0", "--push")
    first_prod = {t for t in origin_tags(origin) if t.startswith("model#prod#")}
    cli(work, "registry", "assign", "--stage", "prod", "--version", "v0.1.0", "--push")
    rollback = {t for t in origin_tags(origin) if t.startswith("model#prod#")} - first_prod
    assert len(first_prod) == 1 and len(rollback) == 1

    # ---- a fresh clone resolves prod to v0.1.0 and fetches exactly that model
    clone = tmp_path / "deployer"
    run(["git", "clone", "-q", str(origin), str(clone)], cwd=tmp_path)
    run(["dvc", "remote", "add", "--local", "-f", "-d", "local", str(remote)], cwd=clone)
    out = outputs(cli(clone, "registry", "resolve", "--stage", "prod", "--out", str(tmp_path / "deployed")))
    assert out["version"] == "v0.1.0" and out["tag"] == "model@v0.1.0"
    assert md5(tmp_path / "deployed/model.skops") == v1 == out["md5"]

    # ---- deploy-plan: the rollback tag deploys v0.1.0 to prod; the superseded one deploys nothing
    plan = outputs(cli(clone, "registry", "plan", "--ref", f"refs/tags/{rollback.pop()}"))
    assert (plan["deploy"], plan["version"], plan["stage"]) == ("true", "v0.1.0", "prod")
    plan = outputs(cli(clone, "registry", "plan", "--ref", f"refs/tags/{first_prod.pop()}", in_process=True))
    assert plan["deploy"] == "false"
    plan = outputs(cli(clone, "registry", "plan", "--ref", "refs/tags/model@v0.2.0"))
    assert (plan["deploy"], plan["version"], plan["stage"]) == ("true", "v0.2.0", "")
    for ref in ("refs/heads/main", "refs/tags/v1.0.0", "refs/tags/other@v1.0.0"):
        assert outputs(cli(clone, "registry", "plan", "--ref", ref, in_process=True))["deploy"] == "false"

    # ---- GTO, reading the origin itself, agrees with our registry view
    ours = json.loads(cli(clone, "registry", "show", "--json").stdout)
    gto = json.loads(run(["gto", "show", "--repo", str(origin), "--json"], cwd=tmp_path).stdout)["model"]
    assert gto["version"] == ours["latest"] == "v0.2.0"
    assert {s: v for s, v in gto["stage"].items() if v} == {s: v for s, v in ours["stages"].items() if v}
    assert ours["stages"] == {"staging": "v0.2.0", "canary": None, "prod": "v0.1.0"}
