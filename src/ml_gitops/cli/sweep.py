"""`sweep run|table|best`: hyperparameter sweeps, one command family for both ways to run a grid.

By default a grid runs on DVC's experiment queue (`dvc exp run --queue -S` expands the
Hydra grid, `dvc exp run --run-all -j` runs it with parallel workers, `dvc exp show`
prints the table, `dvc exp branch` makes the PR branch): every point is an experiment
that can become a PR. `sweep run --launcher NAME` runs the same grid as a Hydra multirun
through conf/hydra/launcher/NAME.yaml (joblib, Ray, SLURM) for grids bigger than one
machine's queue; `sweep table --multirun` prints its jobs. These commands add the config
defaults, the checks that save a wasted sweep, and the choice of the best experiment.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config import paths
from ..config.errors import UserError

QUEUED = re.compile(r"Queued experiment '([^']+)' for future execution")
LATEST = Path("<latest>")  # `sweep table --multirun` without a directory: the newest under multirun/
log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    from . import main as cli

    group = sub.add_parser(
        "sweep",
        help="hyperparameter sweeps: run a grid, print its table, branch the best experiment",
        description=__doc__,
    )
    actions = group.add_subparsers(dest="sweep_command", required=True, metavar="ACTION")

    p = actions.add_parser(
        "run",
        help="run a Hydra grid as DVC experiments with parallel workers (or through a Hydra launcher)",
        description="Queue a grid (Hydra sweep syntax, e.g. model.C=0.1,1,10 model=logistic_regression,random_forest) "
        "with `dvc exp run --queue`, run it with N workers and print `dvc exp show` sorted by the primary metric. "
        "Without overrides the grid comes from conf/sweep/. Queued experiments freeze conf/ at queue time. "
        "With --launcher the grid runs as a Hydra multirun instead (jobs under multirun/, no DVC experiments).",
    )
    p.add_argument("overrides", nargs="*", help="Hydra overrides; a comma list is swept (default: sweep.grid)")
    p.add_argument("-j", "--jobs", type=int, help="parallel DVC queue workers (default: sweep.jobs)")
    p.add_argument("--queue-only", action="store_true", help="queue the grid as DVC experiments, don't run it")
    p.add_argument(
        "--launcher",
        metavar="NAME",
        help="run the grid as a Hydra multirun through conf/hydra/launcher/NAME.yaml "
        "(joblib_local, ray_local, slurm; basic: one job after another) instead of DVC's queue",
    )
    cli._params_arg(p)
    p.set_defaults(handler=_run)

    p = actions.add_parser(
        "table",
        help="print the sweep's table sorted by the primary metric (markdown)",
        description="The DVC experiments of HEAD (`dvc exp show --md`), or with --multirun the jobs of a "
        "Hydra multirun, best first by sweep.metric.",
    )
    p.add_argument(
        "--multirun",
        type=Path,
        nargs="?",
        const=LATEST,
        metavar="DIR",
        help="a Hydra multirun's jobs instead (DIR like multirun/<date>/<time>; without DIR: the latest)",
    )
    cli._params_arg(p)
    p.set_defaults(handler=_table)

    p = actions.add_parser(
        "best",
        help="turn the best experiment (by the primary metric) into a branch for a PR",
        description="Pick the successful experiment of HEAD with the best sweep.metric and run "
        "`dvc exp branch <exp> <branch>`. Push the branch and open a PR: the PR loop reports and gates it.",
    )
    p.add_argument("--experiment", help="branch this experiment (name or revision) instead of the best one")
    p.add_argument("--branch", help="branch name (default: sweep.branch_prefix + experiment name)")
    cli._params_arg(p)
    p.set_defaults(handler=_best)


def _settings(params: Path) -> Any:
    from ..config.settings import load_settings
    from ..config.sweep import parse_sweep_settings

    settings = load_settings(params)
    return parse_sweep_settings(settings.extra_groups.get("sweep"), str(params))


def _dvc(args: list[str], *, capture: bool = True) -> subprocess.CompletedProcess[str]:
    """Run dvc (this interpreter's, adapters/dvc.py); a failure is one line with DVC's own last error."""
    from ..adapters import dvc

    return dvc.run(*args, capture=capture)


def _exp_show_json() -> list[dict[str, Any]]:
    return json.loads(_dvc(["exp", "show", "--json"]).stdout or "[]")


def _table(ns: argparse.Namespace) -> int:
    cfg = _settings(ns.params)
    if ns.multirun is not None:
        return _multirun_table(None if ns.multirun == LATEST else ns.multirun, cfg)
    _exp_table(cfg)
    return 0


def _exp_table(cfg: Any) -> None:
    """`dvc exp show --md` sorted by the primary metric, on stdout (the table is the output)."""
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


def _multirun_table(sweep_dir: Path | None, cfg: Any) -> int:
    from ..experiments import multirun

    rows = multirun.collect(sweep_dir or multirun.latest())
    print(multirun.markdown_table(rows, cfg.metric, cfg.lower_is_better))
    failed = sum(1 for r in rows if r["metrics"] is None)
    log.info("%d job(s), %d without metrics; sorted by %s", len(rows), failed, cfg.metric)
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
            log.warning(
                "sweep: %d worker(s) of an earlier sweep still alive after %g s; "
                "they will run some of these experiments too",
                workers,
                linger_seconds,
            )
            return
        if not said:
            log.info("sweep: waiting for %d idle worker(s) of an earlier sweep to stop", workers)
            said = True
        time.sleep(poll_seconds)


def _run(ns: argparse.Namespace) -> int:
    cfg = _settings(ns.params)
    overrides = list(ns.overrides) or list(cfg.grid)
    if ns.launcher:
        return _multirun(ns, overrides)
    return _sweep(ns, cfg, overrides)


def _multirun(ns: argparse.Namespace, overrides: list[str]) -> int:
    """The grid as a Hydra multirun: one job per point through the chosen launcher."""
    from ..experiments import multirun
    from . import main as cli

    if ns.jobs is not None or ns.queue_only:
        raise UserError(
            "--jobs and --queue-only are for DVC's queue; with --launcher, set the launcher's "
            f"parallelism in conf/hydra/launcher/{ns.launcher}.yaml (or as an override)"
        )
    log.info("sweep: Hydra multirun through hydra/launcher=%s: %s", ns.launcher, " ".join(overrides))
    multirun.main(["--multirun", f"hydra/launcher={ns.launcher}", *overrides], prog=f"{cli.PROG} sweep run")
    log.info("sweep: print the jobs with `%s sweep table --multirun`", cli.PROG)
    return 0


def _sweep(ns: argparse.Namespace, cfg: Any, overrides: list[str]) -> int:
    """The grid as DVC experiments: queue, run with N workers, print the table."""
    import yaml

    from ..experiments.sweep import grid_size, param_deps, parse_grid, uncovered_keys

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
    log.info("sweep: queueing %d experiment(s): %s", n, " ".join(overrides))
    queue = ["exp", "run", "--queue", *(a for o in overrides for a in ("-S", o))]
    if cfg.stage:
        queue.append(cfg.stage)
    names = QUEUED.findall(_dvc(queue).stdout)
    log.info("sweep: queued %s", ", ".join(names))
    if ns.queue_only:
        log.info("sweep: run them with `dvc queue start -j %d` (conf/ is frozen at queue time)", jobs)
        return 0

    log.info("sweep: running with %d worker(s)", jobs)
    elapsed = _run_queue(names, jobs, cfg.poll_seconds, cfg.timeout_minutes)
    log.info("sweep: %d experiment(s) ran in %.1f s with %d worker(s)", len(names), elapsed, jobs)
    failed = _failed(names, cfg.metric)
    _exp_table(cfg)
    if failed:
        log.warning(
            "sweep: %d of %d experiment(s) failed: %s (see `dvc queue logs %s`)",
            len(failed),
            len(names),
            ", ".join(failed),
            failed[0],
        )
    if len(failed) == len(names):
        raise UserError("every experiment of the sweep failed", exit_code=1)
    log.info("sweep: `make best` turns the best experiment into a branch for a PR")
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

    from ..adapters import dvc
    from ..adapters.progress import counter

    start = time.monotonic()
    with (
        tempfile.TemporaryFile(mode="w+", encoding="utf-8") as output,
        counter(desc="sweep", total=len(names), unit="exp") as bar,
    ):
        proc = dvc.start("exp", "run", "--run-all", "-j", str(jobs), stdout=output, stderr=subprocess.STDOUT)
        said = ""
        try:
            while True:
                with contextlib.suppress(subprocess.TimeoutExpired):  # still running: check the states
                    proc.wait(timeout=poll)
                if proc.returncode == 0:
                    # It followed every queued experiment to its end (failures included: `_failed`
                    # reads their states next), so no `dvc queue status` (~2 s) is needed here.
                    bar.update(len(names) - bar.n)
                    log.info("sweep: %d/%d done", len(names), len(names))
                    return time.monotonic() - start
                states, workers = _states(names)
                pending = [n for n in names if states.get(n, "Queued") in {"Queued", "Running"}]
                bar.update(len(names) - len(pending) - bar.n)
                line = _progress_line(names, states)
                if line != said:  # the counts changed
                    log.info("%s after %.0f s", line, time.monotonic() - start)
                    said = line
                if not pending:
                    return time.monotonic() - start
                if proc.returncode is not None:
                    output.seek(0)
                    tail = [ln for ln in output.read().splitlines() if ln.strip()][-1:] or ["(no output)"]
                    raise UserError(
                        f"`dvc exp run --run-all` exited {proc.returncode} with {len(pending)} experiment(s) "
                        f"not done ({', '.join(pending[:3])}): {tail[0].strip()}; see `dvc queue status`",
                        exit_code=1,
                    )
                if workers == 0 and all(states.get(n, "Queued") == "Queued" for n in pending):
                    log.info("sweep: %d queued and no worker alive: starting %d again", len(pending), jobs)
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


def _progress_line(names: list[str], states: dict[str, str]) -> str:
    """`sweep: 3/8 done (1 failed), 2 running, 3 queued`: logged each time the counts change."""
    count = {s: sum(1 for n in names if states.get(n, "Queued") == s) for s in ("Running", "Queued", "Failed")}
    done = len(names) - count["Running"] - count["Queued"]
    failed = f" ({count['Failed']} failed)" if count["Failed"] else ""
    return f"sweep: {done}/{len(names)} done{failed}, {count['Running']} running, {count['Queued']} queued"


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
    conf_changes = _conf_to_branch(branch, best.name)
    better = "lower" if cfg.lower_is_better else "higher"
    log.info(
        "best: %s (%s = %s; %s is better; baseline %s = %s)",
        best.name,
        cfg.metric,
        best.value,
        better,
        base.name,
        base.value,
    )
    for key, (old, new) in changed_params(base, best).items():
        log.info("  %s: %s -> %s", key, old, new)
    if conf_changes:
        log.info("best: conf/ on %r now composes to its params.yaml (%s)", branch, "; ".join(conf_changes))
    log.info(
        "best: branch %r created; `git push origin %s` and open a PR (the PR loop reports and gates it)", branch, branch
    )
    return 0


def _conf_to_branch(branch: str, name: str) -> list[str]:
    """Commit conf/ edits on ``branch`` so conf/ composes to its params.yaml (the params guard).

    The branch is edited in a temporary worktree: the user's checkout and its changes stay as they are.
    """
    import tempfile

    from ..adapters import dvc, git
    from ..adapters import params as params_mod
    from ..config.lockfile import yaml_load
    from ..experiments.branch import write_params_to_conf

    with tempfile.TemporaryDirectory(prefix="best-") as tmp:
        tree = Path(tmp) / "tree"
        git.run("worktree", "add", "--quiet", str(tree), branch)
        try:
            target = yaml_load((tree / paths.PARAMS).read_text(encoding="utf-8")) or {}
            changes = write_params_to_conf(tree / paths.CONF, target)
            # DVC wrote the branch's params.yaml without the `make params` stamp the stages check.
            if params_mod.sync(tree / paths.CONF, tree / paths.PARAMS):
                changes.append("params.yaml stamped (make params)")
            # Stage conf/ with git itself before DVC runs: DVC's autostage rewrites the index through
            # scmrepo, which drops git's "racily clean" marks, so a same-size edit made in the second of
            # the checkout (C: 1.0 -> 0.3) was then missed by `git add` and left out of the commit.
            git.run("add", "--", paths.CONF.as_posix(), paths.PARAMS.as_posix(), cwd=tree)
            skipped = _skipped_stages(tree)
            if skipped:  # the sweep stops at sweep.stage: bring dvc.lock up to date past it (the gate)
                dvc.run("repro", "--single-item", *skipped, cwd=tree)
                git.run("add", "--", paths.DVC_LOCK.as_posix(), "reports", cwd=tree)
                changes.append(f"ran {', '.join(skipped)} (dvc.lock)")
            if changes:
                git.run(
                    "commit",
                    "--quiet",
                    "-m",
                    f"conf: experiment {name}'s parameters (params.yaml = conf/ composed)",
                    cwd=tree,
                )
        finally:
            git.run("worktree", "remove", "--force", str(tree), check=False)
    return changes


def _skipped_stages(tree: Path) -> list[str]:
    """Stages stale in the checkout ``tree`` only because the sweep did not run them.

    A fresh worktree has no DVC outputs, so a stage that reads one shows it "deleted": those
    stages ran in the experiment. The rest that show a dependency or parameter changed (the
    gate, past sweep.stage) did not; they read git-tracked files only and rerun in seconds.
    """
    from ..adapters import dvc

    status = json.loads(dvc.run("status", "--json", cwd=tree).stdout or "{}")
    stale = []
    for stage, changes in status.items():
        found = [
            what
            for change in changes
            if isinstance(change, dict)
            for kind, items in change.items()
            if kind in ("changed deps", "changed outs")
            for what in items.values()
        ]
        if found and "deleted" not in found and "not in cache" not in found:
            stale.append(stage)
    return stale
