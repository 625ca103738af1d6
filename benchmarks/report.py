"""Time the pull-request loop: `make report`, `make pr-gate` and the `make pr` rehearsal.

Builds a throwaway git repo with a bare origin and a local DVC remote (the project
copied as a clean clone would have it), reproduces `main`, then opens a PR branch
that changes one param, and prints medians:

- report / pr-gate on an up-to-date pipeline (the figure: `make report` <= 5 s);
- `make pr` after a param change (dvc repro reruns train + evaluate + gate, then report + gate);
- `make pr` from scratch (`dvc repro --force`: every stage, then report + gate), the worst case
  (the figure: <= 60 s).

`make pr` is timed as the commands it runs (dvc repro; ml-gitops pr report; ml-gitops pr gate).

    python benchmarks/report.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers import commit_all, reproduced_project, run  # noqa: E402

PROG = "ml-gitops"


CPU: list[float] = []  # CPU seconds of the last timed() call (user + sys of its processes)


def timed(cmds: list[list[str]], cwd: Path) -> float:
    """Wall seconds; CPU seconds go to CPU[-1] (wall time swings with a shared machine's load)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    for cmd in cmds:
        run(cmd, cwd=cwd, check=cmd[1:3] != ["pr", "gate"])  # the gate may legitimately say no
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall


def set_c(work: Path, value: float) -> None:
    path = work / "conf/model/logistic_regression.yaml"
    path.write_text(re.sub(r"(?m)^C: .*$", f"C: {value}", path.read_text()))
    run([PROG, "params", "sync"], cwd=work)


def median(label: str, values: list[float]) -> None:
    cpu = statistics.median(CPU[-len(values) :])
    spread = f"min {min(values):.2f}, max {max(values):.2f}"
    print(
        f"{label:<52} median {statistics.median(values):6.2f} s wall, {cpu:6.2f} s CPU"
        f"  ({len(values)} runs; wall {spread}; load {os.getloadavg()[0]:.1f})",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ns = ap.parse_args()
    pr = [["dvc", "repro"], [PROG, "pr", "report"], [PROG, "pr", "gate"]]
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        base = Path(tmp)
        work = reproduced_project(base)
        run(["git", "checkout", "-q", "-b", "pr"], cwd=work)
        set_c(work, 0.5)
        run(["dvc", "repro"], cwd=work)
        commit_all(work, "C=0.5")

        median("report, pipeline up to date", [timed([[PROG, "pr", "report"]], work) for _ in range(ns.runs)])
        median("pr-gate, pipeline up to date", [timed([[PROG, "pr", "gate"]], work) for _ in range(ns.runs)])
        median("make pr, pipeline up to date (no-op repro)", [timed(pr, work) for _ in range(ns.runs)])
        changed = []
        for i in range(ns.runs):
            set_c(work, round(0.4 - 0.05 * i, 3))
            changed.append(timed(pr, work))
        median("make pr after a param change (train+evaluate+gate)", changed)
        forced = [["dvc", "repro", "--force"], *pr[1:]]
        median("make pr from scratch (dvc repro --force)", [timed(forced, work) for _ in range(max(1, ns.runs // 2))])


if __name__ == "__main__":
    main()
