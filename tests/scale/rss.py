"""Time and peak RSS of one child process, measured honestly.

A child's ``ru_maxrss`` includes the memory of the process it was forked from
until it calls exec (Linux records the old address space's high-water mark at
exec), so a child forked from a big Python parent looks as big as the parent.
A tiny ``python -S`` launcher forks the real command from itself and reports
that grandchild's own peak, which is the stage's alone. The benchmarks use it too.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

_LAUNCHER = (
    "import os, sys\n"
    "pid = os.fork()\n"
    "if pid == 0:\n"
    "    os.execvp(sys.argv[1], sys.argv[1:])\n"
    "_, status, usage = os.wait4(pid, 0)\n"
    "sys.stderr.write(f'\\n@@peak_rss_kib={usage.ru_maxrss}\\n')\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_rss_mib: float
    returncode: int
    stdout: str
    stderr: str


def measure(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, check: bool = True) -> Measured:
    """Run ``cmd`` (a list, no shell) and return wall time, its own peak RSS and its output.

    The peak covers the command and every descendant it waited for (e.g. the
    stages ``dvc repro`` runs).
    """
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-S", "-c", _LAUNCHER, *cmd], cwd=cwd, env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    stderr, _, tail = proc.stderr.rpartition("\n@@peak_rss_kib=")
    peak = int(tail.strip()) / 1024 if tail.strip().isdigit() else float("nan")
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd!r} exited {proc.returncode}\nSTDOUT:\n{proc.stdout}\nSTDERR:\n{stderr}")
    return Measured(seconds, peak, proc.returncode, proc.stdout, stderr)
