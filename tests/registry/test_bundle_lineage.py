"""`release verify` checks the model against its lineage, and extracts archives safely on Python 3.11.0+.

Bundles here are small and real: files, lineage.json and MANIFEST.json as `release build` writes
them, a git repository whose tag's dvc.lock names the md5s, archives from `make_archive`. The
floor tests run the verify command under Debian 12's /usr/bin/python3 (3.11.2, whose tarfile has
no ``filter=``), importing this checkout's code and the locked venv's compiled packages.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from ml_gitops.config.errors import UserError
from ml_gitops.registry.bundle import extract_archive, make_archive, open_bundle, write_manifest
from ml_gitops.registry.release import verify_lineage

from ..helpers import ROOT, run

TAG = "model@v1.0.0"
FILES = {"model.skops": "models/model.skops", "signature.json": "models/signature.json"}
SYSTEM_PYTHON = Path("/usr/bin/python3")


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def write_bundle(dest: Path, contents: dict[str, bytes], commit: str, lineage_md5: dict[str, str]) -> Path:
    dest.mkdir(parents=True)
    for rel, data in contents.items():
        (dest / rel).write_bytes(data)
    lin = {"artifact": "model", "version": "v1.0.0", "tag": TAG, "git_sha": commit, "outputs": lineage_md5}
    (dest / "lineage.json").write_text(json.dumps(lin))
    write_manifest(dest, {"model": "model", "version": "v1.0.0", "tag": TAG, "git_sha": commit})
    return dest


@pytest.fixture
def tagged(tmp_path: Path) -> tuple[Path, str, dict[str, bytes]]:
    """(repo, commit, file contents): the repo's TAG names those files' md5s in its dvc.lock."""
    repo = tmp_path / "repo"
    run(["git", "init", "-q", "-b", "main", str(repo)], cwd=tmp_path)
    contents = {"model.skops": b"the model", "signature.json": b'{"classes": ["a", "b"]}'}
    outs = [{"path": FILES[rel], "md5": md5(data)} for rel, data in contents.items()]
    (repo / "dvc.lock").write_text(yaml.safe_dump({"schema": "2.0", "stages": {"train": {"outs": outs}}}))
    run(["git", "add", "-A"], cwd=repo)
    run(["git", "commit", "-q", "-m", "train"], cwd=repo)
    run(["git", "tag", "-a", "-m", "release", TAG], cwd=repo)
    return repo, run(["git", "rev-parse", "HEAD"], cwd=repo).stdout.strip(), contents


def lineage_of(contents: dict[str, bytes]) -> dict[str, str]:
    return {FILES[rel]: md5(data) for rel, data in contents.items()}


def test_a_bundle_matching_its_lineage_and_the_tags_dvc_lock_verifies(tagged, tmp_path: Path) -> None:
    repo, commit, contents = tagged
    b = open_bundle(write_bundle(tmp_path / "b", contents, commit, lineage_of(contents)))
    check = verify_lineage(b, repo, require_git=True)
    assert check.against_git and sorted(check.files) == sorted(contents)
    assert not verify_lineage(b, tmp_path).against_git  # no git here: lineage.json only


def test_a_changed_model_with_a_recomputed_manifest_is_refused(tagged, tmp_path: Path) -> None:
    repo, commit, contents = tagged
    bundle = write_bundle(tmp_path / "b", contents, commit, lineage_of(contents))
    (bundle / "model.skops").write_bytes(b"another model")
    write_manifest(bundle, json.loads((bundle / "MANIFEST.json").read_text()))  # the manifest agrees again
    with pytest.raises(UserError, match="file model.skops is not the models/model.skops lineage.json records"):
        verify_lineage(open_bundle(bundle), repo)


def test_a_recomputed_lineage_is_refused_by_the_tags_dvc_lock(tagged, tmp_path: Path) -> None:
    repo, commit, contents = tagged
    forged = {**contents, "model.skops": b"another model"}
    b = open_bundle(write_bundle(tmp_path / "b", forged, commit, lineage_of(forged)))
    assert not verify_lineage(b, tmp_path).against_git  # consistent with itself ...
    with pytest.raises(UserError, match=f"file model.skops is not the models/model.skops that {TAG}'s dvc.lock"):
        verify_lineage(b, repo)  # ... but not with git
    with pytest.raises(UserError, match="cannot check lineage"):
        verify_lineage(b, tmp_path, require_git=True)


def test_a_lineage_naming_another_commit_is_refused(tagged, tmp_path: Path) -> None:
    repo, _commit, contents = tagged
    b = open_bundle(write_bundle(tmp_path / "b", contents, "0" * 40, lineage_of(contents)))
    with pytest.raises(UserError, match="git_sha 0000000000"):
        verify_lineage(b, repo)


def evil_archive(path: Path, kind: str) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        top = tarfile.TarInfo("model-v1.0.0")
        top.type = tarfile.DIRTYPE
        tar.addfile(top)
        if kind == "symlink":
            link = tarfile.TarInfo("model-v1.0.0/model.skops")
            link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(link)
        else:
            name = {"dotdot": "model-v1.0.0/../../escaped", "absolute": "/tmp/escaped"}[kind]
            info = tarfile.TarInfo(name)
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    return path


@pytest.mark.parametrize("kind", ["symlink", "dotdot", "absolute"])
def test_extraction_refuses_links_and_paths_outside_the_folder(tmp_path: Path, kind: str) -> None:
    archive = evil_archive(tmp_path / f"{kind}.tar.gz", kind)
    with pytest.raises(UserError, match="refusing member"):
        extract_archive(archive, tmp_path / "out")
    assert not (tmp_path / "escaped").exists()


# ---------------------------------------------------------------- the Python floor
def system_python_env() -> dict[str, str]:
    """This checkout's code first, then the locked venv's packages (cp311 wheels: any 3.11.x loads them)."""
    site = next(Path(sys.prefix, "lib").glob("python3.*/site-packages"))
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(site)]), "PYTHONNOUSERSITE": "1"}


def system_verify(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [str(SYSTEM_PYTHON), "-m", "ml_gitops", "release", "verify", *args]
    return subprocess.run(cmd, env=system_python_env(), capture_output=True, text=True, check=False, timeout=120)


floor = pytest.mark.skipif(not SYSTEM_PYTHON.exists(), reason="no system /usr/bin/python3 on this machine")


@floor
def test_release_verify_runs_on_the_system_python(tagged, tmp_path: Path) -> None:
    repo, commit, contents = tagged
    bundle = write_bundle(tmp_path / "model-v1.0.0", contents, commit, lineage_of(contents))
    archive = tmp_path / "model-v1.0.0.tar.gz"
    make_archive(bundle, archive)
    proc = system_verify(str(archive), "--repo", str(repo), "--require-git")
    assert proc.returncode == 0, proc.stderr
    assert "OK" in proc.stderr and f"dvc.lock at {TAG}" in proc.stderr, proc.stderr

    (bundle / "model.skops").write_bytes(b"another model")
    write_manifest(bundle, json.loads((bundle / "MANIFEST.json").read_text()))
    make_archive(bundle, archive)
    proc = system_verify(str(archive), "--repo", str(repo))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "model.skops is not the models/model.skops lineage.json records" in proc.stderr


@floor
@pytest.mark.parametrize("kind", ["symlink", "dotdot", "absolute"])
def test_the_system_python_refuses_unsafe_archives_too(tmp_path: Path, kind: str) -> None:
    proc = system_verify(str(evil_archive(tmp_path / f"{kind}.tar.gz", kind)))
    assert proc.returncode == 2 and "refusing member" in proc.stderr, proc.stderr
    assert not (tmp_path / "escaped").exists() and not Path("/tmp/escaped").exists()
