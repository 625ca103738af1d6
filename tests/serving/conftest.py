"""Fixtures: a bundle from the reproduced pipeline, and one shared server per module (helpers: servers.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from .servers import FEEDBACK_ENV, FEEDBACK_TOKEN, Server, params_with, start_server


@pytest.fixture(scope="session")
def bundle(pipeline_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pipeline's outputs as a verified bundle (what `serve --from-workspace` builds)."""
    from ml_gitops.serving.model import workspace_bundle

    old = Path.cwd()
    os.chdir(pipeline_repo)
    try:
        return workspace_bundle(tmp_path_factory.mktemp("bundle"))
    finally:
        os.chdir(old)


@pytest.fixture(scope="module")
def server(bundle: Path, pipeline_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server shared by the read-only tests of a module (bad inputs never change its state)."""
    tmp = tmp_path_factory.mktemp("server")
    params = params_with(pipeline_repo, tmp / "params.yaml", max_body_bytes=16384, max_records=50)
    srv = start_server(bundle, pipeline_repo, tmp, params, {FEEDBACK_ENV: FEEDBACK_TOKEN})
    try:
        srv.wait()
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def sig(bundle: Path) -> dict:
    import json

    return json.loads((bundle / "signature.json").read_text())


@pytest.fixture(scope="session")
def good(pipeline_repo: Path, sig: dict) -> list[dict]:
    """Valid records: the test split's feature rows (missing values as null), from whatever data is configured."""
    import pandas as pd

    test = pd.read_parquet(pipeline_repo / "data/processed/test.parquet")
    rows = []
    for rec in test[list(sig["features"])].to_dict(orient="records"):
        rows.append({k: (None if pd.isna(v) else v) for k, v in rec.items()})
    return rows
