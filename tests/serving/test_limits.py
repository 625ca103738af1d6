"""Limits against greedy clients on a real server: past `limit_concurrency` new requests get 503,
and once the stalled connections go, normal requests are answered again."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx

from .servers import params_with, start_server

STALLED = 8


def test_connections_past_the_limit_get_503_and_service_recovers(
    bundle: Path, pipeline_repo: Path, tmp_path: Path
) -> None:
    params = params_with(pipeline_repo, tmp_path / "params.yaml", limit_concurrency=4)
    srv = start_server(bundle, pipeline_repo, tmp_path, params)
    socks: list[socket.socket] = []
    try:
        srv.wait()
        for _ in range(STALLED):  # each announces a body and never sends it
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            s.sendall(
                b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
            )
            socks.append(s)
        statuses = {httpx.get(srv.url + "/health", timeout=10).status_code for _ in range(3)}
        assert 503 in statuses, statuses
        for s in socks:
            s.close()
        socks.clear()
        answered = [httpx.get(srv.url + "/health", timeout=10).status_code for _ in range(20)]
        assert 200 in answered, answered
    finally:
        for s in socks:
            s.close()
        code, err = srv.stop()
    assert code == 0, err
