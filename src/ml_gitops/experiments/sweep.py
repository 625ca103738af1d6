"""Sweeps on DVC's experiment queue: the pure parts (grid checks, choosing the best).

DVC expands the Hydra grid and runs the queue; Hydra parses the overrides. What
is ours is small and testable without either running (the typed `sweep` config
is config/sweep.py): the check that every swept key is a `params:` dependency of
some stage (else every experiment is a silent copy of the baseline), reading
`dvc exp show --json`, and ranking experiments by the primary metric.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException

from ..config.errors import UserError


# ---------------------------------------------------------------- the grid
@dataclass(frozen=True)
class GridAxis:
    key: str  # dotted key, or a config group (`model`)
    values: tuple[str, ...]
    text: str  # the override as written


def parse_grid(overrides: list[str]) -> list[GridAxis]:
    """Parse Hydra overrides with Hydra's own parser; a bad one is a UserError naming it."""
    parser = OverridesParser.create()
    axes: list[GridAxis] = []
    seen: set[str] = set()
    for text in overrides:
        try:
            (ov,) = parser.parse_overrides([text])
        except HydraException as err:
            first = str(err).strip().splitlines()[0]
            raise UserError(f"sweep grid: cannot parse {text!r}: {first}") from None
        key = ov.key_or_group
        if key in seen:
            raise UserError(f"sweep grid: key {key!r} appears twice")
        seen.add(key)
        values = tuple(ov.sweep_string_iterator()) if ov.is_sweep_override() else (ov.get_value_element_as_str(),)
        axes.append(GridAxis(key, values, text))
    return axes


def grid_size(axes: list[GridAxis]) -> int:
    n = 1
    for a in axes:
        n *= len(a.values)
    return n


def param_deps(dvc_yaml: dict[str, Any]) -> set[str]:
    """Every params key some stage of dvc.yaml depends on (params.yaml entries only)."""
    keys: set[str] = set()
    for stage in (dvc_yaml.get("stages") or {}).values():
        for entry in stage.get("params") or []:
            if isinstance(entry, str):
                keys.add(entry)
            elif isinstance(entry, dict):
                for file, names in entry.items():
                    if file == "params.yaml" and isinstance(names, list):
                        keys.update(str(n) for n in names)
    return keys


def uncovered_keys(axes: list[GridAxis], deps: set[str]) -> list[str]:
    """Swept keys no stage depends on: changing them would rerun nothing."""

    def covered(key: str) -> bool:
        return any(key == d or key.startswith(d + ".") or d.startswith(key + ".") for d in deps)

    return [a.key for a in axes if not a.key.startswith("hydra") and not covered(a.key)]


# ---------------------------------------------------------------- results
@dataclass(frozen=True)
class Experiment:
    name: str
    rev: str
    state: str  # success | failed | queued | running | ...
    value: float | None
    params: dict[str, Any] = field(default_factory=dict)


def flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def _rev_data(rev: dict[str, Any], metrics_file: str, metric: str) -> tuple[float | None, dict[str, Any]]:
    data = rev.get("data") or {}
    m = ((data.get("metrics") or {}).get(metrics_file) or {}).get("data") or {}
    params = ((data.get("params") or {}).get("params.yaml") or {}).get("data") or {}
    value = m.get(metric)
    return (float(value) if isinstance(value, int | float) else None), params


def experiments(exp_show: list[dict[str, Any]], metrics_file: str, metric: str) -> tuple[Experiment, list[Experiment]]:
    """(baseline, its experiments) from `dvc exp show --json` (the first non-workspace row is HEAD)."""
    heads = [b for b in exp_show if b.get("rev") != "workspace"]
    if not heads:
        raise UserError("dvc exp show: no commit to compare against (commit the project first)")
    head = heads[0]
    value, params = _rev_data(head, metrics_file, metric)
    base = Experiment(head.get("name") or head["rev"][:7], head["rev"], "baseline", value, params)
    out: list[Experiment] = []
    for group in head.get("experiments") or []:
        revs = group.get("revs") or []
        if not revs:
            continue
        rev = revs[0]
        executor = group.get("executor") or {}
        failed = bool(rev.get("error")) or executor.get("state") == "failed"
        state = "failed" if failed else (executor.get("state") or "success")
        value, params = _rev_data(rev, metrics_file, metric)
        out.append(Experiment(group.get("name") or rev.get("name") or rev["rev"][:7], rev["rev"], state, value, params))
    return base, out


def rank(exps: list[Experiment], lower_is_better: bool) -> list[Experiment]:
    """Successful experiments with the metric, best first; ties broken by name for a stable choice."""
    ok = [e for e in exps if e.state == "success" and e.value is not None]
    sign = 1.0 if lower_is_better else -1.0
    return sorted(ok, key=lambda e: (sign * float(e.value or 0.0), e.name))


def changed_params(base: Experiment, exp: Experiment) -> dict[str, tuple[Any, Any]]:
    """Flattened params that differ between the baseline and an experiment: (old, new)."""
    a, b = flatten(base.params), flatten(exp.params)
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}
