"""Property-based fuzz of the OpenAPI-described endpoints: whatever the body, never a 5xx."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .servers import AUTH, Server

pytestmark = pytest.mark.slow

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def mutated_records(draw: st.DrawFn, good: dict, sig: dict) -> object:
    """A valid record with a few fields dropped, added, or replaced by arbitrary JSON."""
    rec = dict(good)
    for name in draw(st.lists(st.sampled_from(sorted(sig["features"])), max_size=3)):
        action = draw(st.sampled_from(["drop", "replace", "null"]))
        if action == "drop":
            rec.pop(name, None)
        elif action == "null":
            rec[name] = None
        else:
            rec[name] = draw(json_values)
    if draw(st.booleans()):
        rec[draw(st.text(max_size=8))] = draw(json_values)
    return draw(st.sampled_from([rec, [rec], [good, rec]]))


@pytest.fixture(scope="module")
def client(server: Server):
    # JSON-declared and authenticated, so the bodies reach validation (not 415/401).
    with httpx.Client(base_url=server.url, timeout=30, headers={"content-type": "application/json", **AUTH}) as c:
        yield c


def test_fuzz_predict(client: httpx.Client, good: list[dict], sig: dict) -> None:
    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=mutated_records(good[0], sig) | json_values)
    def check(body: object) -> None:
        r = client.post("/predict", content=json.dumps(body).encode())
        assert r.status_code < 500, (body, r.text)
        assert r.status_code in (200, 400, 413, 422), (body, r.text)

    check()


def test_fuzz_raw_bytes_and_feedback(client: httpx.Client, sig: dict) -> None:
    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        path=st.sampled_from(["/predict", "/feedback"]),
        content=st.binary(max_size=300)
        | json_values.map(lambda v: json.dumps(v).encode())
        | st.fixed_dictionaries(
            {"prediction_id": st.text(max_size=40) | st.just("a" * 32), "label": st.sampled_from(sig["classes"])}
        ).map(lambda v: json.dumps(v).encode()),
    )
    def check(path: str, content: bytes) -> None:
        r = client.post(path, content=content)
        assert r.status_code < 500, (path, content, r.text)

    check()
    for path in ["/health", "/ready", "/metadata", "/openapi.json"]:
        assert client.get(path).status_code == 200
