"""The model: one scikit-learn Pipeline (preprocessing + estimator).

Training and inference run the same object, so features cannot drift apart
between the two.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..config.settings import (
    HistGradientBoostingSettings,
    LogisticRegressionSettings,
    ModelSettings,
    PreprocessingSettings,
    RandomForestSettings,
    SchemaSpec,
)

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline


def build_estimator(model: ModelSettings, seed: int) -> Any:
    if isinstance(model, LogisticRegressionSettings):
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=model.C, max_iter=model.max_iter, class_weight=model.class_weight)
    if isinstance(model, RandomForestSettings):
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(
            n_estimators=model.n_estimators,
            max_depth=model.max_depth,
            min_samples_leaf=model.min_samples_leaf,
            class_weight=model.class_weight,
            random_state=seed,
            n_jobs=1,
        )
    if isinstance(model, HistGradientBoostingSettings):
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(
            learning_rate=model.learning_rate,
            max_iter=model.max_iter,
            max_leaf_nodes=model.max_leaf_nodes,
            l2_regularization=model.l2_regularization,
            early_stopping=model.early_stopping,
            random_state=seed,
        )
    raise TypeError(f"unsupported model settings: {type(model).__name__}")


def build_preprocessor(schema: SchemaSpec, prep: PreprocessingSettings) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

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
    from sklearn.pipeline import Pipeline

    return Pipeline(
        [
            ("preprocess", build_preprocessor(schema, prep)),
            ("model", build_estimator(model, seed)),
        ]
    )


def feature_frame(df: Any, schema: SchemaSpec) -> Any:
    """The model's input: feature columns in schema order, categories as object dtype."""
    return df[schema.feature_columns]
