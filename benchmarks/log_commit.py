"""How long a request waits for its prediction-log row to commit, with the GIL contended.

    python benchmarks/log_commit.py [--commits 300]

A CPU-bound thread stands in for a busy event loop (switch interval as `serve.gil_switch_interval_ms`).
Each path commits one row `--commits` times and the medians and p99s are printed side by side:
(a) a SQLAlchemy transaction from the writer thread (the log before the raw INSERT),
(b) `LogWriter.put_predictions` (the writer thread's raw multi-row INSERT),
(c) `LogWriter.write` awaited on an event loop (the loop commits; the serving path).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import Future
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from ml_gitops.adapters.predlog import LogWriter, PredictionLog, new_id, utcnow
from ml_gitops.config.serve import ServeSettings


def row() -> dict:
    return {
        "id": new_id(),
        "ts": utcnow(),
        "model": "m",
        "version": "v",
        "inputs": '{"island":"Biscoe","bill_length_mm":40.1}',
        "prediction": "Adelie",
        "probabilities": '{"Adelie":0.9}',
        "latency_ms": 1.0,
    }


def sqlalchemy_thread(log: PredictionLog, n: int) -> list[float]:
    """One SQLAlchemy transaction per commit, run in a worker thread the caller waits on."""
    jobs: list[tuple[dict, Future]] = []
    ready = threading.Condition()

    def worker() -> None:
        while True:
            with ready:
                while not jobs:
                    ready.wait()
                item, fut = jobs.pop()
            if item is None:
                return
            with log.engine.begin() as conn:
                conn.execute(log.predictions.insert(), [item])
            fut.set_result(None)

    t = threading.Thread(target=worker, daemon=True)
    t.start()
    lat = []
    for _ in range(n):
        fut: Future = Future()
        start = time.perf_counter()
        with ready:
            jobs.append((row(), fut))
            ready.notify()
        fut.result()
        lat.append(time.perf_counter() - start)
    with ready:
        jobs.append((None, Future()))
        ready.notify()
    return lat


def writer_thread(writer: LogWriter, n: int) -> list[float]:
    lat = []
    for _ in range(n):
        start = time.perf_counter()
        writer.put_predictions([row()]).result()
        lat.append(time.perf_counter() - start)
    return lat


def event_loop(writer: LogWriter, n: int) -> list[float]:
    async def run() -> list[float]:
        lat = []
        for _ in range(n):
            start = time.perf_counter()
            await writer.write([row()])
            lat.append(time.perf_counter() - start)
        return lat

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commits", type=int, default=300)
    ns = parser.parse_args()
    sys.setswitchinterval(ServeSettings().gil_switch_interval_ms / 1000)
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            sum(range(1000))

    threading.Thread(target=busy, daemon=True).start()
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-log-") as tmp:
        for name, fn in [
            ("SQLAlchemy transaction, writer thread", sqlalchemy_thread),
            ("raw INSERT, writer thread", writer_thread),
            ("raw INSERT, event loop (serving)", event_loop),
        ]:
            log = PredictionLog(f"sqlite:///{Path(tmp) / (new_id() + '.db')}").create()
            if fn is sqlalchemy_thread:
                results[name] = fn(log, ns.commits)
            else:
                writer = LogWriter(log).start()
                results[name] = fn(writer, ns.commits)
                writer.close()
    stop.set()
    first = statistics.median(next(iter(results.values())))
    print(f"{ns.commits} one-row commits each, a CPU-bound thread contending for the GIL\n")
    print("| path | p50 ms | p99 ms | p50 ÷ first |\n|---|---:|---:|---:|")
    for name, lat in results.items():
        lat.sort()
        p50, p99 = statistics.median(lat), lat[int(len(lat) * 0.99)]
        print(f"| {name} | {p50 * 1e3:.2f} | {p99 * 1e3:.2f} | {p50 / first:.2f} |")


if __name__ == "__main__":
    main()
