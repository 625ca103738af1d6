"""Typed, validated settings: the composed config becomes frozen objects before any work.

Unknown keys, wrong types and out-of-range values are refused with the dotted
key at fault, because a typo in `conf/` must not silently fall back to a default.
"""

from __future__ import annotations

import importlib
import inspect
from datetime import date as _date
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from . import paths, stamp
from .errors import UserError, config_error
from .lockfile import check_lock, yaml_load

PARAMS_FILE = paths.PARAMS
M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


# ---------------------------------------------------------------- data + schema
DatePart = Literal["year", "month", "day", "dayofweek", "days_since"]
Dtype = Literal["float", "int", "category", "bool", "date", "text", "id"]
NON_FEATURE_DTYPES = frozenset({"id"})  # kinds that never reach the model


class ColumnSpec(Strict):
    """One column: its kind, what values are allowed, and whether the model sees it.

    ``date`` columns become the numeric ``date_parts`` (days since ``date_reference``
    among them); ``text`` columns are hashed into ``text_features`` columns; ``id``
    columns are checked but never reach the model. A column with ``feature: false``
    needs no ``categories``: validate then checks only its type and nulls.
    """

    dtype: Dtype
    nullable: bool = True
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = None
    feature: bool = True
    date_parts: list[DatePart] | None = None
    date_reference: str | None = None
    text_features: int | None = Field(None, ge=2, le=1 << 20)

    @model_validator(mode="after")
    def _check(self) -> ColumnSpec:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if self.dtype == "category" and not self.categories and self.feature:
            raise ValueError("a category column needs a non-empty 'categories' list (or feature: false)")
        if self.dtype != "category" and self.categories is not None:
            raise ValueError(f"'categories' only applies to category columns, not {self.dtype}")
        if self.dtype not in {"float", "int"} and (self.min is not None or self.max is not None):
            raise ValueError(f"'min'/'max' only apply to float and int columns, not {self.dtype}")
        if self.dtype != "date" and (self.date_parts is not None or self.date_reference is not None):
            raise ValueError(f"'date_parts'/'date_reference' only apply to date columns, not {self.dtype}")
        if self.dtype != "text" and self.text_features is not None:
            raise ValueError(f"'text_features' only applies to text columns, not {self.dtype}")
        if self.date_reference is not None:
            try:
                _date.fromisoformat(self.date_reference)
            except ValueError:
                raise ValueError(f"date_reference {self.date_reference!r} is not an ISO date (YYYY-MM-DD)") from None
        if self.date_parts is not None and not self.date_parts:
            raise ValueError("'date_parts' needs at least one of year, month, day, dayofweek, days_since")
        return self

    @property
    def is_feature(self) -> bool:
        return self.feature and self.dtype not in NON_FEATURE_DTYPES


class SchemaSpec(Strict):
    target: str
    task: Literal["classification", "regression"] = "classification"
    allow_extra_columns: bool = False
    columns: dict[str, ColumnSpec]

    @model_validator(mode="after")
    def _check(self) -> SchemaSpec:
        if self.target not in self.columns:
            raise ValueError(f"target {self.target!r} is not one of the columns")
        spec = self.columns[self.target]
        if self.task == "classification" and spec.dtype != "category":
            raise ValueError(f"target {self.target!r} must be a category column (classification)")
        if self.task == "classification" and not spec.categories:
            raise ValueError(f"target {self.target!r} needs its classes under 'categories'")
        if self.task == "regression" and spec.dtype not in {"float", "int"}:
            raise ValueError(f"target {self.target!r} must be a float or int column (regression)")
        if not self.feature_columns:
            raise ValueError("the schema has no feature columns")
        return self

    @property
    def feature_columns(self) -> list[str]:
        return [c for c, s in self.columns.items() if s.is_feature and c != self.target]

    @property
    def numeric_features(self) -> list[str]:
        return [c for c in self.feature_columns if self.columns[c].dtype in {"float", "int"}]

    @property
    def categorical_features(self) -> list[str]:
        return [c for c in self.feature_columns if self.columns[c].dtype in {"category", "bool"}]

    @property
    def date_features(self) -> list[str]:
        return [c for c in self.feature_columns if self.columns[c].dtype == "date"]

    @property
    def text_features(self) -> list[str]:
        return [c for c in self.feature_columns if self.columns[c].dtype == "text"]

    @property
    def classes(self) -> list[str]:
        return list(self.columns[self.target].categories or [])


