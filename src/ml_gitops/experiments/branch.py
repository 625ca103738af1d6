"""Write an experiment's parameters back into conf/, so its branch passes the params guard.

`dvc exp run` (Hydra integration on) composes conf/ plus the sweep's overrides into
params.yaml and commits params.yaml only; conf/ on the experiment's branch still holds the
baseline, so `make params-check` (params.yaml must be conf/ composed) fails and the PR is red.
Here the branch's params.yaml is the target: a config group whose keys differ is switched in
conf/config.yaml's defaults list (e.g. `model: random_forest`), every remaining differing value
is written with DVC's own override applier into the file it comes from (conf/<group>/<option>.yaml,
else conf/config.yaml), comments kept. Composing the result must give the target, or we refuse.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from dvc.utils.hydra import apply_overrides

from ..adapters.params import CONFIG_NAME, compose_text
from ..config.errors import UserError
from .sweep import flatten


def _defaults(conf_dir: Path) -> dict[str, str]:
    """{group: option} of conf/config.yaml's defaults list."""
    raw = yaml.safe_load((conf_dir / f"{CONFIG_NAME}.yaml").read_text(encoding="utf-8")) or {}
    out: dict[str, str] = {}
    for entry in raw.get("defaults") or []:
        if isinstance(entry, dict) and len(entry) == 1:
            (group, option), *_ = entry.items()
            if isinstance(option, str) and (conf_dir / str(group)).is_dir():
                out[str(group)] = option
    return out


def _composed(conf_dir: Path, overrides: list[str] | None = None) -> dict[str, Any]:
    return yaml.safe_load(compose_text(conf_dir, overrides)) or {}


def _switch_group(conf_dir: Path, group: str, option: str) -> None:
    path = conf_dir / f"{CONFIG_NAME}.yaml"
    text = path.read_text(encoding="utf-8")
    new, n = re.subn(rf"(?m)^(\s*-\s*{re.escape(group)}\s*:\s*)[^\s#]+", rf"\g<1>{option}", text, count=1)
    if n != 1:
        raise UserError(f"{path}: no `- {group}: ...` line in the defaults list to switch to {option!r}")
    path.write_text(new, encoding="utf-8")


def _value(v: Any) -> str:
    """A Hydra override value: JSON spells numbers, booleans, strings, lists and maps in a form Hydra parses."""
    return "null" if v is None else json.dumps(v)


def write_params_to_conf(conf_dir: Path, target: dict[str, Any]) -> list[str]:
    """Edit ``conf_dir`` until it composes to ``target``; return what changed, one phrase each."""
    changes: list[str] = []
    current = _composed(conf_dir)
    for group, option in _defaults(conf_dir).items():
        want = set(flatten(target.get(group) or {}))
        if want == set(flatten(current.get(group) or {})):
            continue
        for candidate in sorted(p.stem for p in (conf_dir / group).glob("*.yaml")):
            if (
                candidate != option
                and set(flatten(_composed(conf_dir, [f"{group}={candidate}"]).get(group) or {})) == want
            ):
                _switch_group(conf_dir, group, candidate)
                changes.append(f"{group}: {option} -> {candidate}")
                break
    current, groups = _composed(conf_dir), _defaults(conf_dir)
    flat_now, flat_want = flatten(current), flatten(target)
    edits: dict[Path, list[str]] = {}
    for key in sorted(set(flat_now) | set(flat_want)):
        if flat_now.get(key) == flat_want.get(key) and (key in flat_now) == (key in flat_want):
            continue
        top, _, rest = key.partition(".")
        if top in groups and rest:
            path, sub = conf_dir / top / f"{groups[top]}.yaml", rest
        else:
            path, sub = conf_dir / f"{CONFIG_NAME}.yaml", key
        edits.setdefault(path, []).append(f"~{sub}" if key not in flat_want else f"++{sub}={_value(flat_want[key])}")
        changes.append(f"{key}: {flat_now.get(key)!r} -> {flat_want.get(key)!r}")
    for path, overrides in edits.items():
        apply_overrides(path, overrides)
    if _composed(conf_dir) != target:
        raise UserError(f"{conf_dir}: cannot write the experiment's params.yaml into conf/; edit conf/ by hand")
    return changes
