"""Conflicting labels, exact duplicates and train/test leakage are found where they are planted."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ml_gitops.core.consistency import duplicate_rows, label_conflicts, row_hashes, train_test_overlap

FEATURES = ["bill", "flipper", "island"]


def penguins(n: int = 200, seed: int = 0) -> pd.DataFrame:
    """Distinct feature rows (bill is unique), one label each: no conflict, no duplicate."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "bill": np.round(30 + np.arange(n) * 0.1, 1),
            "flipper": rng.integers(170, 230, n),
            "island": rng.choice(["Biscoe", "Dream", "Torgersen"], n),
            "species": rng.choice(["Adelie", "Gentoo"], n),
        }
    )


def test_clean_table_has_nothing_to_report() -> None:
    df = penguins()
    assert label_conflicts(df, FEATURES, "species")["groups"] == 0
    assert duplicate_rows(df)["rows"] == 0


def test_conflicting_labels_are_found_with_missing_values_equal() -> None:
    df = penguins()
    # Group 1: rows 10 and 150 get row 3's features with the other label.
    df.loc[[10, 150], FEATURES] = df.loc[3, FEATURES].to_numpy()
    df.loc[[3, 10], "species"] = "Adelie"
    df.loc[150, "species"] = "Gentoo"
    # Group 2: two rows whose features are both missing bill and island (NaN vs None), labels differ.
    df.loc[[20, 21], "bill"] = [np.nan, np.nan]
    df.loc[[20, 21], "flipper"] = 200
    df["island"] = df["island"].astype(object)
    df.loc[20, "island"] = None
    df.loc[21, "island"] = np.nan
    df.loc[[20, 21], "species"] = ["Adelie", "Gentoo"]
    # Same features and the same label: a duplicate, not a conflict.
    df.loc[40, [*FEATURES, "species"]] = df.loc[41, [*FEATURES, "species"]].to_numpy()

    r = label_conflicts(df, FEATURES, "species", max_examples=10)
    assert (r["groups"], r["rows"]) == (2, 5)
    assert {e["row"] for e in r["examples"]} == {3, 10, 150, 20, 21}
    first = [e for e in r["examples"] if e["group"] == 0]
    assert {e["values"]["species"] for e in first} == {"Adelie", "Gentoo"}
    json.dumps(r, allow_nan=False)


def test_a_missing_label_conflicts_with_a_present_one() -> None:
    df = penguins(10)
    df.loc[5, FEATURES] = df.loc[4, FEATURES].to_numpy()
    df["species"] = df["species"].astype(object)
    df.loc[5, "species"] = None
    assert label_conflicts(df, FEATURES, "species")["groups"] == 1


def test_exact_duplicates_are_counted_beyond_the_first_copy() -> None:
    df = penguins()
    dup = pd.concat([df, df.iloc[[5, 5, 7]]], ignore_index=True)  # row 5 three times, row 7 twice
    r = duplicate_rows(dup, max_examples=3)
    assert (r["rows"], r["groups"]) == (3, 2)
    assert len(r["examples"]) == 3 and {e["row"] for e in r["examples"]} == {5, 200, 201}
    # Over the features only, a row that differs in its label alone is a duplicate too.
    df.loc[9, FEATURES] = df.loc[8, FEATURES].to_numpy()
    assert duplicate_rows(df, FEATURES)["rows"] == 1


def test_duplicate_leaking_from_train_into_test_is_found() -> None:
    df = penguins(300)
    train, test = df.iloc[:200].reset_index(drop=True), df.iloc[200:].reset_index(drop=True)
    test.loc[7, FEATURES] = train.loc[42, FEATURES].to_numpy()  # an exact copy of a training row's features
    test.loc[8, FEATURES] = train.loc[43, FEATURES].to_numpy()
    test.loc[8, "bill"] += 0.05  # a near copy is not a leak
    r = train_test_overlap(train, test, FEATURES)
    assert (r["rows"], r["test_rows"]) == (1, 100)
    assert r["share"] == pytest.approx(0.01)
    (example,) = r["examples"]
    assert (example["row"], example["train_row"]) == (7, 42)
    assert example["values"] == json.loads(train.loc[[42], FEATURES].to_json(orient="records"))[0]
    json.dumps(r, allow_nan=False)


def test_values_compare_equal_across_dtypes_and_missing_markers() -> None:
    ints = pd.DataFrame({"x": pd.Series([1, None, 3], dtype="Int64"), "c": ["a", None, "b"]})
    floats = pd.DataFrame({"x": [1.0, np.nan, 3.0], "c": pd.Categorical(["a", np.nan, "b"])})
    assert (row_hashes(ints, ["x", "c"]) == row_hashes(floats, ["x", "c"])).all()
    assert row_hashes(pd.DataFrame({"x": [0.0]}), ["x"]) == row_hashes(pd.DataFrame({"x": [-0.0]}), ["x"])
    assert train_test_overlap(floats, ints, ["x", "c"])["rows"] == 3


def test_unknown_column_is_named() -> None:
    with pytest.raises(ValueError, match="'mass'"):
        label_conflicts(penguins(), ["mass"], "species")
