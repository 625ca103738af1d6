"""Benchmark: `make monitor` on N logged rows (default 1e6) x the default schema.

Builds the default project in a temp git repo (`dvc repro`), scores N rows
resampled from the validated data with the trained model, writes them to a
SQLite prediction log with the log writer (10 % with feedback labels), then
times `make monitor LAST=N` several times. Each run is a child process whose
peak RSS comes from resource.getrusage(RUSAGE_CHILDREN) in a wrapper process.

    python benchmarks/monitor.py [--rows 1000000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.helpers import reproduced_project  # noqa: E402

BIN = Path(sys.executable).parent
WRAPPER = (
    "import resource, subprocess, sys, time\n"
    "t = time.perf_counter(); rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print(rc, time.perf_counter() - t, u.ru_maxrss, u.ru_utime + u.ru_stime)\n"
)


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PATH"] = f"{BIN}{os.pathsep}{e['PATH']}"
    e.update(DVC_NO_ANALYTICS="1", OMP_NUM_THREADS="1", GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@example.com")
    e.update(GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@example.com")
    return e


def fill_log(project: Path, rows: int, seed: int = 0) -> float:
    """Score ``rows`` resampled rows with the model and log them (10 % get feedback)."""
    import numpy as np
    import pandas as pd

    from ml_gitops.adapters.persistence import load_model
    from ml_gitops.adapters.predlog import PredictionLog

    sig = json.loads((project / "models/signature.json").read_text())
    feats = list(sig["features"])
    data = pd.read_parquet(project / "data/processed/validated.parquet")
    rng = np.random.default_rng(seed)
    frame = data.iloc[rng.integers(0, len(data), size=rows)].reset_index(drop=True)
    model = load_model(project / "models/model.skops")
    x = frame[feats].astype(object).where(frame[feats].notna(), None)
    proba = model.predict_proba(x)
    classes = [str(c) for c in model.classes_]
    t = time.perf_counter()
    inputs = x.to_json(orient="records", lines=True).splitlines()
    probs = pd.DataFrame(proba.round(6), columns=classes).to_json(orient="records", lines=True).splitlines()
    pred = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
    ids = [f"{i:032x}" for i in range(rows)]
    start = dt.datetime(2025, 1, 1)
    log = PredictionLog(f"sqlite:///{project / 'logs/predictions.db'}").create()
    log.write_predictions(
        {"id": ids[i], "ts": start + dt.timedelta(milliseconds=i), "model": "model", "version": "v1",
         "inputs": inputs[i], "prediction": pred[i], "probabilities": probs[i], "latency_ms": 1.0}
        for i in range(rows)
    )  # fmt: skip
    truth = frame[sig["target"]].astype(str).to_numpy()
    log.write_feedback({"prediction_id": ids[i], "label": truth[i]} for i in range(0, rows, 10))
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ns = ap.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (shared machine)", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-monitor-") as tmp:
        t = time.perf_counter()
        project = reproduced_project(Path(tmp), env())
        print(f"setup: dvc repro {time.perf_counter() - t:.1f} s", flush=True)
        wrote = fill_log(project, ns.rows)
        size = (project / "logs/predictions.db").stat().st_size / 2**20
        print(f"setup: logged {ns.rows} rows (+{ns.rows // 10} feedback) in {wrote:.1f} s, {size:.0f} MiB", flush=True)
        times, peaks, cpus = [], [], []
        # `-o .venv/.run-deps`: use this interpreter's environment instead of installing one in the copy.
        cmd = ["make", "-s", "-o", ".venv/.run-deps", "monitor", f"LAST={ns.rows}"]
        for i in range(ns.repeats):
            out = subprocess.run(
                [sys.executable, "-c", WRAPPER, *cmd],
                cwd=project,
                env=env(),
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            rc, secs, kib, cpu = int(out[0]), float(out[1]), int(out[2]), float(out[3])
            if rc not in (0, 1):
                raise SystemExit(f"make monitor exited {rc}")
            times.append(secs)
            cpus.append(cpu)
            peaks.append(kib / 2**20)
            gib = kib / 2**20
            print(f"run {i + 1}: {secs:.1f} s wall, {cpu:.1f} s CPU, peak RSS {gib:.2f} GiB, exit {rc}", flush=True)
        print(f"load average after: {os.getloadavg()[0]:.1f}")
        report = json.loads((project / "reports/monitor.json").read_text())
        print(
            f"make monitor, {ns.rows} logged rows x {len(report['features'])} features: "
            f"median {statistics.median(times):.1f} s wall ({statistics.median(cpus):.1f} s CPU), "
            f"peak RSS {max(peaks):.2f} GiB, "
            f"status {report['status']}, {report['performance']['n_labels']} feedback labels"
        )


if __name__ == "__main__":
    main()
