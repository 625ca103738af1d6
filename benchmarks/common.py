"""Shared pieces of the benchmarks: temp projects, timed children, tables.

Every benchmark runs in temporary copies of the project (git-initialised, like
a clone), never in the working tree, and times real commands as child
processes: wall time and the child's own peak RSS (see tests/scale/rss.py).
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers import copy_project, env  # noqa: E402
from tests.scale.rss import Measured, measure  # noqa: E402

__all__ = ["ROOT", "Measured", "emit", "env", "measure", "median", "project", "table"]


def git(args: list[str], cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=env(), check=True, capture_output=True)


def project(dest: Path, overrides: Sequence[str] = ()) -> Path:
    """A copy of the project at ``dest`` as a fresh git repository (one commit, no outputs).

    ``overrides`` are Hydra overrides composed into params.yaml (e.g.
    ``data=synthetic data.source.n_rows=1000000``) and stamped the way `make params` stamps its
    composition, so the stages' provenance check accepts the file.
    """
    copy_project(dest)
    if overrides:
        code = (
            "import sys; from pathlib import Path\n"
            "from ml_gitops.adapters.params import compose_text\n"
            "from ml_gitops.config.stamp import stamped\n"
            "Path('params.yaml').write_text(stamped(compose_text(Path('conf'), sys.argv[1:]), Path('conf')))\n"
        )
        subprocess.run([sys.executable, "-c", code, *overrides], cwd=dest, env=env(), check=True)
    git(["init", "-q", "-b", "main"], dest)
    git(["add", "-A"], dest)
    git(["commit", "-q", "-m", "benchmark project"], dest)
    return dest


def emit(snippet: str, markdown: Path | None) -> None:
    """Print the result block and, with ``--markdown``, write it for docs/performance.md."""
    print("\n" + snippet)
    if markdown:
        markdown.write_text(snippet)
        print(f"wrote {markdown}")


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table (also readable in a terminal)."""
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---:" if i else "---" for i in range(len(headers))) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def machine() -> str:
    """One line describing the machine and its load (the benchmarks are only as quiet as it is)."""
    load = os.getloadavg()
    cpus = os.cpu_count()
    mem = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        mem = f", {kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, IndexError, ValueError):
        pass
    return (
        f"{platform.system()} {platform.machine()}, {cpus} cores{mem}, Python {platform.python_version()}, "
        f"load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1/5/15 min)"
    )


def secs(x: float) -> str:
    return f"{x:.2f} s" if x < 100 else f"{x:.0f} s"


def mib(x: float) -> str:
    return f"{x:,.0f} MiB"
