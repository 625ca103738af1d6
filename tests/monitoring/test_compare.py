"""monitoring/compare.py on a real SQLite prediction log: agreement, per-version metrics, the verdict."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ml_gitops.adapters.predlog import PredictionLog
from ml_gitops.config.errors import UserError
from ml_gitops.config.monitor import CompareSettings
from ml_gitops.monitoring.compare import compare_log, markdown

from ..helpers import BIN, ROOT

RULES = CompareSettings(min_rows=50, min_labels=30, max_accuracy_drop=0.02, min_agreement=0.9, max_latency_ratio=2.0)


def _row(pid: str, version: str, pred: str, latency: float) -> dict:
    return {
        "id": pid,
        "model": "m",
        "version": version,
        "inputs": {"x": 1},
        "prediction": pred,
        "probabilities": {"a": 1.0, "b": 0.0},
        "latency_ms": latency,
    }


def shadow_log(tmp_path: Path, n: int, cand_right: float, labelled: int, cand_latency: float = 1.0) -> str:
    """n answered rows by v1 (always right), each with a v2 shadow twin right on `cand_right` of them."""
    url = f"sqlite:///{tmp_path / 'log.db'}"
    log = PredictionLog(url).create()
    rows, feedback = [], []
    for i in range(n):
        truth = "a" if i % 3 else "b"
        wrong = "b" if truth == "a" else "a"
        pid = f"p{i:05d}"
        rows.append(_row(pid, "v1", truth, 1.0))
        rows.append(_row(pid + ".shadow", "v2", truth if i < cand_right * n else wrong, cand_latency))
        if i < labelled:
            feedback.append({"prediction_id": pid, "label": truth})
    log.write_predictions(rows)
    log.write_feedback(feedback)
    return url


def canary_log(tmp_path: Path, cur: int, cand: int, cand_right: float) -> str:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    log = PredictionLog(url).create()
    rows, feedback = [], []
    for version, n, right in (("v1", cur, 1.0), ("v2", cand, cand_right)):
        for i in range(n):
            pid = f"{version}-{i:05d}"
            rows.append(_row(pid, version, "a" if i < right * n else "b", 1.0))
            feedback.append({"prediction_id": pid, "label": "a"})
    log.write_predictions(rows)
    log.write_feedback(feedback)
    return url


def test_identical_shadow_candidate_is_promoted(tmp_path: Path) -> None:
    result = compare_log(shadow_log(tmp_path, 400, cand_right=1.0, labelled=400), RULES)
    assert (result["mode"], result["current"]["version"], result["candidate"]["version"]) == ("shadow", "v1", "v2")
    assert result["agreement"] == 1.0 and result["pairs"] == 400
    assert result["candidate"]["labels"] == 400  # the answered id's label counts for its shadow twin
    assert result["verdict"] == "promote", result["reason"]
    assert result["current"]["distribution"] == result["candidate"]["distribution"]


def test_worse_candidate_is_rolled_back(tmp_path: Path) -> None:
    result = compare_log(shadow_log(tmp_path, 400, cand_right=0.8, labelled=400), RULES)
    assert result["agreement"] == pytest.approx(0.8)
    assert result["candidate"]["accuracy"] == pytest.approx(0.8)
    assert result["candidate"]["accuracy_ci"][1] < 0.98
    assert result["verdict"] == "roll back", result["reason"]


def test_too_few_labels_holds(tmp_path: Path) -> None:
    result = compare_log(shadow_log(tmp_path, 400, cand_right=0.8, labelled=10), RULES)
    assert result["verdict"] == "hold"
    assert "min_labels 30" in result["reason"]


def test_slow_candidate_is_rolled_back(tmp_path: Path) -> None:
    result = compare_log(shadow_log(tmp_path, 400, cand_right=1.0, labelled=400, cand_latency=5.0), RULES)
    assert result["verdict"] == "roll back"
    assert "latency" in result["reason"]


def test_low_agreement_holds_even_when_accuracy_is_not_worse(tmp_path: Path) -> None:
    # Labels only on the rows where both agree: accuracy looks equal, agreement is 85 %.
    result = compare_log(shadow_log(tmp_path, 400, cand_right=0.85, labelled=300), RULES)
    assert result["candidate"]["accuracy"] == 1.0
    assert result["verdict"] == "hold" and "agreement" in result["reason"]


def test_canary_rows_compare_by_version(tmp_path: Path) -> None:
    result = compare_log(canary_log(tmp_path, cur=900, cand=100, cand_right=0.99), RULES)
    assert (result["mode"], result["candidate"]["version"], result["agreement"]) == ("canary", "v2", None)
    assert result["candidate"]["rows"] == 100
    assert result["verdict"] == "hold", result["reason"]  # 0.99 with 100 labels: CI straddles 0.98
    section = "\n".join(markdown(result))
    assert "**hold**" in section and "`v2`" in section and "[" in section


def test_one_version_or_an_empty_log_is_a_user_error(tmp_path: Path) -> None:
    url = canary_log(tmp_path, cur=10, cand=0, cand_right=1.0)
    with pytest.raises(UserError, match="exactly two versions"):
        compare_log(url, RULES)
    with pytest.raises(UserError, match="new.db does not exist"):
        compare_log(f"sqlite:///{tmp_path / 'logs' / 'new.db'}", RULES)
    assert not (tmp_path / "logs").exists()  # a read creates neither the file nor its folder
    PredictionLog(f"sqlite:///{tmp_path / 'empty.db'}").create()
    with pytest.raises(UserError, match="no predictions"):
        compare_log(f"sqlite:///{tmp_path / 'empty.db'}", RULES)


def test_command_writes_the_verdict(tmp_path: Path) -> None:
    url = shadow_log(tmp_path, 200, cand_right=1.0, labelled=200)
    proc = subprocess.run(
        [str(BIN / "ml-gitops"), "monitor", "compare", "--log-url", url, "--params", str(ROOT / "params.yaml")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "**promote**" in proc.stdout
    assert json.loads((tmp_path / "reports/compare.json").read_text())["verdict"] == "promote"
