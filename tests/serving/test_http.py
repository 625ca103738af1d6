"""The real server over HTTP: happy path, every bad input, docs that match the validation."""

from __future__ import annotations

import json

import httpx
import pytest

from .servers import AUTH, Server, first

pytestmark = pytest.mark.slow


def post(server: Server, path: str, body: object = None, content: bytes | None = None) -> httpx.Response:
    if content is None:
        content = json.dumps(body).encode()
    headers = {"content-type": "application/json", **(AUTH if path == "/feedback" else {})}
    return httpx.post(server.url + path, content=content, headers=headers, timeout=30)


def test_health_ready_metadata(server: Server, bundle, sig: dict) -> None:
    assert httpx.get(server.url + "/health").json() == {"status": "ok"}
    ready = httpx.get(server.url + "/ready").json()
    assert ready["ready"] is True and ready["runtime"] == "onnx"
    meta = httpx.get(server.url + "/metadata").json()
    manifest = json.loads((bundle / "MANIFEST.json").read_text())
    assert meta["version"] == manifest["version"] and meta["model"] == manifest["model"]
    assert meta["schema"] == sig
    assert meta["metrics"]["accuracy"] > 0.5
    assert meta["lineage"]["model_sha256"] == manifest["files"]["model.skops"]
    assert meta["onnx"]["usable"] is True


def test_predict_one_and_many(server: Server, good: list[dict], sig: dict) -> None:
    one = post(server, "/predict", good[0])
    assert one.status_code == 200, one.text
    body = one.json()
    assert body["model"] == sig["model"] and body["version"].startswith("workspace-")
    [p] = body["predictions"]
    assert len(p["id"]) == 32 and p["prediction"] in sig["classes"]
    assert set(p["probabilities"]) == set(sig["classes"])
    assert abs(sum(p["probabilities"].values()) - 1) < 1e-9
    assert p["prediction"] == max(p["probabilities"], key=p["probabilities"].get)
    many = post(server, "/predict", good[:20]).json()["predictions"]
    assert len(many) == 20 and len({p["id"] for p in many}) == 20
    assert many[0]["probabilities"] == pytest.approx(p["probabilities"], abs=1e-12)


def test_null_in_a_nullable_feature_is_imputed(server: Server, good: list[dict], sig: dict) -> None:
    name = next((n for n, s in sig["features"].items() if s.get("nullable", True)), None)
    if name is None:
        pytest.skip("no nullable feature")
    r = post(server, "/predict", {**good[0], name: None})
    assert r.status_code == 200, r.text


def _bad_cases(good: dict, sig: dict) -> dict[str, tuple[object, int, list]]:
    num, spec = first(sig, "float", "int")
    cat, cspec = first(sig, "category")
    some = next(iter(good))
    cases: dict[str, tuple[object, int, list]] = {
        "missing field": ({k: v for k, v in good.items() if k != some}, 422, ["body", some]),
        "unknown field": ({**good, "not_a_feature": 1}, 422, ["body", "not_a_feature"]),
        "wrong type (string for a number)": ({**good, num: "12.5"}, 422, ["body", num]),
        "wrong type (boolean for a number)": ({**good, num: True}, 422, ["body", num]),
        "wrong type (number for a category)": ({**good, cat: 3}, 422, ["body", cat]),
        "unseen category (rejected)": ({**good, cat: "never-seen"}, 422, ["body", cat]),
        "not an object": (42, 422, ["body"]),
        "empty list": ([], 422, ["body"]),
        "bad record inside a list": ([good, {**good, cat: "never-seen"}], 422, ["body", 1, cat]),
        "too many records": ([good] * 51, 422, ["body"]),
    }
    if spec.get("max") is not None:
        cases["out of range (above max)"] = ({**good, num: spec["max"] + 1}, 422, ["body", num])
    if spec.get("min") is not None:
        cases["out of range (below min)"] = ({**good, num: spec["min"] - 1}, 422, ["body", num])
    if not cspec.get("nullable", True):
        cases["null in a non-nullable field"] = ({**good, cat: None}, 422, ["body", cat])
    return cases


CASES = [
    "missing field",
    "unknown field",
    "wrong type (string for a number)",
    "wrong type (boolean for a number)",
    "wrong type (number for a category)",
    "unseen category (rejected)",
    "not an object",
    "empty list",
    "bad record inside a list",
    "too many records",
    "out of range (above max)",
    "out of range (below min)",
    "null in a non-nullable field",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_a_4xx_naming_the_field(server: Server, good: list[dict], sig: dict, case: str) -> None:
    cases = _bad_cases(good[0], sig)
    if case not in cases:
        pytest.skip(f"schema has no column for {case!r}")
    body, status, loc = cases[case]
    r = post(server, "/predict", body)
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert any(d["loc"] == loc and d["msg"] for d in detail), detail


@pytest.mark.parametrize(
    ("content", "status", "words"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"", 400, "not valid JSON"),
        (b"\xff\xfe\x00garbage", 400, "not valid JSON"),
        (b"[" + b" " * 20000 + b"]", 413, "max_body_bytes"),
    ],
    ids=["malformed", "empty body", "binary", "over max body"],
)
def test_non_json_and_oversized_bodies(server: Server, content: bytes, status: int, words: str) -> None:
    r = post(server, "/predict", content=content)
    assert r.status_code == status, r.text
    assert words in r.json()["detail"]


def test_chunked_body_over_the_limit_is_refused(server: Server) -> None:
    def gen():
        for _ in range(10):
            yield b" " * 4000

    r = httpx.post(server.url + "/predict", content=gen(), headers={"content-type": "application/json"}, timeout=30)
    assert r.status_code == 413


def test_bad_feedback(server: Server, sig: dict) -> None:
    assert post(server, "/feedback", {"prediction_id": "x", "label": sig["classes"][0]}).status_code == 422
    r = post(server, "/feedback", {"prediction_id": "0" * 32, "label": "not-a-class"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "label"]
    assert post(server, "/feedback", content=b"nope").status_code == 400


def test_the_worker_survived_everything(server: Server) -> None:
    assert httpx.get(server.url + "/health").status_code == 200
    assert server.proc.poll() is None


def test_openapi_documents_the_real_validation(server: Server, sig: dict) -> None:
    doc = httpx.get(server.url + "/openapi.json").json()
    record = doc["components"]["schemas"]["Record"]
    assert record["additionalProperties"] is False
    assert sorted(record["required"]) == sorted(sig["features"])
    for name, spec in sig["features"].items():
        prop = record["properties"][name]
        text = json.dumps(prop)
        if spec["dtype"] == "category":
            assert all(json.dumps(c) in text for c in spec["categories"])
        if spec.get("min") is not None:
            assert f'"minimum": {spec["min"]}' in text
    body = doc["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"$ref": "#/components/schemas/Record"} in body["anyOf"]
    assert "/feedback" in doc["paths"] and "/metadata" in doc["paths"]
    assert httpx.get(server.url + "/docs").status_code == 404  # off: Swagger UI would load from a CDN
