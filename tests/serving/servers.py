"""Real `ml-gitops serve` processes on 127.0.0.1 for tests, and the token they accept.

Plain helpers, not fixtures: the serving tests and the e2e tests both start servers with them.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import yaml

from ..helpers import BIN, env

# The feedback token the test servers get through serve.auth.feedback_token_env's default variable.
FEEDBACK_TOKEN = "test-feedback-token-0123456789abcdef"
FEEDBACK_ENV = "ML_GITOPS_FEEDBACK_TOKEN"
AUTH = {"authorization": f"Bearer {FEEDBACK_TOKEN}"}
STARTUP_SECONDS = 90  # a cold process imports sklearn, onnxruntime, fastapi: slow on a busy 2-core box


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def params_with(pipeline_repo: Path, dest: Path, **serve: object) -> Path:
    raw = yaml.safe_load((pipeline_repo / "params.yaml").read_text())
    raw["serve"].update(serve)
    dest.write_text(yaml.safe_dump(raw, sort_keys=False))
    return dest


class Server:
    def __init__(
        self, cmd: list[str], cwd: Path, port: int, log_url: str, extra_env: dict[str, str] | None = None
    ) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_url = log_url
        self.stdout = ""
        environ = {k: v for k, v in env().items() if k != FEEDBACK_ENV}  # only the token a test gives
        environ.update(extra_env or {})
        self.proc = subprocess.Popen(
            cmd, cwd=cwd, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def wait(self, path: str = "/ready", timeout: float = STARTUP_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited {self.proc.returncode}: {self.proc.stderr.read()}")
            try:
                if httpx.get(self.url + path, timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"server not up on {self.url}{path} after {timeout}s")

    def stop(self, timeout: float = 60) -> tuple[int, str]:
        """Graceful stop (SIGTERM, like docker stop / Kubernetes); returns (exit code, stderr)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.stdout, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.stdout, err = self.proc.communicate()
        return self.proc.returncode, err


def start_server(
    bundle: Path, cwd: Path, tmp: Path, params: Path | None = None, extra_env: dict[str, str] | None = None
) -> Server:
    port = free_port()
    log_url = f"sqlite:///{tmp / 'predictions.db'}"
    cmd = [str(BIN / "ml-gitops"), "serve", "--bundle", str(bundle), "--port", str(port), "--log-url", log_url]
    if params is not None:
        cmd += ["--params", str(params)]
    return Server(cmd, cwd, port, log_url, extra_env)


def first(sig: dict, *dtypes: str) -> tuple[str, dict]:
    """The first feature of one of ``dtypes`` (tests skip when the schema has none)."""
    for name, spec in sig["features"].items():
        if spec["dtype"] in dtypes:
            return name, spec
    pytest.skip(f"schema has no {dtypes} feature")
