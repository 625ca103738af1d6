"""`sweep` and `best`: hyperparameter sweeps on DVC's experiment queue.

DVC does the work (`dvc exp run --queue -S` expands the Hydra grid, `dvc exp run --run-all -j`
runs it with parallel workers, `dvc exp show` prints the table, `dvc exp branch`
makes the PR branch); these commands add the config defaults, the checks that
save a wasted sweep, and the choice of the best experiment.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config import paths
from ..config.errors import UserError

QUEUED = re.compile(r"Queued experiment '([^']+)' for future execution")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "sweep",
        help="queue a Hydra grid as DVC experiments, run it with parallel workers, print the table",
        description="Queue a grid (Hydra sweep syntax, e.g. model.C=0.1,1,10 model=logistic_regression,random_forest) "
        "with `dvc exp run --queue`, run it with N workers and print `dvc exp show` sorted by the primary metric. "
        "Without overrides the grid comes from conf/sweep/. Queued experiments freeze conf/ at queue time.",
    )
    p.add_argument("overrides", nargs="*", help="Hydra overrides; a comma list is swept (default: sweep.grid)")
    p.add_argument("-j", "--jobs", type=int, help="parallel workers (default: sweep.jobs)")
    p.add_argument("--queue-only", action="store_true", help="queue the grid, don't run it")
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.set_defaults(handler=_sweep)

    p = sub.add_parser(
        "best",
        help="turn the best experiment (by the primary metric) into a branch for a PR",
        description="Pick the successful experiment of HEAD with the best sweep.metric and run "
        "`dvc exp branch <exp> <branch>`. Push the branch and open a PR: the PR loop reports and gates it.",
    )
    p.add_argument("--experiment", help="branch this experiment instead of the best one")
    p.add_argument("--branch", help="branch name (default: sweep.branch_prefix + experiment name)")
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.set_defaults(handler=_best)

    p = sub.add_parser("sweep-table", help="print the experiments table sorted by the primary metric")
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.set_defaults(handler=_table)


def _settings(params: Path) -> Any:
    from ..config.settings import load_settings
    from ..experiments.sweep import parse_sweep_settings

    settings = load_settings(params)
    return parse_sweep_settings(settings.extra_groups.get("sweep"), str(params))


def _dvc(args: list[str], *, capture: bool = True) -> subprocess.CompletedProcess[str]:
    """Run dvc; on failure raise with DVC's own last error line (never `-q`: it hides them)."""
    proc = subprocess.run(["dvc", *args], text=True, capture_output=capture, check=False)
    if proc.returncode != 0:
        lines = [ln for ln in ((proc.stderr or "") + (proc.stdout or "")).splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("ERROR")] or lines or ["(no output)"]
        raise UserError(f"`dvc {' '.join(args)}` exited {proc.returncode}: {errors[-1].strip()}")
    return proc


def _exp_show_json() -> list[dict[str, Any]]:
    return json.loads(_dvc(["exp", "show", "--json"]).stdout or "[]")


def _table(ns: argparse.Namespace) -> int:
    cfg = _settings(ns.params)
    args = [
        "exp",
        "show",
        "--md",
        "--only-changed",
        "--sort-by",
        f"{paths.METRICS.as_posix()}:{cfg.metric}",
        "--sort-order",
        "asc" if cfg.lower_is_better else "desc",
    ]
    if cfg.drop:
        args += ["--drop", cfg.drop]
    print(_dvc(args).stdout.rstrip())
    return 0


