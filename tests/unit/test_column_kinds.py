"""Column kinds beyond numbers and categories: date parts, hashed text, ids and feature: false."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from ml_gitops.config.settings import SchemaSpec
from ml_gitops.core.features import DateParts, TextColumn
from ml_gitops.core.schema import check_frame, errors_of


def schema(**extra: dict) -> SchemaSpec:
    columns = {"y": {"dtype": "category", "categories": ["a", "b"], "nullable": False}, "x": {"dtype": "float"}}
    return SchemaSpec.model_validate({"target": "y", "columns": {**columns, **extra}})


def test_date_parts_are_the_configured_numbers() -> None:
    parts = DateParts(("year", "month", "day", "dayofweek", "days_since"), "2024-01-01")
    got = parts.fit_transform(pd.DataFrame({"d": ["2024-03-04", None, "2024-01-01T12:00:00"]}))
    assert got[0].tolist() == [2024, 3, 4, 0, 63]  # a Monday, 63 days after the reference
    assert np.isnan(got[1]).all()  # missing: NaN for the imputer
    assert got[2].tolist() == [2024, 1, 1, 0, 0]
    assert parts.get_feature_names_out(["d"]).tolist() == ["d_year", "d_month", "d_day", "d_dayofweek", "d_days_since"]


def test_text_column_fills_missing_with_empty_text() -> None:
    assert TextColumn().fit_transform(pd.DataFrame({"t": ["a b", None]})).tolist() == ["a b", ""]


def test_ids_and_feature_false_stay_out_of_the_model_without_categories() -> None:
    s = schema(
        user_id={"dtype": "id"},
        code={"dtype": "category", "feature": False},  # no categories needed
        flag={"dtype": "bool", "feature": False},
        when={"dtype": "date", "date_parts": ["year"]},
        note={"dtype": "text", "text_features": 16},
    )
    assert s.feature_columns == ["x", "when", "note"]
    df = pd.DataFrame(
        {
            "y": ["a", "b"],
            "x": [1.0, 2.0],
            "user_id": ["u1", "u2"],
            "code": ["anything", "at all"],
            "flag": ["true", "0"],
            "when": ["2024-01-02", None],
            "note": ["some words here", None],
        }
    )
    out, violations = check_frame(df, s)
    assert errors_of(violations) == []
    assert out["code"].tolist() == ["anything", "at all"]


def test_a_feature_false_column_is_still_type_checked() -> None:
    s = schema(flag={"dtype": "bool", "feature": False}, when={"dtype": "date"})
    df = pd.DataFrame({"y": ["a", "b"], "x": [1.0, 2.0], "flag": ["true", "maybe"], "when": ["2024-01-02", "soon"]})
    lines = [v.line() for v in errors_of(check_frame(df, s)[1])]
    assert lines == [
        "column 'flag': dtype, 1 row(s): expected bool, found 'maybe', e.g. row 2",
        "column 'when': dtype, 1 row(s): expected a date, found 'soon', e.g. row 2",
    ]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"c": {"dtype": "category"}}, "needs a non-empty 'categories' list (or feature: false)"),
        ({"d": {"dtype": "date", "date_reference": "last year"}}, "is not an ISO date"),
        ({"t": {"dtype": "float", "text_features": 8}}, "'text_features' only applies to text columns"),
        ({"d": {"dtype": "date", "min": 0}}, "'min'/'max' only apply to float and int columns"),
    ],
)
def test_kind_options_are_checked(extra: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        schema(**extra)
