"""Shadow and canary end to end (issue 17.5): two registered versions (real git + GTO tags, real DVC),
the `canary` stage assigned and resolved through the registry, both bundles built from their tags, a
real server on 127.0.0.1 in shadow then canary mode, and `monitor compare` on what it logged."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from ml_gitops.adapters.predlog import PredictionLog
from ml_gitops.config.monitor import CompareSettings
from ml_gitops.monitoring.compare import compare_log
from ml_gitops.serving.routing import bucket

from ..helpers import commit_all, run
from ..registry.conftest import cli, outputs, reg_repo, trust_test_tagger  # noqa: F401  (reg_repo: fixture)
from .servers import AUTH, FEEDBACK_ENV, FEEDBACK_TOKEN, params_with, start_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
FRACTION = 0.3


@pytest.fixture
def two_versions(reg_repo, tmp_path: Path) -> tuple[Path, Path, Path]:  # noqa: F811
    """(work, bundle v0.1.0 = prod, bundle v0.2.0 = canary): two models, two promotes, the canary stage."""
    work, _, _ = reg_repo
    trust_test_tagger(work)
    run(["git", "push", "-q", "origin", "main"], cwd=work)
    assert outputs(cli(work, "registry", "promote", "--push"))["version"] == "v0.1.0"
    model = work / "conf/model/logistic_regression.yaml"
    model.write_text(re.sub(r"(?m)^C: .*$", "C: 0.01", model.read_text(), count=1))
    cli(work, "params", "sync")
    run(["dvc", "repro"], cwd=work)
    run(["dvc", "push"], cwd=work)
    commit_all(work, "Merge pull request #9: C 0.01")
    run(["git", "push", "-q", "origin", "main"], cwd=work)
    assert outputs(cli(work, "registry", "promote", "--push"))["version"] == "v0.2.0"
    cli(work, "registry", "assign", "--stage", "prod", "--version", "v0.1.0", "--push")
    cli(work, "registry", "assign", "--stage", "canary", "--version", "v0.2.0", "--push")
    # The canary stage resolves like the others: to its version, its model fetched and md5-checked.
    resolved = outputs(cli(work, "registry", "resolve", "--stage", "canary", "--out", str(tmp_path / "deploy")))
    assert resolved["version"] == "v0.2.0" and resolved["stage"] == "canary"
    bundles = []
    for version in ("v0.1.0", "v0.2.0"):
        cli(work, "release", "build", "--version", version, "--out-dir", str(tmp_path / "dist"))
        bundles.append(tmp_path / "dist" / f"model-{version}")
    assert json.loads((bundles[1] / "MANIFEST.json").read_text())["version"] == "v0.2.0"
    return work, bundles[0], bundles[1]


def records(work: Path, bundle: Path, n: int) -> tuple[list[dict], list[str]]:
    """``n`` test-split rows (sampled with replacement) as request records, and their true labels."""
    import pandas as pd

    sig = json.loads((bundle / "signature.json").read_text())
    rows = pd.read_parquet(work / "data/processed/test.parquet").sample(n, replace=True, random_state=0)
    features = rows[list(sig["features"])].to_dict("records")
    recs = [{k: (None if pd.isna(v) else v) for k, v in r.items()} for r in features]
    return recs, [str(v) for v in rows[sig["target"]]]


def serve(work: Path, tmp: Path, current: Path, candidate: Path, mode: str):
    cand = {"mode": mode, "fraction": FRACTION, "sticky_key": "x-client-id", "bundle": str(candidate), "seed": 0}
    params = params_with(work, tmp / "params.yaml", candidate=cand)
    srv = start_server(current, work, tmp, params, {FEEDBACK_ENV: FEEDBACK_TOKEN})
    srv.wait()
    return srv


def test_shadow_logs_both_and_canary_splits_sticky(two_versions, tmp_path: Path) -> None:
    work, current, candidate = two_versions
    recs, labels = records(work, current, 120)

    # Shadow: every answer is the current model's; the log holds the candidate's answer beside it.
    shadow_dir = tmp_path / "shadow"
    shadow_dir.mkdir()
    srv = serve(work, shadow_dir, current, candidate, "shadow")
    ids = []
    try:
        for rec in recs:
            body = httpx.post(srv.url + "/predict", json=rec, timeout=30).json()
            assert body["version"] == "v0.1.0"
            ids.append(body["predictions"][0]["id"])
        fb = [{"prediction_id": i, "label": y} for i, y in zip(ids, labels, strict=True)]
        assert httpx.post(srv.url + "/feedback", json=fb, headers=AUTH, timeout=30).status_code == 202
    finally:
        code, err = srv.stop()
    assert code == 0, err
    rows = PredictionLog(srv.log_url).read_window()
    assert rows.groupby("version").size().to_dict() == {"v0.1.0": 120, "v0.2.0": 120}
    shadow_ids = set(rows.loc[rows["version"] == "v0.2.0", "id"])
    assert shadow_ids == {i + ".shadow" for i in ids}

    # The comparison's verdict follows the rules it is given (same log, three rule sets).
    loose = CompareSettings(min_rows=10, min_labels=10, max_accuracy_drop=1.0, min_agreement=0.0, max_latency_ratio=1e6)
    result = compare_log(srv.log_url, loose)
    assert (result["mode"], result["pairs"], result["candidate"]["labels"]) == ("shadow", 120, 120)
    assert result["current"]["version"] == "v0.1.0" and result["candidate"]["version"] == "v0.2.0"
    assert 0 <= result["agreement"] <= 1 and result["current"]["latency_ms"]["p95"] > 0
    assert result["verdict"] == "promote", result["reason"]
    assert compare_log(srv.log_url, loose.model_copy(update={"min_labels": 1000}))["verdict"] == "hold"
    slow = compare_log(srv.log_url, loose.model_copy(update={"max_latency_ratio": 1e-6}))
    assert slow["verdict"] == "roll back" and "latency" in slow["reason"]

    # Canary: a keyed client always lands on the same side; the split follows the keys' buckets.
    canary_dir = tmp_path / "canary"
    canary_dir.mkdir()
    srv = serve(work, canary_dir, current, candidate, "canary")
    keys = [f"client-{i}" for i in range(200)]
    seen: dict[str, set[str]] = {}
    try:
        for _ in range(2):  # every key twice
            for k, rec in zip(keys, recs + recs, strict=False):
                r = httpx.post(srv.url + "/predict", json=rec, headers={"x-client-id": k}, timeout=30)
                seen.setdefault(k, set()).add(r.json()["version"])
    finally:
        code, err = srv.stop()
    assert code == 0, err
    assert all(len(v) == 1 for v in seen.values())  # sticky
    to_candidate = {k for k, v in seen.items() if v == {"v0.2.0"}}
    assert to_candidate == {k for k in keys if bucket(k) < FRACTION}
    assert 0.2 < len(to_candidate) / len(keys) < 0.4  # near the configured fraction
    logged = PredictionLog(srv.log_url).read_window()
    assert logged.groupby("version").size().to_dict() == {
        "v0.1.0": 2 * (200 - len(to_candidate)),
        "v0.2.0": 2 * len(to_candidate),
    }