def _check_queue_empty(linger_seconds: float, poll_seconds: float, status: Callable[[], str] | None = None) -> None:
    """Refuse a queue that holds experiments; wait for an earlier sweep's workers to stop.

    DVC's queue workers look every 10 s whether the queue is empty and only then stop:
    a sweep queued meanwhile would hand its experiments to them as well, and run with
    more workers than `--jobs` asks for. ``status`` returns `dvc queue status`'s output
    (the real command unless given).
    """
    import time

    status = status or (lambda: _dvc(["queue", "status"]).stdout)

    deadline = time.monotonic() + linger_seconds
    said = False
    while True:
        out = status()
        waiting = [ln.split()[1] for ln in out.splitlines() if ln.split()[-1:] in (["Queued"], ["Running"])]
        if waiting:
            raise UserError(
                f"the DVC queue already holds {len(waiting)} experiment(s) ({', '.join(waiting[:3])}); "
                "run them (`dvc queue start`) or drop them (`dvc queue remove --queued`) first"
            )
        found = WORKERS.search(out)
        workers = int(found[1]) + int(found[2]) if found else 0
        if workers == 0:
            return
        if time.monotonic() > deadline:
            print(
                f"sweep: {workers} worker(s) of an earlier sweep still alive after {linger_seconds:g} s; "
                "they will run some of these experiments too",
                file=sys.stderr,
            )
            return
        if not said:
            print(f"sweep: waiting for {workers} idle worker(s) of an earlier sweep to stop", flush=True)
            said = True
        time.sleep(poll_seconds)


def _sweep(ns: argparse.Namespace) -> int:
    import yaml

    from ..experiments.sweep import grid_size, param_deps, parse_grid, uncovered_keys

    cfg = _settings(ns.params)
    overrides = list(ns.overrides) or list(cfg.grid)
    jobs = ns.jobs if ns.jobs is not None else cfg.jobs
    if jobs < 1:
        raise UserError(f"--jobs must be >= 1 (got {jobs})")
    axes = parse_grid(overrides)
    dvc_yaml = yaml.safe_load(Path("dvc.yaml").read_text(encoding="utf-8")) or {}
    missing = uncovered_keys(axes, param_deps(dvc_yaml))
    if missing:
        raise UserError(
            f"sweep key {missing[0]!r} is not a params dependency of any stage in dvc.yaml, so every experiment "
            "would rerun nothing; add it under a stage's `params:`"
        )
    _check_queue_empty(cfg.worker_linger_seconds, cfg.worker_linger_poll_seconds)

    n = grid_size(axes)
    print(f"sweep: queueing {n} experiment(s): {' '.join(overrides)}", flush=True)
    queue = ["exp", "run", "--queue", *(a for o in overrides for a in ("-S", o))]
    if cfg.stage:
        queue.append(cfg.stage)
    names = QUEUED.findall(_dvc(queue).stdout)
    print(f"sweep: queued {', '.join(names)}", flush=True)
    if ns.queue_only:
        print(f"sweep: run them with `dvc queue start -j {jobs}` (conf/ is frozen at queue time)")
        return 0

    print(f"sweep: running with {jobs} worker(s)", flush=True)
    elapsed = _run_queue(names, jobs, cfg.poll_seconds, cfg.timeout_minutes)
    print(f"sweep: {len(names)} experiment(s) ran in {elapsed:.1f} s with {jobs} worker(s)", flush=True)
    failed = _failed(names, cfg.metric)
    _table(ns)
    if failed:
        print(
            f"sweep: {len(failed)} of {len(names)} experiment(s) failed: {', '.join(failed)} "
            f"(see `dvc queue logs {failed[0]}`)",
            file=sys.stderr,
        )
    if len(failed) == len(names):
        raise UserError("every experiment of the sweep failed", exit_code=1)
    print("sweep: `make best` turns the best experiment into a branch for a PR")
    return 0


WORKERS = re.compile(r"Worker status: (\d+) active, (\d+) idle")


def _states(names: list[str]) -> tuple[dict[str, str], int]:
    """Status of our experiments in `dvc queue status` (Queued, Running, Success, Failed) and live workers."""
    out = _dvc(["queue", "status"]).stdout
    wanted = set(names)
    states = {p[1]: p[-1] for p in (ln.split() for ln in out.splitlines()) if len(p) >= 3 and p[1] in wanted}
    workers = WORKERS.search(out)
    return states, (int(workers[1]) + int(workers[2])) if workers else -1


