"""Stateful stand-ins for what GitHub and a container registry hold between runs (stdlib only).

A `Runner` given a ``state`` folder answers, from files in it, the calls whose answer depends
on what earlier runs did, so a scenario of several runs (promote, then deploy to staging, then
deploy to prod) sees one registry, one set of attestations and one set of releases:

- ``docker buildx build ... -t REF --push``: REF gets a new digest (a build is recorded);
- ``docker buildx imagetools inspect REF``: prints REF's digest, exit 1 when REF is unknown;
- ``docker buildx imagetools create -t NEW SRC``: NEW gets SRC's digest (a retag, no build);
- ``actions/attest-build-provenance``: records the subject's sha256 (a file's, or the digest);
- ``gh attestation verify FILE|oci://IMAGE@DIGEST``: exit 0 only for an attested subject;
- ``gh release view TAG``: exit 1 until ``gh release create TAG`` made it.

Every other call answers as before: exit 0, no output.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any


def _load(state: Path, name: str) -> dict[str, Any]:
    path = state / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _save(state: Path, name: str, data: dict[str, Any]) -> None:
    state.mkdir(parents=True, exist_ok=True)
    (state / f"{name}.json").write_text(json.dumps(data, indent=1, sort_keys=True))


def sha256_file(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def digest_of(images: dict[str, str], ref: str) -> str | None:
    if "@sha256:" in ref:
        digest = ref.split("@", 1)[1]
        return digest if digest in images.values() else None
    return images.get(ref)


def _flag(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv and argv.index(name) + 1 < len(argv) else None


def docker(argv: list[str], state: Path) -> int:
    images = _load(state, "images")
    if argv[:2] == ["buildx", "build"]:
        ref = _flag(argv, "-t") or _flag(argv, "--tag")
        if ref is None or "--push" not in argv:
            return 0
        builds = _load(state, "builds")
        builds[ref] = builds.get(ref, 0) + 1
        _save(state, "builds", builds)
        images[ref] = "sha256:" + hashlib.sha256(f"{ref}#{builds[ref]}".encode()).hexdigest()
        _save(state, "images", images)
        return 0
    if argv[:3] == ["buildx", "imagetools", "inspect"]:
        digest = digest_of(images, argv[3])
        if digest is None:
            print(f"ERROR: {argv[3]}: not found", file=sys.stderr)
            return 1
        print(digest)
        return 0
    if argv[:3] == ["buildx", "imagetools", "create"]:
        new, src = _flag(argv, "-t"), argv[-1]
        digest = digest_of(images, src)
        if new is None or digest is None:
            print(f"ERROR: {src}: not found", file=sys.stderr)
            return 1
        images[new] = digest
        _save(state, "images", images)
        return 0
    return 0


def gh(argv: list[str], state: Path, cwd: Path) -> int:
    if argv[:2] == ["attestation", "verify"]:
        subject = argv[2]
        if subject.startswith("oci://"):
            digest = subject.split("@", 1)[1] if "@" in subject else ""
        else:
            path = cwd / subject
            digest = sha256_file(path) if path.is_file() else ""
        if digest and digest in _load(state, "attestations"):
            print(f"Loaded 1 attestation for {subject}")
            return 0
        print(f"Error: no attestation found for {subject}", file=sys.stderr)
        return 1
    if argv[:2] == ["release", "view"]:
        return 0 if argv[2] in _load(state, "releases") else 1
    if argv[:2] == ["release", "create"]:
        releases = _load(state, "releases")
        releases[argv[2]] = argv[3:]
        _save(state, "releases", releases)
    return 0


def attest(with_: dict[str, str], workspace: Path, state: Path) -> str:
    """actions/attest-build-provenance: record the subject; return what the step logs."""
    attestations = _load(state, "attestations")
    if with_.get("subject-digest"):
        subjects = {with_["subject-digest"]: with_.get("subject-name", "")}
    else:
        paths = [p for pattern in with_.get("subject-path", "").split() for p in workspace.glob(pattern)]
        if not paths:
            raise FileNotFoundError(f"no subject matches {with_.get('subject-path')!r}")
        subjects = {sha256_file(p): p.name for p in paths}
    attestations.update(subjects)
    _save(state, "attestations", attestations)
    return "attested " + ", ".join(f"{n}@{d}" for d, n in subjects.items())


def answer(tool: str, argv: list[str], state: str) -> int:
    """The stand-in's exit status for ``tool argv`` (its output already printed)."""
    if tool == "docker":
        return docker(argv, Path(state))
    if tool == "gh":
        return gh(argv, Path(state), Path.cwd())
    return 0
