"""The metric names config may refer to (gate floors, monitor floors, the sweep's primary metric).

They live in the base layer so settings can refuse an unknown name; core/metrics.py computes them.
"""

from __future__ import annotations

METRICS: tuple[str, ...] = ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "log_loss")
# A regression task's metrics (evaluate, gate, PR report); per-slice tables use the error ones only.
REGRESSION_METRICS: tuple[str, ...] = ("rmse", "mae", "r2")
# Metrics where lower is better; the gate and report flip the sign of "regression" for them.
LOWER_IS_BETTER: frozenset[str] = frozenset({"log_loss", "rmse", "mae"})


def task_metrics(task: str) -> tuple[str, ...]:
    """The headline metrics of a task (``classification`` or ``regression``)."""
    return REGRESSION_METRICS if task == "regression" else METRICS
