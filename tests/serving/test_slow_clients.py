"""Slow uploads (issue 17): 200+ connections announce a body, send part, stall. They are answered 408 (or
503 past limit_concurrency), server memory stays flat, and normal requests are answered meanwhile."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from .servers import params_with, start_server

SLOW = 220
DECLARED = 100_000
SENT = 50_000


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def status_of(sock: socket.socket) -> int | None:
    try:
        head = sock.recv(64)
    except OSError:
        return None
    return int(head.split()[1]) if head.startswith(b"HTTP/1.1 ") else None


@pytest.mark.slow
def test_stalled_uploads_get_408_memory_stays_flat_and_others_are_answered(
    bundle: Path, pipeline_repo: Path, tmp_path: Path, good: list[dict]
) -> None:
    params = params_with(pipeline_repo, tmp_path / "params.yaml", body_timeout_seconds=3.0, max_body_bytes=200_000)
    srv = start_server(bundle, pipeline_repo, tmp_path, params)
    socks: list[socket.socket] = []
    try:
        srv.wait()
        httpx.post(srv.url + "/predict", json=good[0], timeout=30)  # warm: first-request allocations
        before = rss_mb(srv.proc.pid)
        head = (
            f"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {DECLARED}\r\n\r\n"
        ).encode()
        for _ in range(SLOW):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=60)
            s.sendall(head + b"[" + b" " * (SENT - 1))
            socks.append(s)
        during = rss_mb(srv.proc.pid)
        normal = [httpx.post(srv.url + "/predict", json=good[i], timeout=60).status_code for i in range(5)]
        statuses = [status_of(s) for s in socks]
        after = rss_mb(srv.proc.pid)
    finally:
        for s in socks:
            s.close()
        code, err = srv.stop()
    assert normal == [200] * 5, normal
    assert set(statuses) <= {408, 503}, sorted({str(s) for s in statuses})
    assert statuses.count(408) >= SLOW // 2
    assert max(during, after) - before < 100, (before, during, after)
    assert code == 0, err
