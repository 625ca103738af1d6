"""Authenticated writes on the real server: tokens, known ids only, one label per id, JSON only, HEAD."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pandas as pd
import pytest

from ..helpers import run
from .servers import FEEDBACK_ENV, FEEDBACK_TOKEN, params_with, start_server

pytestmark = pytest.mark.slow
PREDICT_TOKEN = "predict-token-from-a-secret-file-42"
JSON_HEADERS = {"content-type": "application/json"}


def bearer(token: str) -> dict[str, str]:
    return {**JSON_HEADERS, "authorization": f"Bearer {token}"}


def test_tokens_known_ids_one_label_json_only(
    bundle: Path, pipeline_repo: Path, tmp_path: Path, good: list[dict], sig: dict
) -> None:
    from ml_gitops.adapters.predlog import PredictionLog

    secret = tmp_path / "predict.token"
    secret.write_text(PREDICT_TOKEN + "\n")
    params = params_with(pipeline_repo, tmp_path / "params.yaml", auth={"predict_token_file": str(secret)})
    srv = start_server(bundle, pipeline_repo, tmp_path, params, {FEEDBACK_ENV: FEEDBACK_TOKEN})
    label, other = sig["classes"][0], sig["classes"][-1]
    try:
        srv.wait()
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            body = json.dumps(good[:3])
            # /predict: token required (serve.auth.predict_token_file)
            r = c.post("/predict", content=body, headers=JSON_HEADERS)
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", r.text
            assert c.post("/predict", content=body, headers=bearer("wrong-token-0123456789")).status_code == 403
            assert c.post("/predict", content=body, headers=bearer(FEEDBACK_TOKEN)).status_code == 403
            r = c.post("/predict", content=body, headers=bearer(PREDICT_TOKEN))
            assert r.status_code == 200, r.text
            a, b, d = (p["id"] for p in r.json()["predictions"])

            # /feedback: its own token
            fb = json.dumps({"prediction_id": a, "label": label})
            r = c.post("/feedback", content=fb, headers=JSON_HEADERS)
            assert r.status_code == 401 and "bearer token required" in r.json()["detail"]
            assert (
                c.post("/feedback", content=fb, headers={**JSON_HEADERS, "authorization": "Basic eDp5"}).status_code
                == 401
            )
            assert c.post("/feedback", content=fb, headers=bearer(PREDICT_TOKEN)).status_code == 403
            assert c.post("/feedback", content=fb, headers=bearer(FEEDBACK_TOKEN + "x")).status_code == 403

            # known ids only: nothing of a list with one unknown id is written
            r = c.post(
                "/feedback",
                content=json.dumps({"prediction_id": "0" * 32, "label": label}),
                headers=bearer(FEEDBACK_TOKEN),
            )
            assert r.status_code == 404 and "0" * 32 in r.json()["detail"], r.text
            mixed = json.dumps([{"prediction_id": b, "label": label}, {"prediction_id": "f" * 32, "label": label}])
            assert c.post("/feedback", content=mixed, headers=bearer(FEEDBACK_TOKEN)).status_code == 404

            # one label per id (serve.feedback.on_second_label: refuse)
            r = c.post("/feedback", content=fb, headers=bearer(FEEDBACK_TOKEN))
            assert r.status_code == 202 and r.json() == {"accepted": 1, "ignored": 0}, r.text
            again = json.dumps({"prediction_id": a, "label": other})
            r = c.post("/feedback", content=again, headers=bearer(FEEDBACK_TOKEN))
            assert r.status_code == 409 and a in r.json()["detail"], r.text
            both = json.dumps([{"prediction_id": b, "label": other}, {"prediction_id": a, "label": other}])
            assert c.post("/feedback", content=both, headers=bearer(FEEDBACK_TOKEN)).status_code == 409
            twice = json.dumps([{"prediction_id": d, "label": other}, {"prediction_id": d, "label": label}])
            assert c.post("/feedback", content=twice, headers=bearer(FEEDBACK_TOKEN)).status_code == 409

            # JSON only: the content types a cross-site "simple" POST can use get 415
            for path, token in (("/predict", PREDICT_TOKEN), ("/feedback", FEEDBACK_TOKEN)):
                auth = {"authorization": f"Bearer {token}"}
                for kind in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
                    r = c.post(path, content=fb, headers={**auth, "content-type": kind})
                    assert r.status_code == 415 and "application/json" in r.json()["detail"], (path, kind, r.text)
                assert c.post(path, data={"prediction_id": a}, headers=auth).status_code == 415  # a real form
                assert c.post(path, content=fb, headers=auth).status_code == 415  # no Content-Type
            ok = c.post(
                "/feedback",
                content=json.dumps({"prediction_id": b, "label": other}),
                headers={**bearer(FEEDBACK_TOKEN), "content-type": "application/json; charset=utf-8"},
            )
            assert ok.status_code == 202, ok.text

            # HEAD on GET routes; /docs off, the document stays
            for path in ("/metadata", "/health", "/ready", "/openapi.json"):
                r = c.head(path)
                assert r.status_code == 200 and r.content == b"", (path, r.status_code)
            assert c.get("/docs").status_code == 404
            doc = c.get("/openapi.json").json()
            assert {"401", "403", "404", "409", "415"} <= set(doc["paths"]["/feedback"]["post"]["responses"])
    finally:
        code, err = srv.stop()
    out = srv.stdout
    assert code == 0, err
    assert "feedback needs a bearer token ($ML_GITOPS_FEEDBACK_TOKEN)" in err
    assert f"predict needs a bearer token ({secret})" in err
    assert "prediction log flushed (3 predictions, 2 feedback, 0 journaled, 0 failed)" in err
    for token in (FEEDBACK_TOKEN, PREDICT_TOKEN):
        assert token not in err and token not in out
    df = PredictionLog(srv.log_url).read_window(with_feedback=True).set_index("id")
    assert PredictionLog(srv.log_url).counts() == {"predictions": 3, "feedback": 2}
    assert df.loc[a, "label"] == label and df.loc[b, "label"] == other and pd.isna(df.loc[d, "label"])


def test_feedback_off_without_a_token_and_open_only_when_conf_says(
    bundle: Path, pipeline_repo: Path, tmp_path: Path, good: list[dict], sig: dict
) -> None:
    from ml_gitops.adapters.predlog import PredictionLog

    (tmp_path / "off").mkdir()
    off = start_server(bundle, pipeline_repo, tmp_path / "off")  # the default conf, no token in the env
    try:
        off.wait()
        pid = httpx.post(off.url + "/predict", json=good[0]).json()["predictions"][0]["id"]
        r = httpx.post(off.url + "/feedback", json={"prediction_id": pid, "label": sig["classes"][0]})
        assert r.status_code == 403, r.text
        detail = r.json()["detail"]
        assert "feedback is off" in detail and FEEDBACK_ENV in detail and "\n" not in detail
    finally:
        off.stop()

    demo = tmp_path / "demo"
    demo.mkdir()
    params = params_with(
        pipeline_repo, demo / "params.yaml", auth={"open_feedback": True}, feedback={"on_second_label": "keep_first"}
    )
    srv = start_server(bundle, pipeline_repo, demo, params)
    try:
        srv.wait()
        pid = httpx.post(srv.url + "/predict", json=good[0]).json()["predictions"][0]["id"]
        first = {"prediction_id": pid, "label": sig["classes"][0]}
        assert httpx.post(srv.url + "/feedback", json=first).json() == {"accepted": 1, "ignored": 0}
        second = {"prediction_id": pid, "label": sig["classes"][-1]}
        r = httpx.post(srv.url + "/feedback", json=second)
        assert r.status_code == 202 and r.json() == {"accepted": 0, "ignored": 1}
    finally:
        code, err = srv.stop()
    assert code == 0, err
    assert "feedback OPEN without a token" in err
    df = PredictionLog(srv.log_url).read_window(with_feedback=True)
    assert list(df["label"]) == [sig["classes"][0]]  # the first label is kept


def test_a_configured_predict_token_that_is_missing_stops_the_start(
    pipeline_repo: Path, bundle: Path, tmp_path: Path
) -> None:
    params = params_with(pipeline_repo, tmp_path / "params.yaml", auth={"predict_token_env": "H8_NO_SUCH_TOKEN"})
    proc = run(
        ["ml-gitops", "serve", "--bundle", str(bundle), "--params", str(params), "--port", "0"],
        cwd=pipeline_repo,
        check=False,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "H8_NO_SUCH_TOKEN is not set" in lines[0], proc.stderr
