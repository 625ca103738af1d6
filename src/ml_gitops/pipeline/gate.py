"""gate: fail the pipeline when a metric misses its floor, the model does not beat its baseline, or fairness fails.

Floors are direction-aware (RMSE, MAE and log loss are ceilings). The relative floor (`gate.baseline`)
travels to any dataset: the model must beat the baseline evaluate fitted in the same run
(DummyClassifier / DummyRegressor) by the margin, judged by the low end of the paired-bootstrap
interval of its improvement, so a lucky test split does not pass a useless model.

Fairness is a report (reports/fairness.json) until `gate.fairness` sets a limit; then a difference
fails only when even the low end of its bootstrap interval is over the limit. Slice regressions
need a base to compare with, so the PR loop's gate judges them (`prloop.report.gate_verdict`).
"""

import logging
from pathlib import Path
from typing import Any

from ..adapters.io import clear_stale, read_json, write_json
from ..config import paths
from ..config.errors import GateFailure, UserError
from ..config.settings import GateSettings, load_settings
from ..core.fairness import fairness_verdict
from ..core.metrics import LOWER_IS_BETTER, METRICS, REGRESSION_METRICS, baseline_verdict

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


def check_baseline(metrics: dict[str, Any], gate: GateSettings) -> tuple[list[str], list[str]]:
    """Pure core: (failures, not applicable) of the relative floor; a metric of the other task is not applicable."""
    if not gate.baseline:
        return [], []
    unknown = sorted(set(gate.baseline) - set(METRICS) - set(REGRESSION_METRICS))
    if unknown:
        raise UserError(
            f"gate.baseline.{unknown[0]}: unknown metric (known: {', '.join(METRICS + REGRESSION_METRICS)})"
        )
    if "baseline" not in metrics:
        raise UserError(f"gate.baseline: {paths.METRICS} has no baseline comparison (rerun evaluate)")
    return baseline_verdict(metrics["baseline"], gate.baseline)


def fairness_rule_set(gate: GateSettings) -> bool:
    f = gate.fairness
    return f.max_demographic_parity is not None or f.max_equalized_odds is not None


def check_fairness(report: dict[str, Any] | None, gate: GateSettings) -> list[str]:
    """Pure core: one message per fairness difference over its limit; none unless gate.fairness sets one."""
    if not fairness_rule_set(gate):
        return []
    if report is None:
        raise UserError(f"gate.fairness: limits are set but {paths.FAIRNESS} is missing (run evaluate)")
    failures = []
    for r in report["reports"]:
        verdict = fairness_verdict(
            r,
            max_demographic_parity=gate.fairness.max_demographic_parity,
            max_equalized_odds=gate.fairness.max_equalized_odds,
        )
        for f in verdict["failures"]:
            failures.append(
                f"{f['difference']} for {f['column']} (positive {r['positive']}) = {f['value']:.4f} "
                f"[{f['ci_low']:.4f}, {f['ci_high']:.4f}] > limit {f['limit']:g}"
            )
    return failures


def main(
    params: Path, metrics_path: Path = paths.METRICS, out: Path = paths.GATE, fairness_path: Path = paths.FAIRNESS
) -> None:
    clear_stale(out)
    gate = load_settings(params).gate
    metrics = read_json(metrics_path)
    fair = read_json(fairness_path) if fairness_rule_set(gate) and fairness_path.is_file() else None
    relative, skipped = check_baseline(metrics, gate)
    if skipped:
        log.info("gate: baseline margin(s) for %s not applicable to this task", ", ".join(skipped))
    failures = check_floors(metrics, gate) + relative + check_fairness(fair, gate)
    if failures:
        raise GateFailure(f"gate: FAIL: {'; '.join(failures)} (rules in conf/gate/)")
    verdict: dict[str, Any] = {"passed": True, "floors": dict(sorted(gate.floors.items()))}
    if gate.baseline:
        verdict["baseline"] = {m: v for m, v in sorted(gate.baseline.items()) if m not in skipped}
    if fairness_rule_set(gate):
        verdict["fairness"] = gate.fairness.model_dump()
    write_json(out, verdict)
    margins = len(verdict.get("baseline", {}))
    log.info("gate: PASS (%d floor(s), %d baseline margin(s) met) -> %s", len(gate.floors), margins, out)
