"""An S3-compatible DVC remote, round-tripped against a local moto S3 server."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..helpers import run, stages_run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # make test-all only

BUCKET = "ml-gitops-test"
KEY_ID, SECRET = "testing-key", "testing-secret"  # moto accepts any credentials


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def s3_endpoint() -> Iterator[str]:
    import boto3
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    url = f"http://127.0.0.1:{port}"
    try:
        s3 = boto3.client(
            "s3", endpoint_url=url, aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET, region_name="us-east-1"
        )
        s3.create_bucket(Bucket=BUCKET)  # DVC does not create buckets (else NoSuchBucket)
        yield url
    finally:
        server.stop()


def _use_s3_remote(work: Path, endpoint: str) -> None:
    """The README's recipe: URL and endpoint, credentials in .dvc/config.local (never committed)."""
    run(["dvc", "remote", "add", "--local", "-f", "-d", "storage", f"s3://{BUCKET}/project"], cwd=work)
    for key, value in {
        "endpointurl": endpoint,
        "access_key_id": KEY_ID,
        "secret_access_key": SECRET,
        "region": "us-east-1",
    }.items():
        run(["dvc", "remote", "modify", "--local", "storage", key, value], cwd=work)


def test_push_to_s3_pull_into_fresh_clone_then_repro_is_a_noop(repo: Path, s3_endpoint: str, tmp_path: Path) -> None:
    import boto3

    _use_s3_remote(repo, s3_endpoint)
    run(["dvc", "push"], cwd=repo)
    s3 = boto3.client(
        "s3", endpoint_url=s3_endpoint, aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET, region_name="us-east-1"
    )
    stored = s3.list_objects_v2(Bucket=BUCKET, Prefix="project/").get("KeyCount", 0)
    assert stored >= 5, "the pipeline's outputs should be in the bucket"
    # Credentials stay out of git: config.local is ignored, the committed config has none.
    assert SECRET not in (repo / ".dvc/config").read_text()
    assert run(["git", "check-ignore", ".dvc/config.local"], cwd=repo).returncode == 0

    origin = run(["git", "remote", "get-url", "origin"], cwd=repo).stdout.strip()
    fresh = tmp_path / "fresh"
    run(["git", "clone", "-q", origin, str(fresh)], cwd=tmp_path)
    assert not (fresh / "models/model.skops").exists()
    _use_s3_remote(fresh, s3_endpoint)
    run(["dvc", "pull"], cwd=fresh)
    assert (fresh / "models/model.skops").read_bytes() == (repo / "models/model.skops").read_bytes()
    out = run(["dvc", "repro"], cwd=fresh)
    assert stages_run(out.stdout) == [], out.stdout
    assert "up to date" in run(["dvc", "status"], cwd=fresh).stdout
