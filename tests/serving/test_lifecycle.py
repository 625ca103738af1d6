"""Start, load, log, stop: readiness, no lost log rows, feedback joined, refusal to serve a tampered bundle."""

from __future__ import annotations

import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pandas as pd
import pytest

from ..helpers import run
from .servers import AUTH, FEEDBACK_ENV, FEEDBACK_TOKEN, STARTUP_SECONDS, params_with, start_server

pytestmark = pytest.mark.slow
LOAD_REQUESTS = 400
CLIENTS = 8


def test_ready_only_after_the_model_is_loaded(bundle: Path, pipeline_repo: Path, tmp_path: Path) -> None:
    params = params_with(pipeline_repo, tmp_path / "params.yaml", ready_delay_seconds=4.0)
    srv = start_server(bundle, pipeline_repo, tmp_path, params)
    try:
        srv.wait("/health")
        before = httpx.get(srv.url + "/ready")
        assert before.status_code == 503 and before.json()["ready"] is False
        assert httpx.post(srv.url + "/predict", json={}).status_code in (503, 422)
        srv.wait("/ready", timeout=60)
        assert httpx.get(srv.url + "/ready").json()["ready"] is True
    finally:
        code, err = srv.stop()
    assert code == 0, err


def test_load_then_graceful_stop_loses_no_log_row_and_joins_feedback(
    bundle: Path, pipeline_repo: Path, tmp_path: Path, good: list[dict], sig: dict
) -> None:
    from ml_gitops.adapters.predlog import PredictionLog

    # Every answer waits for its row's commit, so SIGTERM finds nothing queued; a long idle interval
    # checks that stopping does not wait for the writer thread's next idle turn either.
    params = params_with(pipeline_repo, tmp_path / "params.yaml", log_flush_seconds=30.0, log_batch_size=100_000)
    srv = start_server(bundle, pipeline_repo, tmp_path, params, {FEEDBACK_ENV: FEEDBACK_TOKEN})
    srv.wait()
    with httpx.Client(base_url=srv.url, timeout=30) as client:

        def one(i: int) -> tuple[int, str]:
            r = client.post("/predict", json=good[i % len(good)])
            return r.status_code, r.json()["predictions"][0]["id"] if r.status_code == 200 else r.text

        with ThreadPoolExecutor(CLIENTS) as pool:
            results = list(pool.map(one, range(LOAD_REQUESTS)))
        batch = client.post("/predict", json=good[:10]).json()["predictions"]
        ids = [pid for status, pid in results if status == 200] + [p["id"] for p in batch]
        assert len(ids) == LOAD_REQUESTS + 10, [r for r in results if r[0] != 200][:3]
        fb = client.post("/feedback", json={"prediction_id": ids[0], "label": sig["classes"][0]}, headers=AUTH)
        assert fb.status_code == 202 and fb.json() == {"accepted": 1, "ignored": 0}
        labels = [{"prediction_id": i, "label": sig["classes"][-1]} for i in ids[1:4]]
        fb = client.post("/feedback", json=labels, headers=AUTH)
        assert fb.json() == {"accepted": 3, "ignored": 0}
    code, err = srv.stop()
    assert code == 0, err
    assert "runtime onnx: model.onnx matches the skops Pipeline" in err  # which runtime, and why
    assert f"prediction log flushed ({LOAD_REQUESTS + 10} predictions, 4 feedback, 0 journaled, 0 failed)" in err

    log = PredictionLog(srv.log_url)
    assert log.counts() == {"predictions": LOAD_REQUESTS + 10, "feedback": 4}
    df = log.read_window(with_feedback=True, parse_json=True)
    assert sorted(df["id"]) == sorted(ids)
    assert set(df["model"]) == {sig["model"]} and df["version"].str.startswith("workspace-").all()
    row = df.set_index("id").loc[ids[0]]
    assert row["label"] == sig["classes"][0]
    assert set(row["inputs"]) == set(sig["features"]) and set(row["probabilities"]) == set(sig["classes"])
    assert row["latency_ms"] > 0 and row["prediction"] in sig["classes"]
    assert df["label"].notna().sum() == 4
    # The window filter is on ts (naive UTC).
    latest = df["ts"].max()
    assert len(log.read_window(start=latest + pd.Timedelta(seconds=1))) == 0


def test_a_model_that_fails_to_load_stops_the_server(bundle: Path, pipeline_repo: Path, tmp_path: Path) -> None:
    """serve.runtime onnx with an impossible tolerance: the loader refuses, the server drains and exits 2."""
    params = params_with(pipeline_repo, tmp_path / "params.yaml", runtime="onnx", onnx={"tolerance": 1e-30})
    srv = start_server(bundle, pipeline_repo, tmp_path, params)
    try:
        srv.proc.wait(timeout=STARTUP_SECONDS)
    finally:
        code, err = srv.stop()
    assert code == 2, err
    assert "serve.runtime is onnx but ONNX differs from the Pipeline" in err
    assert "prediction log flushed (0 predictions, 0 feedback, 0 journaled, 0 failed)" in err


def test_tampered_bundle_refuses_to_start(bundle: Path, pipeline_repo: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bundle"
    shutil.copytree(bundle, bad)
    (bad / "signature.json").write_text((bad / "signature.json").read_text().replace("float", "int", 1))
    proc = run(["ml-gitops", "serve", "--bundle", str(bad), "--port", "1"], cwd=pipeline_repo, check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "signature.json has changed (checksum mismatch)" in lines[0], proc.stderr


def test_missing_bundle_and_no_source_are_one_line_errors(pipeline_repo: Path, tmp_path: Path) -> None:
    proc = run(["ml-gitops", "serve", "--bundle", str(tmp_path / "nope")], cwd=pipeline_repo, check=False)
    assert proc.returncode == 2 and "bundle not found" in proc.stderr
    proc = run(["ml-gitops", "serve"], cwd=pipeline_repo, check=False)
    assert proc.returncode == 2 and "--from-workspace" in proc.stderr


def test_serve_from_workspace(pipeline_repo: Path, tmp_path: Path) -> None:
    from .servers import Server, free_port

    port = free_port()
    url = f"sqlite:///{tmp_path / 'p.db'}"
    srv = Server(
        ["ml-gitops", "serve", "--from-workspace", "--port", str(port), "--log-url", url], pipeline_repo, port, url
    )
    try:
        srv.wait()
        assert httpx.get(srv.url + "/metadata").json()["lineage"]["source"] == "workspace"
    finally:
        time.sleep(0.1)
        code, err = srv.stop()
    assert code == 0, err
