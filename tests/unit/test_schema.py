from __future__ import annotations

import pandas as pd
import pytest

from ml_gitops.config.settings import parse_settings
from ml_gitops.core.schema import check_frame, errors_of, signature


@pytest.fixture
def schema(settings_dict: dict):
    return parse_settings(settings_dict).data.schema_


def good_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "species": ["Adelie", "Gentoo", "Chinstrap"],
            "island": ["Biscoe", "Dream", "Torgersen"],
            "bill_length_mm": [39.1, None, 45.0],
            "bill_depth_mm": [18.7, 15.0, 17.0],
            "flipper_length_mm": [181, 210, 195],
            "body_mass_g": [3750, 5000, 3800],
            "sex": ["male", None, "female"],
            "year": [2007, 2008, 2009],
        }
    )


def test_good_frame_passes_and_is_coerced(schema) -> None:
    frame, violations = check_frame(good_frame(), schema)
    assert violations == []
    assert frame["flipper_length_mm"].dtype == "float64"
    assert list(frame.columns) == list(schema.columns)


def test_every_violation_is_reported_at_once(schema) -> None:
    df = good_frame()
    df.loc[0, "species"] = None  # null target
    df.loc[1, "island"] = "Atlantis"  # unseen category
    df["bill_depth_mm"] = df["bill_depth_mm"].astype(object)
    df.loc[2, "bill_depth_mm"] = "deep"  # wrong dtype
    df.loc[0, "body_mass_g"] = 99_999  # out of range
    df = df.drop(columns=["year"])  # missing column
    df["colour"] = "red"  # extra column
    _, violations = check_frame(df, schema)
    found = {(v.column, v.rule): v for v in violations}
    assert set(found) == {
        ("species", "null"),
        ("island", "category"),
        ("bill_depth_mm", "dtype"),
        ("body_mass_g", "range"),
        ("year", "missing_column"),
        ("colour", "extra_column"),
    }
    assert found[("island", "category")].examples == [2]
    assert found[("body_mass_g", "range")].rows == 1
    assert "e.g. 99999.0" in found[("body_mass_g", "range")].detail  # the value, not np.float64(...)
    assert "Atlantis" in found[("island", "category")].line()


def test_warn_only_rules_do_not_stop(schema) -> None:
    df = good_frame()
    df.loc[0, "body_mass_g"] = 99_999
    _, violations = check_frame(df, schema, warn_only=frozenset({"range"}))
    assert violations and errors_of(violations) == []


def test_int_column_refuses_fractions(schema) -> None:
    df = good_frame()
    df["year"] = [2007.5, 2008, 2009]
    _, violations = check_frame(df, schema)
    assert [(v.column, v.rule) for v in violations] == [("year", "dtype")]


def test_signature_lists_features_not_target(schema) -> None:
    sig = signature(schema)
    assert sig["target"] == "species" and "species" not in sig["features"]
    assert sig["features"]["island"]["categories"] == ["Biscoe", "Dream", "Torgersen"]


def test_category_and_bool_coercion_map_each_distinct_value() -> None:
    """Whole floats read as "1" not "1.0", bool words normalise, missing stays missing,
    and a value that is no bool word is named with its count and rows."""
    from ml_gitops.config.settings import ColumnSpec
    from ml_gitops.core.schema import coerce_column

    def values(s: pd.Series) -> list:
        return [None if pd.isna(v) else v for v in s]

    spec = ColumnSpec(dtype="category", categories=["1", "2.5"])
    cat, err = coerce_column(pd.Series([1.0, 2.5, None, 1.0, float("nan")], name="c"), spec)
    assert err is None and values(cat) == ["1", "2.5", None, "1", None]
    words = pd.Series(["TRUE", " false", "1", None, "0", True], dtype=object, name="b")
    flags, err = coerce_column(words, ColumnSpec(dtype="bool"))
    assert err is None and values(flags) == ["true", "false", "true", None, "false", "true"]
    bad, err = coerce_column(pd.Series(["yes", "true", "yes"], name="b"), ColumnSpec(dtype="bool"))
    assert bad is None and err is not None
    assert (err.column, err.rule, err.rows, err.examples) == ("b", "dtype", 2, [1, 3]) and "'yes'" in err.detail


def test_schema_files_keep_the_column_order_and_refuse_other_json(schema, tmp_path) -> None:
    """validate hands its schema to train as JSON (keys sorted on disk); evaluate rebuilds it from
    the model's signature. Both keep the column order the model's features follow."""
    import json

    from ml_gitops.adapters.io import write_json
    from ml_gitops.config.errors import UserError
    from ml_gitops.core.schema import read_schema, read_signature_schema, schema_document, signature_schema

    path = tmp_path / "schema.json"
    write_json(path, schema_document(schema))
    again = read_schema(path)
    assert again == schema and list(again.columns) == list(schema.columns)
    assert list(json.loads(path.read_text())["columns"]) == sorted(schema.columns)  # sorted on disk

    sig = json.loads(json.dumps(signature(schema), sort_keys=True))
    rebuilt = signature_schema(sig)
    assert rebuilt.feature_columns == schema.feature_columns and rebuilt.target == schema.target

    path.write_text('{"rows": 3}')
    with pytest.raises(UserError, match=r"schema.json: not a schema written by validate"):
        read_schema(path)

    sig_path = tmp_path / "signature.json"
    write_json(sig_path, sig)
    assert read_signature_schema(sig_path) == rebuilt
    for broken in ({k: v for k, v in sig.items() if k != "classes"}, [1, 2], {**sig, "features": 3}):
        write_json(sig_path, broken)
        with pytest.raises(UserError, match=r"signature.json: not a model signature written by train"):
            read_signature_schema(sig_path)
