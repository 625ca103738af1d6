"""The metric names config may refer to (gate floors, monitor floors, the sweep's primary metric).

They live in the base layer so settings can refuse an unknown name; core/metrics.py computes them.
"""

from __future__ import annotations

METRICS: tuple[str, ...] = ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "log_loss")
# Metrics where lower is better; the gate and report flip the sign of "regression" for them.
LOWER_IS_BETTER: frozenset[str] = frozenset({"log_loss"})