class SourceSpec(Strict):
    kind: Literal["file", "synthetic"]
    path: str = Field(min_length=1)
    format: Literal["csv", "parquet"] = "csv"
    delimiter: str = Field(",", min_length=1, max_length=1)
    na_values: list[str] = Field(default_factory=list)
    n_rows: int = Field(10_000, ge=10)
    seed: int = 0
    missing_rate: float = Field(0.0, ge=0.0, lt=1.0)
    batch_rows: int = Field(500_000, ge=1_000)


ValidationRule = Literal[
    "missing_column",
    "extra_column",
    "duplicate_column",
    "dtype",
    "null",
    "range",
    "category",
    "non_finite",
    "magnitude",
]
# Findings that are warnings unless listed under `error_on`: the data may still train.
QualityRule = Literal["all_null", "constant"]


class DataSettings(Strict):
    name: str
    source: SourceSpec
    schema_: SchemaSpec = Field(alias="schema")
    warn_only: list[ValidationRule] = Field(default_factory=list)
    error_on: list[QualityRule] = Field(default_factory=list)
    # |x| above this in a number column is refused: past ~1.3e154 squares overflow float64
    # (scaling, variances), so such a value is a unit or parsing mistake, not data.
    max_abs_value: float = Field(1e150, gt=0.0)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# ---------------------------------------------------------------- models
class ModelSettings(BaseModel):
    """The estimator: ``_target_`` names its class, every other key is a constructor argument.

    So swapping the model is a `conf/model/*.yaml` change (any scikit-learn-compatible class,
    lightgbm's or xgboost's included). ``trusted_types`` lists the extra types skops must accept
    when it loads the saved model (reviewed once, in git); it is not passed to the estimator.
    """

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    name: str = Field(min_length=1)
    target: str = Field(alias="_target_", min_length=1)
    trusted_types: list[str] = Field(default_factory=list)

    @property
    def kwargs(self) -> dict[str, Any]:
        """The constructor arguments: every key of the group but name, _target_ and trusted_types."""
        return dict(self.model_extra or {})

    def estimator_class(self, source: str = str(PARAMS_FILE)) -> type:
        """The class ``_target_`` names, every other key checked against its arguments (one line each,
        naming ``source``, the file the settings came from).

        Not a validator: importing an estimator imports scikit-learn (~1 s a process), which the stages
        that never build a model (ingest, validate, split, gate) would pay on every run. train and the
        `params check` command call it.
        """
        module, _, attr = self.target.rpartition(".")
        try:
            cls = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError, ValueError) as err:
            raise UserError(f"{source}: model._target_: cannot import {self.target!r} ({err})") from None
        params = inspect.signature(cls).parameters
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            unknown = sorted(set(self.kwargs) - set(params))
            if unknown:
                raise UserError(f"{source}: model.{unknown[0]}: {self.target} takes no argument {unknown[0]!r}")
        return cls


# ---------------------------------------------------------------- stages
class PreprocessingSettings(Strict):
    numeric_imputer: Literal["mean", "median", "most_frequent"] = "median"
    scale_numeric: bool = True
    categorical_imputer: Literal["most_frequent", "constant"] = "most_frequent"
    min_category_frequency: int = Field(1, ge=1)


class TrainSettings(Strict):
    seed: int = 42
    max_rows: int = Field(2_000_000, ge=100)
    preprocessing: PreprocessingSettings = PreprocessingSettings()


class SplitSettings(Strict):
    test_size: float = Field(0.2, gt=0.0, lt=1.0)
    seed: int = 42
    stratify: bool = True


class SliceColumnSpec(Strict):
    """One slice column: by value (categorical), or numeric bins by explicit ``edges`` or ``quantiles``."""

    column: str = Field(min_length=1)
    edges: list[float] = Field(default_factory=list)
    quantiles: int = Field(0, ge=0, le=100)

    @model_validator(mode="after")
    def _check(self) -> SliceColumnSpec:
        if self.edges and self.quantiles:
            raise ValueError("set either 'edges' or 'quantiles', not both")
        if self.quantiles == 1:
            raise ValueError("'quantiles' must be 0 (by value) or at least 2")
        if any(b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)):
            raise ValueError(f"'edges' must increase strictly, got {self.edges}")
        return self


