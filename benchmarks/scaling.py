"""Scaling on the synthetic source: time and peak RSS per stage, end to end, and the floor.

For each size N (rows), in a temporary copy of the project composed with
`data=synthetic data.source.n_rows=N`:
  - end to end: `dvc repro` of the whole pipeline (wall time, peak RSS of the
    process tree: DVC and the stages it runs);
  - per stage: each stage's `dvc.yaml` command run directly as a child process
    (wall time and that process's own peak RSS);
  - bare: read + split + fit + predict of the same scikit-learn Pipeline in one
    process (benchmarks/bare.py), the floor the end-to-end time is compared with.

    python benchmarks/scaling.py [--sizes 1e4,1e5,1e6] [--runs 3] [--markdown out.md]

1e7 rows needs ~15 minutes and a few GiB: `make bench-scale SIZES=1e4,1e5,1e6,1e7`.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

import yaml
from common import ROOT, emit, env, machine, measure, median, mib, project, secs, table

STAGES = ["ingest", "validate", "split", "train", "evaluate", "gate"]
# Issue 14 set the end-to-end floor at 2.5x the bare read + fit + predict once the stages became plain code.
FLOOR_ROWS, FLOOR_RATIO, FLOOR_RSS_MIB = 1_000_000, 2.5, 3 * 1024
LIMIT_RSS_MIB = 24 * 1024


def run_size(n: int, tmp: Path, runs: int, model: str) -> dict[str, float]:
    # The synthetic labels are noisy by design: the gate's floors (for the default data) are set to 0.
    floors = yaml.safe_load((ROOT / "conf/gate/default.yaml").read_text())["floors"]
    overrides = ["data=synthetic", f"data.source.n_rows={n}", f"model={model}"]
    work = project(tmp / f"n{n}", overrides + [f"gate.floors.{k}=0" for k in floors])
    stages = yaml.safe_load((work / "dvc.yaml").read_text())["stages"]
    res: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        res.setdefault(key, []).append(value)

    for r in range(runs):
        m = measure(["dvc", "repro", "--force"] if r else ["dvc", "repro"], work, env=env())
        add("e2e_s", m.seconds)
        add("e2e_rss", m.peak_rss_mib)
        for name in STAGES:
            s = measure(shlex.split(stages[name]["cmd"]), work, env=env())
            add(f"{name}_s", s.seconds)
            add(f"{name}_rss", s.peak_rss_mib)
        b = measure(
            [sys.executable, str(ROOT / "benchmarks" / "bare.py"), "params.yaml", "data/processed/dataset.parquet"],
            work,
            env=env(),
        )
        add("bare_s", b.seconds)
        add("bare_rss", b.peak_rss_mib)
        add("ratio", m.seconds / b.seconds)  # end to end and bare of the same run
        print(
            f"  {n:>10,} rows run {r + 1}: end to end {secs(m.seconds)} (peak {mib(m.peak_rss_mib)}), "
            f"bare {secs(b.seconds)}, ratio {m.seconds / b.seconds:.2f}×",
            flush=True,
        )
    return {k: median(v) for k, v in res.items()}


def report(results: dict[int, dict[str, float]]) -> str:
    headers = ["rows", *STAGES, "end to end (`dvc repro`)", "bare read+fit+predict", "ratio"]
    rows = []
    for n, r in results.items():
        cells = [f"{n:,}"]
        cells += [f"{secs(r[f'{s}_s'])} / {mib(r[f'{s}_rss'])}" for s in STAGES]
        cells += [f"{secs(r['e2e_s'])} / {mib(r['e2e_rss'])}", f"{secs(r['bare_s'])} / {mib(r['bare_rss'])}"]
        cells.append(f"{r['ratio']:.2f}×")
        rows.append(cells)
    out = [
        table(headers, rows),
        "",
        "Each cell: wall time / peak RSS of that process (medians over the runs). The ratio is the median of",
        "each run's end to end / bare: both are measured in the same run, so a slow moment of the shared",
        "machine slows both sides of one ratio instead of one side of the medians.",
    ]
    if FLOOR_ROWS in results:
        r = results[FLOOR_ROWS]
        ratio, peak = r["ratio"], r["e2e_rss"]
        out.append(
            f"Floors at {FLOOR_ROWS:,} rows: end to end / bare = {ratio:.2f}× (floor ≤ {FLOOR_RATIO}×: "
            f"{'met' if ratio <= FLOOR_RATIO else '**not met**'}); peak RSS {mib(peak)} (floor ≤ 3 GiB: "
            f"{'met' if peak <= FLOOR_RSS_MIB else '**not met**'})."
        )
    big = [n for n in results if n >= 10_000_000]
    for n in big:
        peak = max(results[n]["e2e_rss"], *(results[n][f"{s}_rss"] for s in STAGES))
        out.append(
            f"{n:,} rows: end to end {secs(results[n]['e2e_s'])}, peak RSS {mib(peak)} "
            f"(limit 24 GiB: {'met' if peak <= LIMIT_RSS_MIB else '**not met**'})."
        )
    return "\n".join(out)


def sizes(text: str) -> list[int]:
    return [int(float(s)) for s in text.replace(" ", ",").split(",") if s]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=sizes, default=sizes("1e4,1e5,1e6"), help="row counts, e.g. 1e4,1e5,1e6,1e7")
    ap.add_argument("--runs", type=int, default=3, help="runs per size up to --repeat-max-rows (median)")
    ap.add_argument("--repeat-max-rows", type=int, default=1_000_000, help="bigger sizes run once")
    ap.add_argument("--model", default="logistic_regression", help="conf/model/ group option")
    ap.add_argument("--markdown", type=Path, help="also write the results as a markdown snippet here")
    args = ap.parse_args(argv)

    host = machine()
    print(f"machine: {host}", flush=True)
    results: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp:
        for n in args.sizes:
            runs = args.runs if n <= args.repeat_max_rows else 1
            results[n] = run_size(n, Path(tmp), runs, args.model)
            shutil.rmtree(Path(tmp) / f"n{n}", ignore_errors=True)  # free the disk before the next size
    after = machine().split("load average ")[1]
    given = ",".join(f"{n:.0e}".replace("+0", "") for n in args.sizes)
    snippet = (
        f"{report(results)}\n\nMachine: {host}; load average after: {after}.\n"
        f"Command: `python benchmarks/scaling.py --sizes {given} --runs {args.runs} --model {args.model}`.\n"
    )
    emit(snippet, args.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
