"""Time `make release` and `ml-gitops release verify` on the default model.

Builds a throw-away copy of the project (git repo + bare origin + local DVC remote),
runs the pipeline once, registers v0.1.0, then times each command N times and
prints the median. Usage: python benchmarks/release.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers import BIN, ROOT, reproduced_project, run


def timed(cmd: list[str], cwd: Path, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        run(cmd, cwd=cwd)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ns = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-release-") as tmp:
        base = Path(tmp)
        work = reproduced_project(base)
        run(["dvc", "push"], cwd=work)
        run(["ml-gitops", "registry", "promote"], cwd=work)
        (work / ".venv").symlink_to(ROOT / ".venv")  # the project's own venv; -o: never reinstall it
        make = ["make", "--no-print-directory", "-o", ".venv/.run-deps", "release", "VERSION=v0.1.0"]
        t_release = timed(make, work, ns.runs)
        t_dir = timed([str(BIN / "ml-gitops"), "release", "verify", "dist/model-v0.1.0"], work, ns.runs)
        t_tar = timed([str(BIN / "ml-gitops"), "release", "verify", "dist/model-v0.1.0.tar.gz"], work, ns.runs)
        size = (work / "dist/model-v0.1.0.tar.gz").stat().st_size
        # cold: a fresh clone with no DVC cache fetches the model from the remote (`dvc get --rev`)
        run(["git", "push", "-q", "origin", "main", "--tags"], cwd=work)
        clone = base / "clone"
        run(["git", "clone", "-q", str(base / "origin.git"), str(clone)], cwd=base)
        run(["dvc", "remote", "add", "--local", "-f", "-d", "local", str(base / "dvc-remote")], cwd=clone)
        (clone / ".venv").symlink_to(ROOT / ".venv")
        t_cold = timed(make, clone, ns.runs)
    print(f"make release VERSION=v0.1.0          median {t_release:.2f} s over {ns.runs} runs")
    print(f"  same, fresh clone (model from remote) median {t_cold:.2f} s")
    print(f"ml-gitops release verify <dir>        median {t_dir:.2f} s")
    print(f"ml-gitops release verify <.tar.gz>    median {t_tar:.2f} s  (archive {size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
