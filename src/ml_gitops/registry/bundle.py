"""The release bundle: a directory (or .tar.gz) of model files plus a SHA-256 manifest.

Layout of ``dist/<model>-<version>/``::

    MANIFEST.json      {"model", "version", "files": {relpath: sha256}}; not listed in itself
    model.skops        the scikit-learn Pipeline (skops, allow-listed types only)
    model.onnx         the same model for ONNX Runtime (when exported)
    signature.json     input schema / classes (see schema.signature)
    metrics.json, card.md, lineage.json, ...

Serving and deploy refuse a bundle whose files do not match the manifest
exactly: a changed, missing or extra file is named in the error.
"""

from __future__ import annotations

import gzip
import hashlib
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ..adapters.io import atomic_path, read_json, write_json
from ..config.errors import UserError

MANIFEST = "MANIFEST.json"
CHUNK = 1 << 20


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def _files(root: Path) -> list[str]:
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.relative_to(root).as_posix() != MANIFEST
    )


def write_manifest(root: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """Hash every file under ``root`` into MANIFEST.json (atomically); return the manifest."""
    manifest = {**meta, "files": {rel: sha256(root / rel) for rel in _files(root)}}
    write_json(root / MANIFEST, manifest)
    return manifest


def verify_dir(root: Path) -> dict[str, Any]:
    """Check ``root`` against its manifest; raise naming the first bad file."""
    if not (root / MANIFEST).is_file():
        raise UserError(f"{root}: not a release bundle ({MANIFEST} missing)")
    manifest = read_json(root / MANIFEST)
    listed: dict[str, str] = manifest.get("files", {})
    present = set(_files(root))
    for rel in sorted(listed):
        if rel not in present:
            raise UserError(f"{root}: file {rel} is missing from the bundle")
        if sha256(root / rel) != listed[rel]:
            raise UserError(f"{root}: file {rel} has changed (checksum mismatch)")
    extra = sorted(present - set(listed))
    if extra:
        raise UserError(f"{root}: file {extra[0]} is not in the manifest")
    return manifest


def _check_member(archive: Path, member: tarfile.TarInfo, dest: Path) -> None:
    """Refuse what a bundle never holds: links, devices, absolute paths, '..', anything outside ``dest``."""
    if not (member.isfile() or member.isdir()):
        raise UserError(f"{archive}: refusing member {member.name} (links and devices are not allowed)")
    name = PurePosixPath(member.name)
    if name.is_absolute() or ".." in name.parts or "\\" in member.name:
        raise UserError(f"{archive}: refusing member {member.name} (absolute or '..' paths are not allowed)")
    target = (dest / name).resolve()
    if target != dest.resolve() and dest.resolve() not in target.parents:
        raise UserError(f"{archive}: refusing member {member.name} (it would land outside {dest})")


def extract_archive(archive: Path, dest: Path) -> Path:
    """Extract a bundle archive safely (no absolute paths, links or '..'); return its folder.

    Every member is checked here first, on any Python; tarfile's "data" filter (Python 3.11.4+,
    absent from Debian 12's 3.11.2) is applied too where this interpreter has it.
    """
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = tar.getmembers()
            for m in members:
                _check_member(archive, m, dest)
            if hasattr(tarfile, "data_filter"):
                tar.extractall(dest, members=members, filter="data")
            else:  # the members were checked above: regular files and folders under dest only
                tar.extractall(dest, members=members)  # noqa: S202
    except (tarfile.TarError, OSError) as err:
        raise UserError(f"{archive}: not a readable .tar.gz bundle ({err})") from None
    tops = {Path(m.name).parts[0] for m in members if m.name not in {"", "."}}
    if len(tops) != 1:
        raise UserError(f"{archive}: expected one top-level folder, found {sorted(tops)}")
    return dest / tops.pop()


def make_archive(root: Path, archive: Path) -> None:
    """A reproducible .tar.gz of ``root`` (sorted names, fixed owner and mtime)."""

    def norm(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 0
        info.mode = 0o755 if info.isdir() else 0o644
        return info

    with (
        atomic_path(archive) as tmp,
        open(tmp, "wb") as raw,
        gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w") as tar,
    ):
        tar.add(root, arcname=root.name, recursive=False, filter=norm)
        for rel in sorted([*_files(root), MANIFEST]):
            tar.add(root / rel, arcname=f"{root.name}/{rel}", recursive=False, filter=norm)


@dataclass(frozen=True)
class Bundle:
    root: Path
    manifest: dict[str, Any]

    @property
    def version(self) -> str:
        return str(self.manifest.get("version", "unversioned"))

    @property
    def name(self) -> str:
        return str(self.manifest.get("model", "model"))

    def path(self, rel: str) -> Path:
        return self.root / rel

    def json(self, rel: str) -> Any:
        return read_json(self.root / rel)


def open_bundle(path: str | Path, workdir: Path | None = None) -> Bundle:
    """Verify a bundle directory or archive and return it (archives are extracted first)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: bundle not found")
    if path.is_file():
        dest = workdir or Path(tempfile.mkdtemp(prefix="bundle-"))
        path = extract_archive(path, dest)
    return Bundle(path, verify_dir(path))
