"""The model: one scikit-learn Pipeline (preprocessing + estimator).

Training and inference run the same object, so features cannot drift apart
between the two. The estimator is whatever `conf/model/*.yaml` names in `_target_`.
"""

from typing import Any

import numpy as np
import pandas as pd
from hydra.utils import instantiate
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from ..config.settings import ColumnSpec, ModelSettings, PreprocessingSettings, SchemaSpec
from .schema import parse_dates

DATE_PARTS: tuple[str, ...] = ("year", "month", "dayofweek", "days_since")  # when date_parts is not set
DATE_REFERENCE = "1970-01-01"
PANDAS_PART = {"dayofweek": "day_of_week"}  # config name -> pandas attribute (0 = Monday)
TEXT_FEATURES = 256  # hashed columns per text column when text_features is not set


class DateParts(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Date columns (text or timestamps) as numbers: the configured parts, NaN where missing.

    Stateless, so the same object parses at training and at serving time.
    """

    def __init__(self, parts: tuple[str, ...] = DATE_PARTS, reference: str = DATE_REFERENCE) -> None:
        self.parts = parts
        self.reference = reference

    def fit(self, X: Any, y: Any = None) -> "DateParts":  # noqa: N803 - scikit-learn's name
        self.n_features_in_ = np.asarray(X).shape[1] if np.ndim(X) == 2 else 1
        return self

    def transform(self, X: Any) -> Any:  # noqa: N803
        frame = pd.DataFrame(X)
        ref = pd.Timestamp(self.reference)
        cols = []
        for i in range(frame.shape[1]):
            when = parse_dates(frame.iloc[:, i].to_numpy(dtype=object))
            for part in self.parts:
                values = (when - ref).days if part == "days_since" else getattr(when, PANDAS_PART.get(part, part))
                cols.append(np.asarray(values, dtype="float64"))  # NaT -> NaN (the imputer fills it)
        return np.column_stack(cols) if cols else np.empty((len(frame), 0))

    def get_feature_names_out(self, input_features: Any = None) -> Any:
        names = list(input_features) if input_features is not None else [f"x{i}" for i in range(self.n_features_in_)]
        return np.asarray([f"{n}_{p}" for n in names for p in self.parts], dtype=object)


class TextColumn(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """One text column as the 1-D array of strings a vectoriser takes; missing becomes ""."""

    def fit(self, X: Any, y: Any = None) -> "TextColumn":  # noqa: N803
        return self

    def transform(self, X: Any) -> Any:  # noqa: N803
        values = pd.DataFrame(X).iloc[:, 0].to_numpy(dtype=object)
        return np.where(pd.isna(values), "", values).astype(str)

    def get_feature_names_out(self, input_features: Any = None) -> Any:
        return np.asarray(list(input_features or ["text"]), dtype=object)


# The classes above are ours: skops must be told to trust them (adapters/persistence.py).
CUSTOM_TYPES: tuple[str, ...] = tuple(f"{c.__module__}.{c.__qualname__}" for c in (DateParts, TextColumn))


def build_estimator(model: ModelSettings, seed: int) -> Any:
    """The configured estimator; ``seed`` becomes its ``random_state`` unless the config sets one."""
    model.estimator_class()  # a bad `_target_` or argument: one line naming the key, not Hydra's traceback
    estimator = instantiate({"_target_": model.target, **model.kwargs}, _convert_="all")
    if "random_state" in estimator.get_params() and "random_state" not in model.kwargs:
        estimator.set_params(random_state=seed)
    return estimator


def build_preprocessor(schema: SchemaSpec, prep: PreprocessingSettings) -> ColumnTransformer:
    numeric_steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy=prep.numeric_imputer))]
    if prep.scale_numeric:
        numeric_steps.append(("scale", StandardScaler()))
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy=prep.categorical_imputer, fill_value="missing")),
            (
                "onehot",
                OneHotEncoder(
                    categories=[schema.columns[c].categories or [] for c in schema.categorical_features],
                    handle_unknown="ignore",
                    sparse_output=False,
                ),
            ),
        ]
    )
    transformers: list[tuple[str, Any, list[str]]] = []
    if schema.numeric_features:
        transformers.append(("num", Pipeline(numeric_steps), schema.numeric_features))
    if schema.categorical_features:
        transformers.append(("cat", categorical, schema.categorical_features))
    for col in schema.date_features:
        transformers.append((f"date_{col}", _date_steps(schema.columns[col], prep), [col]))
    for col in schema.text_features:
        transformers.append((f"text_{col}", _text_steps(schema.columns[col]), [col]))
    # Hashed text is dense here (a few hundred columns): every estimator accepts it.
    sparse = {"sparse_threshold": 0.0} if schema.text_features else {}
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=True, **sparse)


def _date_steps(spec: ColumnSpec, prep: PreprocessingSettings) -> Pipeline:
    """A date column's parts (numbers), imputed and scaled like the numeric columns."""
    steps: list[tuple[str, Any]] = [
        ("parts", DateParts(tuple(spec.date_parts or DATE_PARTS), spec.date_reference or DATE_REFERENCE)),
        ("impute", SimpleImputer(strategy=prep.numeric_imputer, keep_empty_features=True)),
    ]
    if prep.scale_numeric:
        steps.append(("scale", StandardScaler()))
    return Pipeline(steps)


def _text_steps(spec: ColumnSpec) -> Pipeline:
    """A text column hashed into word and word-pair counts (stateless: no vocabulary to store)."""
    n = spec.text_features or TEXT_FEATURES
    return Pipeline(
        [
            ("column", TextColumn()),
            ("hash", HashingVectorizer(n_features=n, ngram_range=(1, 2), alternate_sign=False, norm="l2")),
        ]
    )


def build_pipeline(schema: SchemaSpec, model: ModelSettings, prep: PreprocessingSettings, seed: int) -> Pipeline:
    return Pipeline(
        [
            ("preprocess", build_preprocessor(schema, prep)),
            ("model", build_estimator(model, seed)),
        ]
    )


def feature_frame(df: Any, schema: SchemaSpec) -> Any:
    """The model's input: feature columns in schema order."""
    return df[schema.feature_columns]