class SliceSettings(Strict):
    columns: list[SliceColumnSpec] = Field(default_factory=list)
    # Slices with fewer test rows are reported but never judged (worst slice, largest gap, gate).
    min_rows: int = Field(30, ge=1)


class FairnessSettings(Strict):
    sensitive: list[str] = Field(default_factory=list)
    # The class read as "positive"; None = the positive class of a binary task, every class (one vs rest) otherwise.
    positive: str | None = None
    min_rows: int = Field(30, ge=1)


class EffectsSettings(Strict):
    # Partial dependence of the ``top`` most important features (number and category columns).
    top: int = Field(3, ge=0)
    grid_points: int = Field(10, ge=2, le=100)
    max_rows: int = Field(500, ge=10)


class EvaluateSettings(Strict):
    # auto: score with ONNX Runtime when train's parity check passed (as serving does), else skops.
    runtime: Literal["auto", "onnx", "sklearn"] = "auto"
    n_bootstrap: int = Field(1000, ge=10, le=100_000)
    confidence: float = Field(0.95, gt=0.5, lt=1.0)
    seed: int = 0
    bootstrap_max_rows: int = Field(20_000, ge=100)
    importance_repeats: int = Field(5, ge=1)
    importance_max_rows: int = Field(5_000, ge=50)
    calibration_bins: int = Field(10, ge=2, le=100)
    # Plot data (confusion rows, ROC/PR curves) come from a seeded sample of at most this many test rows.
    plot_max_rows: int = Field(20_000, ge=100)
    slices: SliceSettings = SliceSettings()
    fairness: FairnessSettings = FairnessSettings()
    effects: EffectsSettings = EffectsSettings()
    # Test rows listed as examples in reports/leakage.json (the count is always complete).
    leakage_examples: int = Field(5, ge=0)


class GateFairness(Strict):
    """Limits on the fairness differences; unset = fairness is reported, never judged."""

    max_demographic_parity: float | None = Field(None, ge=0.0, le=1.0)
    max_equalized_odds: float | None = Field(None, ge=0.0, le=1.0)


class GateSettings(Strict):
    # Absolute floors (a data config's own numbers, e.g. conf/gate/data/penguins.yaml).
    floors: dict[str, float] = Field(default_factory=dict)
    # The relative floor: per metric, the least improvement over the baseline fitted in the same run
    # (DummyClassifier / DummyRegressor); the low end of its paired-bootstrap interval must exceed it.
    # Metrics of the other task are not applicable and skipped; an unknown name fails the gate.
    baseline: dict[str, float] = Field(default_factory=dict)
    max_regression: dict[str, float] = Field(default_factory=dict)
    # Per slice versus the base (PR loop): largest allowed drop, counted only when the head's interval is past it.
    max_slice_regression: dict[str, float] = Field(default_factory=dict)
    # Slices smaller than this (on either side) are not judged; None = evaluate.slices.min_rows.
    min_slice_rows: int | None = Field(None, ge=1)
    fairness: GateFairness = GateFairness()


ConsistencyRule = Literal["off", "warn", "fail"]


class ConsistencySettings(Strict):
    """Rows with identical features but different labels, and exact duplicate rows: off, warn or fail."""

    conflicting_labels: ConsistencyRule = "warn"
    duplicate_rows: ConsistencyRule = "warn"
    max_examples: int = Field(5, ge=0, le=100)


class ValidateSettings(Strict):
    consistency: ConsistencySettings = ConsistencySettings()


class RuntimeSettings(Strict):
    threads: int = Field(1, ge=1, le=256)
    # Rows per batch when validate, split and train stream a large table.
    batch_rows: int = Field(500_000, ge=1_000)


