"""Sweep speed-up: the same 8-experiment DVC queue run with 1 worker, then with 2.

Builds a throwaway copy of the project (git repo, pipeline reproduced once), then
for each worker count runs the default grid of conf/sweep/ (4 C values x 2
class weights = 8 experiments) with `ml-gitops sweep run --jobs N` and reports the
run phase it times (`dvc exp run --run-all -j N` until every experiment is done). Each round sweeps a different
`train.seed`, so DVC's run-cache cannot replay one round's results in the other. runtime.threads stays 1.

    python benchmarks/sweep.py            # 8 experiments, 1 vs 2 workers
    python benchmarks/sweep.py --repeats 3   # alternate 1 and 2 workers three times, report medians
    python benchmarks/sweep.py --grid model.C=0.1,1   # smaller, while developing
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers import env, reproduced_project, run  # noqa: E402


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def _cpu() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs from /proc/stat; None off Linux."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return None
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def _cores_busy(before: tuple[int, int] | None, after: tuple[int, int] | None) -> str:
    """Average number of busy cores between two samples: how much parallel work there was."""
    if before is None or after is None or after[1] == before[1]:
        return "cores busy n/a"
    return f"{(after[0] - before[0]) / (after[1] - before[1]) * (os.cpu_count() or 1):.2f} cores busy on average"


def _wait_for_workers(work: Path, e: dict[str, str], limit: float = 120.0) -> None:
    """Until the DVC queue workers of the previous round have stopped (they check every 10 s)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        out = run(["dvc", "queue", "status"], cwd=work, env=e).stdout
        if "Worker status: 0 active, 0 idle" in out:
            return
        time.sleep(2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--grid", nargs="*", help="Hydra overrides (default: sweep.grid of conf/sweep/)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=1, help="rounds of every worker count (medians reported)")
    ap.add_argument("--keep", action="store_true", help="keep the temp project")
    ns = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    e = env()
    e["OMP_NUM_THREADS"] = "1"
    try:
        work = reproduced_project(tmp, e)
        print(f"sweep benchmark in {work}; {_load()}")
        base_grid = ns.grid or yaml.safe_load((work / "params.yaml").read_text())["sweep"]["grid"]
        results: dict[int, list[float]] = {j: [] for j in ns.workers}
        whole: dict[int, list[float]] = {j: [] for j in ns.workers}
        for r in range(ns.repeats):
            for i, jobs in enumerate(ns.workers):
                # A new seed per round: DVC's run-cache must not replay an earlier round's results.
                grid = [*base_grid, f"train.seed={1000 + r * len(ns.workers) + i}", "runtime.threads=1"]
                _wait_for_workers(work, e)  # the last round's workers linger ~10 s: not this round's time
                before, t0 = _cpu(), time.perf_counter()
                proc = run(["ml-gitops", "sweep", "run", "--jobs", str(jobs), *grid], cwd=work, env=e)
                log, out = proc.stderr, proc.stdout  # progress is logged (stderr), the table printed (stdout)
                wall = time.perf_counter() - t0
                busy = _cores_busy(before, _cpu())
                n = int(log.split("queueing ")[1].split()[0])
                # The run phase as `sweep` measures it: `dvc exp run --run-all -j N` until every experiment is done.
                elapsed = float(log.split(" ran in ")[1].split()[0])
                results[jobs].append(elapsed)
                whole[jobs].append(wall)
                failed = sum(1 for ln in out.splitlines() if ln.startswith("|") and "| Failed " in ln)
                print(
                    f"  round {r + 1}, {jobs} worker(s): {n} experiments ran in {elapsed:.1f} s "
                    f"({elapsed / n:.1f} s each, {failed} failed), whole sweep incl. queueing {wall:.1f} s; "
                    f"{busy} (whole sweep); {_load()}"
                )
        if 1 in results and len(results) > 1:
            one, one_whole = median(results[1]), median(whole[1])
            for jobs in ns.workers:
                if jobs != 1:
                    ratios = ", ".join(f"{a / b:.2f}x" for a, b in zip(results[1], results[jobs], strict=True))
                    print(
                        f"speed-up with {jobs} workers (medians of {ns.repeats}): run phase "
                        f"{one / median(results[jobs]):.2f}x (per round: {ratios}); whole sweep incl. "
                        f"serial queueing {one_whole / median(whole[jobs]):.2f}x"
                    )
    finally:
        if ns.keep:
            print(f"kept {tmp}")
        else:
            # A lingering queue worker would write its files back after the rmtree. Best effort: an
            # earlier failure (no repository yet) must not be replaced by this one.
            with contextlib.suppress(Exception):
                _wait_for_workers(tmp / "work", e)
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