def _run_queue(names: list[str], jobs: int, poll: float, timeout_minutes: float) -> float:
    """Run the queue with N workers until our experiments are done; return seconds.

    `dvc exp run --run-all -j N` starts the workers and follows them from one process,
    so no DVC process is started per progress check (on a 2-core machine polling
    `dvc queue status` every 2 s took a core-share from the workers). Every `poll`
    seconds the queue status is read anyway, for two failure modes seen with DVC 3.67:
    - queued experiments and no live worker: a `dvc queue stop` sent when no worker was
      listening stays in the broker, and the next workers (same node names) obey it after
      their first experiment; the follower would then wait forever. We start workers again.
    - every experiment done but the follower still waiting (DVC issues #10562, #10673):
      we end it.
    The workers stop by themselves once the queue is empty, so we never send `dvc queue stop`.
    """
    import tempfile
    import time

    start = time.monotonic()
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as log:
        proc = subprocess.Popen(
            ["dvc", "exp", "run", "--run-all", "-j", str(jobs)], stdout=log, stderr=subprocess.STDOUT, text=True
        )
        done_before = -1
        try:
            while True:
                with contextlib.suppress(subprocess.TimeoutExpired):  # still running: check the states
                    proc.wait(timeout=poll)
                if proc.returncode == 0:
                    # It followed every queued experiment to its end (failures included: `_failed`
                    # reads their states next), so no `dvc queue status` (~2 s) is needed here.
                    print(f"sweep: {len(names)}/{len(names)} done", flush=True)
                    return time.monotonic() - start
                states, workers = _states(names)
                pending = [n for n in names if states.get(n, "Queued") in {"Queued", "Running"}]
                done = len(names) - len(pending)
                if done != done_before:
                    print(f"sweep: {done}/{len(names)} done", flush=True)
                    done_before = done
                if not pending:
                    return time.monotonic() - start
                if proc.returncode is not None:
                    log.seek(0)
                    tail = [ln for ln in log.read().splitlines() if ln.strip()][-1:] or ["(no output)"]
                    raise UserError(
                        f"`dvc exp run --run-all` exited {proc.returncode} with {len(pending)} experiment(s) "
                        f"not done ({', '.join(pending[:3])}): {tail[0].strip()}; see `dvc queue status`",
                        exit_code=1,
                    )
                if workers == 0 and all(states.get(n, "Queued") == "Queued" for n in pending):
                    print(f"sweep: {len(pending)} queued and no worker alive: starting {jobs} again", flush=True)
                    _dvc(["queue", "start", "-j", str(jobs)])
                if time.monotonic() - start > timeout_minutes * 60:
                    raise UserError(
                        f"sweep.timeout_minutes={timeout_minutes}: {len(pending)} experiment(s) still queued or "
                        f"running ({', '.join(pending[:3])}); follow with `dvc queue status`, "
                        "stop with `dvc queue stop --kill`",
                        exit_code=1,
                    )
        finally:
            if proc.poll() is None:  # the hang above, a timeout, or Ctrl+C: the workers carry on
                proc.terminate()
                proc.wait()


def _failed(names: list[str], metric: str) -> list[str]:
    from ..experiments.sweep import experiments

    _, exps = experiments(_exp_show_json(), paths.METRICS.as_posix(), metric)
    state = {e.name: e.state for e in exps}
    return [n for n in names if state.get(n) != "success"]


def _best(ns: argparse.Namespace) -> int:
    from ..experiments.sweep import changed_params, experiments, rank

    cfg = _settings(ns.params)
    base, exps = experiments(_exp_show_json(), paths.METRICS.as_posix(), cfg.metric)
    ranked = rank(exps, cfg.lower_is_better)
    if ns.experiment:
        chosen = [e for e in exps if ns.experiment in (e.name, e.rev, e.rev[:7])]
        if not chosen:
            raise UserError(f"--experiment {ns.experiment!r}: no such experiment of {base.name} (`dvc exp show`)")
        best = chosen[0]
    elif not ranked:
        raise UserError(
            f"no successful experiment of {base.name} with {paths.METRICS}:{cfg.metric}; run `make sweep` first"
        )
    else:
        best = ranked[0]
    branch = ns.branch or f"{cfg.branch_prefix}{best.name}"
    _dvc(["exp", "branch", best.name, branch])
    better = "lower" if cfg.lower_is_better else "higher"
    print(f"best: {best.name} ({cfg.metric} = {best.value}; {better} is better; baseline {base.name} = {base.value})")
    for key, (old, new) in changed_params(base, best).items():
        print(f"  {key}: {old} -> {new}")
    print(
        f"best: branch {branch!r} created; `git push origin {branch}` and open a PR (the PR loop reports and gates it)"
    )
    return 0