class Settings(Strict):
    """The whole composed config. Groups added later (serve, monitor, ...) go here."""

    data: DataSettings
    model: ModelSettings
    split: SplitSettings = SplitSettings()
    train: TrainSettings = TrainSettings()
    evaluate: EvaluateSettings = EvaluateSettings()
    gate: GateSettings = GateSettings()
    validate_: ValidateSettings = Field(ValidateSettings(), alias="validate")
    runtime: RuntimeSettings = RuntimeSettings()
    extra_groups: dict[str, Any] = Field(default_factory=dict, exclude=True)


def parse_settings(raw: dict[str, Any], *, source: str = str(PARAMS_FILE)) -> Settings:
    """Validate a plain dict (composed config) into Settings, or raise one clear UserError."""
    if not isinstance(raw, dict):
        raise UserError(f"{source}: expected a mapping at the top level")
    known = {f.alias or name for name, f in Settings.model_fields.items()} - {"extra_groups"}
    core = {k: v for k, v in raw.items() if k in known}
    extra = {k: v for k, v in raw.items() if k not in known}
    unknown = sorted(k for k in extra if k not in EXTENSION_GROUPS)
    if unknown:
        raise UserError(
            f"{source}: unknown config key {unknown[0]!r} (known: {', '.join(sorted(known | EXTENSION_GROUPS))})"
        )
    try:
        return Settings.model_validate({**core, "extra_groups": extra})
    except ValidationError as exc:
        # A discriminated union puts its tag (the model name) in the error path: not a key.
        raise config_error(exc, source=source, hidden=_MODEL_TAGS) from None


_MODEL_TAGS = frozenset({"logistic_regression", "random_forest", "hist_gradient_boosting"})


# Top-level groups owned by later layers (serving, monitoring, sweeps); each layer
# validates its own group with its own typed model.
EXTENSION_GROUPS: set[str] = {"serve", "monitor", "sweep", "release", "registry", "retrain"}


def load_params(path: str | Path = PARAMS_FILE, *, verify: bool = False) -> dict[str, Any]:
    """The composed config as a plain dict (no validation); ``verify``: refuse one that disagrees with conf/."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: file not found (run `make params` to compose it from conf/)")
    text = path.read_text(encoding="utf-8")
    if verify:
        stamp.verify(path, text)
    try:
        raw = yaml_load(text)
    except yaml.YAMLError as err:
        raise UserError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    return raw or {}


def load_settings(path: str | Path = PARAMS_FILE) -> Settings:
    """The validated settings of ``path`` (every stage's first step).

    Refuses first a corrupt dvc.lock beside it, and a params.yaml that is not the
    composition of the conf/ beside it (config/stamp.py).
    """
    path = Path(path)
    check_lock(path.parent / paths.DVC_LOCK.name)
    return parse_settings(load_params(path, verify=True), source=str(path))


# ---------------------------------------------------------------- groups of later layers
def parse_group(model: type[M], raw: Any, group: str | tuple[str, ...], *, source: str = str(PARAMS_FILE)) -> M:
    """Validate one config group (``serve``, ``registry``, ``serve.onnx`` as a tuple...) into ``model``.

    A missing group means its defaults; a bad value is one UserError naming the dotted key.
    """
    prefix = (group,) if isinstance(group, str) else group
    try:
        return model.model_validate(raw or {})
    except ValidationError as exc:
        raise config_error(exc, source=source, prefix=prefix) from None


def group_of(settings: Settings, model: type[M], group: str, *, source: str = str(PARAMS_FILE)) -> M:
    """A group of already loaded settings (``Settings.extra_groups``), validated into ``model``."""
    return parse_group(model, settings.extra_groups.get(group), group, source=source)


def load_group(model: type[M], group: str, path: str | Path = PARAMS_FILE, *, text: str | None = None) -> M:
    """One group of a params file (or of its ``text``, e.g. as of a git tag), without the rest.

    The registry and release read only their own group: a tagged commit's params.yaml may
    predate today's settings models, and its other groups do not matter to them.
    """
    source = str(path)
    if text is None:
        path = Path(path)
        text = path.read_text(encoding="utf-8") if path.exists() else ""
    try:
        raw = yaml_load(text) or {}
    except yaml.YAMLError as err:
        raise UserError(f"{source}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{source}: expected a mapping at the top level")
    return parse_group(model, raw.get(group), group, source=source)
