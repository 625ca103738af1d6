"""Typed `monitor` and `retrain` config groups (conf/monitor/, conf/retrain/).

They arrive untyped in ``Settings.extra_groups``; validating them here, with
unknown keys refused, means a typo such as ``alpah`` fails loudly instead of
silently running with the default.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .errors import UserError
from .metric_names import LOWER_IS_BETTER, METRICS, REGRESSION_METRICS
from .settings import Settings, group_of


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NumericThresholds(_Strict):
    psi: float | None = Field(0.2, gt=0)
    wasserstein: float | None = Field(0.25, gt=0)


class CategoricalThresholds(_Strict):
    psi: float | None = Field(0.2, gt=0)
    share: float | None = Field(0.1, gt=0, le=1)


class FeatureOverride(_Strict):
    enabled: bool = True
    psi: float | None = Field(None, gt=0)
    wasserstein: float | None = Field(None, gt=0)
    share: float | None = Field(None, gt=0, le=1)


class QualitySettings(_Strict):
    missing_increase: float = Field(0.05, gt=0, le=1)
    out_of_range_share: float = Field(0.01, ge=0, le=1)
    unseen_share: float = Field(0.01, ge=0, le=1)


class PredictionSettings(_Strict):
    psi: float = Field(0.2, gt=0)
    share: float = Field(0.1, gt=0, le=1)
    score_psi: float = Field(0.2, gt=0)


class PerformanceSettings(_Strict):
    min_labels: int = Field(30, ge=1)
    n_bootstrap: int = Field(500, ge=10, le=100_000)
    bootstrap_max_rows: int = Field(5_000, ge=100)
    confidence: float = Field(0.95, gt=0.5, lt=1)
    floors: dict[str, float] = Field(default_factory=dict)
    # A regressor's error ceiling relative to its reference predictions' (held-out) error: 0.25 = 25 % worse.
    max_increase: dict[str, float] = Field(default_factory=dict)


class ReportSettings(_Strict):
    json_: str = Field("reports/monitor.json", alias="json", min_length=1)
    markdown: str = Field("reports/monitor.md", min_length=1)
    html: str = Field("reports/monitor.html", min_length=1)
    max_plots: int = Field(24, ge=0)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class CompareSettings(_Strict):
    """Rules of `monitor compare` (candidate vs current), applied in order; see monitoring/compare.py."""

    min_rows: int = Field(100, ge=1)
    min_labels: int = Field(30, ge=1)
    confidence: float = Field(0.95, gt=0.5, lt=1)
    max_accuracy_drop: float = Field(0.02, ge=0, le=1)
    min_agreement: float = Field(0.9, ge=0, le=1)
    max_latency_ratio: float = Field(2.0, gt=0)
    in_report: bool = True
    json_: str = Field("reports/compare.json", alias="json", min_length=1)
    markdown: str = Field("reports/compare.md", min_length=1)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class MonitorSettings(_Strict):
    # The registry stage whose version is judged (its log rows against its tag's reference);
    # null or "": the working tree's model against all logged traffic.
    stage: str | None = "prod"
    log_url: str = Field("sqlite:///logs/predictions.db", min_length=1)
    default_last: int = Field(100_000, ge=1)
    min_rows: int = Field(100, ge=2)
    reference: str = "data/processed/train.parquet"
    prediction_reference: str = "reports/predictions.parquet"
    require_pinned_reference: bool = True
    reference_max_rows: int = Field(200_000, ge=100)
    seed: int = 0
    alpha: float = Field(0.01, gt=0, lt=0.5)
    correction: Literal["holm", "bonferroni"] = "holm"
    bins: int = Field(10, ge=2, le=100)
    numeric: NumericThresholds = NumericThresholds()
    categorical: CategoricalThresholds = CategoricalThresholds()
    features: dict[str, FeatureOverride] = Field(default_factory=dict)
    quality: QualitySettings = QualitySettings()
    prediction: PredictionSettings = PredictionSettings()
    performance: PerformanceSettings = PerformanceSettings()
    report: ReportSettings = ReportSettings()
    compare: CompareSettings = CompareSettings()


class RetrainTriggers(_Strict):
    schedule: bool = False
    new_data: bool = True
    drift: bool = True
    performance: bool = True


class RetrainSettings(_Strict):
    enabled: bool = False
    triggers: RetrainTriggers = RetrainTriggers()
    base: str = Field("main", min_length=1)
    remote: str = Field("origin", min_length=1)
    branch_prefix: str = Field("retrain/", min_length=1)
    dvc_push: bool = True
    refresh: Literal["auto", "none"] = "auto"


def monitor_settings(settings: Settings) -> MonitorSettings:
    cfg = group_of(settings, MonitorSettings, "monitor")
    known = (*METRICS, *REGRESSION_METRICS)
    unknown = sorted(set(cfg.performance.floors) - set(known))
    if unknown:
        raise UserError(f"params.yaml: monitor.performance.floors: unknown metric {unknown[0]!r} (known: {known})")
    errors = tuple(m for m in REGRESSION_METRICS if m in LOWER_IS_BETTER)
    bad = sorted(m for m, v in cfg.performance.max_increase.items() if m not in errors or v < 0)
    if bad:
        raise UserError(
            f"params.yaml: monitor.performance.max_increase.{bad[0]}: expected one of {errors} with a value >= 0"
        )
    features = set(settings.data.schema_.feature_columns)
    stray = sorted(set(cfg.features) - features)
    if stray:
        raise UserError(f"params.yaml: monitor.features.{stray[0]}: not a feature column of the schema")
    return cfg


def retrain_settings(settings: Settings) -> RetrainSettings:
    return group_of(settings, RetrainSettings, "retrain")
