"""Typed `sweep` config group (conf/sweep/default.yaml): the grid and how to run and rank it."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .errors import UserError
from .metric_names import LOWER_IS_BETTER, METRICS
from .settings import PARAMS_FILE, parse_group

GROUP = "sweep"


class SweepSettings(BaseModel):
    """The `sweep` config group (conf/sweep/default.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    grid: list[str] = Field(min_length=1)
    jobs: int = Field(2, ge=1, le=64)
    metric: str = "balanced_accuracy"
    stage: str | None = "evaluate"
    branch_prefix: str = Field("sweep/", min_length=1)
    drop: str | None = None
    poll_seconds: float = Field(10.0, gt=0, le=600)
    timeout_minutes: float = Field(240.0, gt=0)
    worker_linger_seconds: float = Field(60.0, ge=0, le=600)
    worker_linger_poll_seconds: float = Field(2.0, gt=0, le=60)

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, v: str) -> str:
        if v not in METRICS:
            raise ValueError(f"unknown metric {v!r} (known: {', '.join(METRICS)})")
        return v

    @field_validator("drop")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as err:
                raise ValueError(f"not a regular expression: {err}") from None
        return v

    @property
    def lower_is_better(self) -> bool:
        return self.metric in LOWER_IS_BETTER


def parse_sweep_settings(raw: Any, source: str = str(PARAMS_FILE)) -> SweepSettings:
    """Validate the group or raise one UserError naming the dotted key (the group has no defaults)."""
    if raw is None:
        raise UserError(f"{source}: no '{GROUP}' group (add `- {GROUP}: default` to conf/config.yaml, `make params`)")
    return parse_group(SweepSettings, raw, GROUP, source=source)
