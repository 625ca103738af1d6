"""gate: fail the pipeline when a metric is below its configured floor."""

import logging
from pathlib import Path
from typing import Any

from ..adapters.io import clear_stale, read_json, write_json
from ..config import paths
from ..config.errors import GateFailure, UserError
from ..config.settings import GateSettings, load_settings
from ..core.metrics import LOWER_IS_BETTER

log = logging.getLogger(__name__)


def check_floors(metrics: dict[str, Any], gate: GateSettings) -> list[str]:
    """Pure core: one message per failed floor (empty list = pass)."""
    failures = []
    for name, floor in sorted(gate.floors.items()):
        if name not in metrics:
            raise UserError(f"gate.floors.{name}: metric {name!r} is not in the metrics file")
        value = float(metrics[name])
        worse = value > floor if name in LOWER_IS_BETTER else value < floor
        if worse:
            op = ">" if name in LOWER_IS_BETTER else "<"
            failures.append(f"{name} = {value:.4f} {op} floor {floor:.4f}")
    return failures


def main(params: Path, metrics_path: Path = paths.METRICS, out: Path = paths.GATE) -> None:
    clear_stale(out)
    gate = load_settings(params).gate
    metrics = read_json(metrics_path)
    failures = check_floors(metrics, gate)
    if failures:
        raise GateFailure(f"gate: FAIL: {'; '.join(failures)} (floors in conf/gate/)")
    write_json(out, {"passed": True, "floors": dict(sorted(gate.floors.items()))})
    log.info("gate: PASS (%d floor(s) met) -> %s", len(gate.floors), out)
