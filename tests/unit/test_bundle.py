from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from ml_gitops.config.errors import UserError
from ml_gitops.registry.bundle import MANIFEST, make_archive, open_bundle, verify_dir, write_manifest


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    root = tmp_path / "model-v0.1.0"
    (root / "sub").mkdir(parents=True)
    (root / "model.skops").write_bytes(b"model")
    (root / "sub/card.md").write_text("card")
    write_manifest(root, {"model": "model", "version": "v0.1.0"})
    return root


def test_verify_accepts_an_intact_bundle(bundle: Path) -> None:
    m = verify_dir(bundle)
    assert set(m["files"]) == {"model.skops", "sub/card.md"}
    b = open_bundle(bundle)
    assert (b.name, b.version) == ("model", "v0.1.0")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: (r / "model.skops").write_bytes(b"evil"), "model.skops has changed"),
        (lambda r: (r / "sub/card.md").unlink(), "sub/card.md is missing"),
        (lambda r: (r / "extra.txt").write_text("x"), "extra.txt is not in the manifest"),
        (lambda r: (r / MANIFEST).unlink(), "not a release bundle"),
    ],
)
def test_verify_refuses_tampering_naming_the_file(bundle: Path, change, message: str) -> None:
    change(bundle)
    with pytest.raises(UserError, match=message):
        verify_dir(bundle)


def test_archive_is_reproducible_and_verifies(bundle: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    make_archive(bundle, a)
    make_archive(bundle, b)
    assert a.read_bytes() == b.read_bytes()
    opened = open_bundle(a, tmp_path / "x")
    assert opened.root.name == "model-v0.1.0" and opened.version == "v0.1.0"


def test_archive_with_a_link_is_refused(bundle: Path, tmp_path: Path) -> None:
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        info = tarfile.TarInfo("model-v0.1.0/link")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(UserError, match="links and devices are not allowed"):
        open_bundle(evil, tmp_path / "y")
