"""The monitor on a real SQLite prediction log written by the log writer, in a reproduced pipeline repo."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_gitops.adapters.persistence import load_model
from ml_gitops.config.monitor import monitor_settings
from ml_gitops.config.settings import load_settings
from ml_gitops.monitoring.logsource import Window
from ml_gitops.monitoring.run import monitor

from ..helpers import run, run_main
from .logdata import draw, log_window, reference

pytestmark = pytest.mark.e2e
URL = "sqlite:///logs/predictions.db"
DAY0 = dt.datetime(2025, 1, 1)
WINDOW = 300


@pytest.fixture(scope="module")
def mon_repo(pipeline_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One private copy of the reproduced repo for this module (the monitor writes logs/ and reports/)."""
    dest = tmp_path_factory.mktemp("monitor") / "work"
    shutil.copytree(pipeline_repo, dest, symlinks=True)
    return dest


@pytest.fixture(scope="module")
def model(mon_repo: Path):
    return load_model(mon_repo / "models/model.skops")


@pytest.fixture
def in_repo(mon_repo: Path):
    old = Path.cwd()
    os.chdir(mon_repo)
    try:
        yield mon_repo
    finally:
        os.chdir(old)


def _judge(repo: Path, day: int, url: str = URL) -> dict:
    settings = load_settings(repo / "params.yaml")
    cfg = monitor_settings(settings)
    start = DAY0 + dt.timedelta(days=day)
    report, _, _ = monitor(settings, cfg, window=Window(since=start, until=start + dt.timedelta(days=1)), log_url=url)
    return report


# ------------------------------------------------------------------ decision rule over many windows
def test_no_drift_windows_rarely_breach(in_repo: Path, model) -> None:
    """>= 20 windows resampled from the reference: Holm + effect sizes keep false alarms to <= 1."""
    ref = reference(in_repo)
    url = "sqlite:///logs/nodrift.db"
    statuses = []
    for seed in range(20):
        log_window(in_repo, draw(ref, WINDOW, seed), url, start=DAY0 + dt.timedelta(days=seed), model=model)
        report = _judge(in_repo, seed, url)
        assert report["window"]["rows"] == WINDOW
        statuses.append((report["status"], report["breaches"]))
    breached = [s for s in statuses if s[0] != "healthy"]
    assert len(breached) <= 1, breached
    assert report["decision_rule"]["tests"] >= 10  # features + missing rates + predictions in one family


