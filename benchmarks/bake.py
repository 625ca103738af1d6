"""Median time to bake a new project from a local git template (no network).

    python benchmarks/bake.py [--runs 5]

Commits the root's files (what a clone holds) into a temp git repo, then times the real
`cookiecutter` CLI baking a renamed project from it, as a `file://` git URL (cookiecutter
clones it, like a `gh:` URL) and as a local path. Floor (issue 3): <= 5 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FLOOR_S = 5.0
GIT_ENV = {"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.com", "GIT_COMMITTER_NAME": "b"}
GIT_ENV["GIT_COMMITTER_EMAIL"] = "b@example.com"


def make_template(dest: Path) -> Path:
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    for rel in filter(None, out.split("\0")):
        if (ROOT / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)
    env = {**os.environ, **GIT_ENV}
    for cmd in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"], ["git", "commit", "-qm", "t"]):
        subprocess.run(cmd, cwd=dest, env=env, check=True)
    return dest


def bake_times(template: str, work: Path, runs: int) -> list[float]:
    cfg = work / "cc.yaml"
    cfg.write_text(f"cookiecutters_dir: {work / 'clones'}\nreplay_dir: {work / 'replay'}\n")
    times = []
    for i in range(runs):
        out = work / f"out-{i}"
        cmd = [str(BIN / "cookiecutter"), "--no-input", "--config-file", str(cfg), "-o", str(out), template]
        cmd += ["project_name=Bench Project", "package_name=bench_pkg"]
        start = time.perf_counter()
        subprocess.run(cmd, cwd=work, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
        assert (out / "bench-project" / "src" / "bench_pkg" / "cli" / "main.py").is_file()
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    runs = ap.parse_args().runs
    if not (ROOT / "cookiecutter.json").is_file():
        print("not the template (no cookiecutter.json; generated projects drop the shim): nothing to bake")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        template = make_template(Path(tmp) / "ml-gitops")
        files = len(subprocess.run(["git", "ls-files"], cwd=template, capture_output=True, text=True).stdout.split())
        print(f"template: {files} files; {runs} bakes each")
        worst = 0.0
        for label, source in (("file:// git URL", f"file://{template}"), ("local path", str(template))):
            work = Path(tmp) / label.split()[0].strip(":/")
            work.mkdir()
            t = bake_times(source, work, runs)
            med = statistics.median(t)
            worst = max(worst, med)
            print(f"bake from {label:16s} median {med:5.2f} s  (min {min(t):.2f}, max {max(t):.2f})")
    ok = worst <= FLOOR_S
    print(f"floor <= {FLOOR_S:.0f} s: {'ok' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
