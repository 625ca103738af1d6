"""Pure pieces of the monitor: tests, corrections, time parsing, the issue plan, the workflow."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
import yaml

from ml_gitops.cli.monitor import issue_plan
from ml_gitops.config.errors import UserError
from ml_gitops.core import drift as stats
from ml_gitops.monitoring.logsource import parse_time

from ..helpers import ROOT


def test_holm_matches_the_textbook_example() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    assert stats.adjust(p, "holm") == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.adjust(p, "bonferroni") == pytest.approx([0.04, 0.16, 0.12, 0.02])
    out = stats.adjust([0.01, math.nan], "holm")
    assert out[0] == pytest.approx(0.01) and math.isnan(out[1])


def test_psi_and_wasserstein_grow_with_the_shift() -> None:
    rng = np.random.default_rng(0)
    ref = rng.normal(size=5000)
    same = stats.numeric_drift(ref, rng.normal(size=5000), 10)
    moved = stats.numeric_drift(ref, rng.normal(1.0, size=5000), 10)
    assert same["psi"] < 0.02 and same["p_value"] > 0.01
    assert moved["psi"] > 0.5 and moved["wasserstein"] == pytest.approx(1.0, abs=0.1) and moved["p_value"] < 1e-10


def test_categorical_drift_counts_a_new_category() -> None:
    d = stats.categorical_drift(np.array([50, 50, 0]), np.array([40, 40, 20]))
    assert d["share"] == pytest.approx(0.2) and d["p_value"] < 1e-3 and d["psi"] > 0.5


def test_parse_time() -> None:
    now = dt.datetime(2025, 3, 10, 12)
    assert parse_time("7d", now=now) == dt.datetime(2025, 3, 3, 12)
    assert parse_time("2025-01-02T03:00:00+01:00") == dt.datetime(2025, 1, 2, 2)
    with pytest.raises(UserError, match="--since 'yesterday'"):
        parse_time("yesterday")


def test_issue_plan_updates_the_one_issue() -> None:
    existing = [{"number": 9, "title": "Model monitor: breach"}, {"number": 3, "title": "Model monitor: breach"}]
    assert issue_plan(existing, "Model monitor: breach") == ("edit", 3)
    assert issue_plan([{"number": 1, "title": "other"}], "Model monitor: breach") == ("create", None)


WORKFLOW = ROOT / ".github/workflows/monitor.yml"


def test_workflow_runs_on_schedule_and_by_hand() -> None:
    """Monitor-specific; thinness, pins, zizmor and schema are checked for every workflow in tests/prloop."""
    wf = yaml.safe_load(WORKFLOW.read_text())
    assert wf["permissions"] == {}
    assert set(wf[True]) == {"schedule", "workflow_dispatch"}  # YAML reads the `on:` key as True
    assert all("permissions" in job for job in wf["jobs"].values())