def _shift_mean(frame: pd.DataFrame, ref: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    frame = frame.copy()
    frame["bill_length_mm"] = frame["bill_length_mm"] + ref["bill_length_mm"].std()
    return frame


def _new_category(frame: pd.DataFrame, ref: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    frame = frame.copy()
    frame.loc[rng.random(len(frame)) < 0.2, "island"] = "Atlantis"
    return frame


def _flip_classes(frame: pd.DataFrame, ref: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Reverse the class balance: the rarest species becomes the most common."""
    share = {"Adelie": 0.1, "Chinstrap": 0.7, "Gentoo": 0.2}
    parts = [
        ref[ref["species"] == s].sample(int(WINDOW * f), replace=True, random_state=int(rng.integers(1 << 30)))
        for s, f in share.items()
    ]
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize(
    ("inject", "kind", "what"),
    [
        (_shift_mean, "drift", "bill_length_mm"),
        (_new_category, "quality", "island"),
        (_flip_classes, "prediction", "predicted classes"),
    ],
    ids=["moved-mean", "new-category", "flipped-class-balance"],
)
def test_injected_shift_breaches_every_time(in_repo: Path, model, inject, kind: str, what: str) -> None:
    ref = reference(in_repo)
    url = f"sqlite:///logs/{inject.__name__}.db"
    for seed in range(10):
        rng = np.random.default_rng(100 + seed)
        frame = inject(draw(ref, WINDOW, 100 + seed), ref, rng)
        log_window(in_repo, frame, url, start=DAY0 + dt.timedelta(days=seed), model=model)
        report = _judge(in_repo, seed, url)
        assert report["status"] == "breach", (seed, report["breaches"])
        assert any(b["kind"] == kind and b["what"] == what for b in report["breaches"]), report["breaches"]


def test_new_category_is_counted_in_data_quality(in_repo: Path, model) -> None:
    ref = reference(in_repo)
    url = "sqlite:///logs/unseen.db"
    frame = draw(ref, WINDOW, 7)
    frame.loc[:29, "island"] = "Atlantis"
    log_window(in_repo, frame, url, start=DAY0, model=model)
    q = _judge(in_repo, 0, url)["quality"]["island"]
    assert q["unseen"] == {"Atlantis": 30}
    assert q["unseen_share"] == pytest.approx(0.1)
    assert "unseen" in q["issues"]


# ------------------------------------------------------------------ the command, end to end
def _cli(repo: Path, *args: str):
    """`ml-gitops monitor run` in this process (`test_cli_drift_exit_1_and_reports` runs the real process)."""
    return run_main(["monitor", "run", *args], cwd=repo)


def test_cli_healthy_window_with_feedback_labels(in_repo: Path, model) -> None:
    ref = reference(in_repo)
    frame = draw(ref, 400, 11)
    labels = [lab if i % 2 == 0 else None for i, lab in enumerate(frame["species"])]  # half get feedback
    log_window(in_repo, frame, "sqlite:///logs/feedback.db", start=DAY0, labels=labels, model=model)
    proc = _cli(in_repo, "--log-url", "sqlite:///logs/feedback.db", "--last", "400")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((in_repo / "reports/monitor.json").read_text())
    assert report["status"] == "healthy"
    perf = report["performance"]
    assert perf["n_labels"] == 200 and perf["judged"] is True
    m = perf["metrics"]
    assert m["balanced_accuracy_ci_low"] <= m["balanced_accuracy"] <= m["balanced_accuracy_ci_high"]
    assert m["accuracy"] > 0.9
    md = (in_repo / "reports/monitor.md").read_text()
    assert "200 feedback label(s)" in md and "balanced_accuracy" in md
    assert report["reference"]["pinned"] is True and len(report["reference"]["md5"]) == 32


def test_cli_wrong_feedback_labels_breach_performance(in_repo: Path, model) -> None:
    ref = reference(in_repo)
    frame = draw(ref, 300, 12)
    rotate = {"Adelie": "Chinstrap", "Chinstrap": "Gentoo", "Gentoo": "Adelie"}
    labels = [rotate[s] for s in frame["species"]]
    url = "sqlite:///logs/badfeedback.db"
    log_window(in_repo, frame, url, start=DAY0, labels=labels, model=model)
    proc = _cli(in_repo, "--log-url", url)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = json.loads((in_repo / "reports/monitor.json").read_text())
    assert report["breach_kinds"] == ["performance"]
    assert report["performance"]["n_labels"] == 300
    assert "balanced_accuracy" in report["performance"]["below_floor"]


def test_cli_drift_exit_1_and_reports(in_repo: Path, model) -> None:
    ref = reference(in_repo)
    frame = _shift_mean(draw(ref, WINDOW, 21), ref, np.random.default_rng(0))
    url = "sqlite:///logs/drift-cli.db"
    log_window(in_repo, frame, url, start=DAY0, model=model)
    # the real command in its own process: exit code, summary on stderr, the three reports
    proc = run(
        ["ml-gitops", "monitor", "run", "--log-url", url, "--since", "2025-01-01", "--until", "2025-01-02"],
        cwd=in_repo,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "drift: bill_length_mm" in proc.stderr
    md = (in_repo / "reports/monitor.md").read_text()
    assert md.startswith("<!-- ml-gitops-monitor-report -->") and "🚨 breach" in md
    page = (in_repo / "reports/monitor.html").read_text()
    assert page.count("data:image/png;base64,") >= 2 and "https://" not in page


def test_cli_window_too_small_exit_2_states_minimum(in_repo: Path, model) -> None:
    ref = reference(in_repo)
    url = "sqlite:///logs/small.db"
    log_window(in_repo, draw(ref, 40, 3), url, start=DAY0, model=model)
    proc = _cli(in_repo, "--log-url", url)
    assert proc.returncode == 2
    assert "40 row(s); at least 100 (monitor.min_rows)" in proc.stderr
    report = json.loads((in_repo / "reports/monitor.json").read_text())
    assert report["status"] == "cannot_judge" and report["min_rows"] == 100


def test_cli_empty_time_range_cannot_judge(in_repo: Path, model) -> None:
    url = "sqlite:///logs/empty-range.db"  # its own log: tests may run in any order, on any worker
    log_window(in_repo, draw(reference(in_repo), 40, 3), url, start=DAY0, model=model)
    proc = _cli(in_repo, "--log-url", url, "--since", "2030-01-01")
    assert proc.returncode == 2 and "0 row(s)" in proc.stderr


def test_cli_missing_log_names_the_url(in_repo: Path) -> None:
    proc = _cli(in_repo, "--log-url", "sqlite:///logs/nothing-here.db")
    assert proc.returncode == 2
    assert "nothing-here.db does not exist" in proc.stderr
    assert not (in_repo / "logs" / "nothing-here.db").exists()  # the read did not create it


def test_cli_batch_file_scored_by_the_model(in_repo: Path) -> None:
    ref = reference(in_repo)
    batch = draw(ref, 300, 5).drop(columns=["year"])
    batch.to_parquet(in_repo / "batch.parquet")
    proc = _cli(in_repo, "--current", "batch.parquet")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((in_repo / "reports/monitor.json").read_text())
    assert report["window"]["scored_by"] == "models/model.skops"
    assert report["performance"]["n_labels"] == 300  # the batch carries its target column


def test_unpinned_reference_is_refused(in_repo: Path, tmp_path: Path) -> None:
    train = in_repo / "data/processed/train.parquet"
    saved = tmp_path / "train.parquet"
    shutil.copy2(train, saved)
    try:
        df = pd.read_parquet(saved).iloc[:-5]
        train.unlink()  # DVC may have linked it to the cache: never write through the link
        df.to_parquet(train)
        proc = _cli(in_repo, "--log-url", "sqlite:///logs/nodrift.db")
        assert proc.returncode == 2
        assert "data/processed/train.parquet: md5" in proc.stderr and "dvc.lock" in proc.stderr
    finally:
        train.unlink()
        shutil.copy2(saved, train)
