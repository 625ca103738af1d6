"""`ml-gitops monitor prune`: serve.log_retention deletes old / surplus predictions and their feedback."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path

import yaml

from ml_gitops.adapters.predlog import PredictionLog, utcnow

from ..helpers import BIN, ROOT, env


def _log(tmp_path: Path) -> tuple[str, PredictionLog]:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    log = PredictionLog(url).create()
    now = utcnow()
    rows = [
        {"id": f"id{i}", "ts": now - timedelta(days=i), "model": "m", "version": "v", "inputs": {"x": i},
         "prediction": "a", "probabilities": {"a": 1.0}, "latency_ms": 1.0}
        for i in range(10)
    ]  # fmt: skip
    log.write_predictions(rows)
    log.write_feedback([{"prediction_id": f"id{i}", "label": "a"} for i in range(10)])
    return url, log


def _prune(tmp_path: Path, url: str, **retention: object) -> str:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["serve"]["log_retention"] = {"max_age_days": None, "max_rows": None, **retention}
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw))
    cmd = [str(BIN / "ml-gitops"), "monitor", "prune", "--params", str(params), "--log-url", url]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env(), check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout + proc.stderr


def test_prune_by_age_then_by_rows_deletes_predictions_and_their_feedback(tmp_path: Path) -> None:
    url, log = _log(tmp_path)
    out = _prune(tmp_path, url, max_age_days=6.5)  # ids 7, 8, 9 are older
    assert "deleted 3 prediction(s) and 3 feedback row(s)" in out
    assert log.counts() == {"predictions": 7, "feedback": 7}
    out = _prune(tmp_path, url, max_rows=2)  # keeps the two newest: id0, id1
    assert "deleted 5 prediction(s) and 5 feedback row(s)" in out
    assert sorted(log.read_window()["id"]) == ["id0", "id1"]
    assert log.counts() == {"predictions": 2, "feedback": 2}


def test_no_limit_deletes_nothing(tmp_path: Path) -> None:
    url, log = _log(tmp_path)
    assert "nothing deleted" in _prune(tmp_path, url)
    assert log.counts() == {"predictions": 10, "feedback": 10}
