"""The model: one scikit-learn Pipeline (preprocessing + estimator).

Training and inference run the same object, so features cannot drift apart
between the two. The estimator is whatever `conf/model/*.yaml` names in `_target_`.
"""

from typing import Any

from hydra.utils import instantiate
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from ..config.settings import ModelSettings, PreprocessingSettings, SchemaSpec


def build_estimator(model: ModelSettings, seed: int) -> Any:
    """The configured estimator; ``seed`` becomes its ``random_state`` unless the config sets one."""
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
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=True)


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
