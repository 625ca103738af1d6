"""Partial dependence (core/effects.py): a hand-checked linear case, and scikit-learn's own answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.inspection import partial_dependence as sk_partial_dependence
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from ml_gitops.core.effects import effects, grid, partial_dependence


def test_a_linear_model_moves_by_its_slope() -> None:
    frame = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [10.0, 20.0, 30.0, 40.0]})

    def predict(x: pd.DataFrame) -> np.ndarray:
        return (2 * x["a"] + x["b"]).to_numpy()

    mean = partial_dependence(predict, frame, "a", [0.0, 5.0])
    assert mean.shape == (2, 1)
    assert mean[:, 0].tolist() == [25.0, 35.0]  # 2 * v + mean(b) = 2 * v + 25


def test_grids_are_quantiles_of_numbers_and_frequent_categories() -> None:
    assert grid(pd.Series([1.0, np.nan, 2.0, 3.0]), 3) == [1.1, 2.0, 2.9]
    assert grid(pd.Series([1, 1, 1, 2, 9]), 5) == [1.0, 2.0, 8.0]  # integer columns: integer grid
    assert grid(pd.Series(["x", "y", "y", None, "z", "y", "z"]), 2) == ["y", "z"]
    assert grid(pd.Series([None, None], dtype=object), 4) == []


def test_it_matches_scikit_learn_on_a_pipeline_with_a_category() -> None:
    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame({"num": rng.normal(size=n), "cat": rng.choice(["p", "q", "r"], size=n)})
    y = np.where(frame["num"] + (frame["cat"] == "q") > 0.3, "yes", "no")
    pre = ColumnTransformer([("n", StandardScaler(), ["num"]), ("c", OneHotEncoder(), ["cat"])])
    model = make_pipeline(pre, LogisticRegression()).fit(frame, y)

    values = grid(frame["num"], 6)
    ours = effects(model.predict_proba, frame, [("num", 0.5), ("cat", 0.1)], list(model.classes_), 6)
    want = sk_partial_dependence(model, frame, ["num"], custom_values={"num": values}, kind="average")
    np.testing.assert_allclose(ours["features"][0]["mean"]["yes"], want["average"][0], atol=1e-6)
    cats = ours["features"][1]
    want = sk_partial_dependence(model, frame, ["cat"], categorical_features=["cat"], kind="average")
    by_cat = dict(zip(want["grid_values"][0], want["average"][0], strict=True))
    assert [round(by_cat[c], 6) for c in cats["grid"]] == cats["mean"]["yes"]
    assert ours["rows"] == n and ours["outputs"] == ["no", "yes"]


def test_the_model_card_and_the_figure_carry_the_effects(tmp_path) -> None:
    from ml_gitops.adapters.figures import draw_effects
    from ml_gitops.registry.release import effect_tables

    frame = pd.DataFrame({"size": [1.0, 2.0, 3.0, 4.0], "colour": ["red", "blue", "red", "red"]})

    def predict(x: pd.DataFrame) -> np.ndarray:
        p = (x["size"].to_numpy(dtype=float) / 10) + (x["colour"] == "blue").to_numpy() * 0.5
        return np.column_stack([1 - p, p])

    eff = effects(predict, frame, [("size", 0.2), ("colour", 0.1)], ["no", "yes"], 2)
    text = "\n".join(effect_tables(eff))
    assert "## Effect of the top features (partial dependence)" in text and "4 test rows" in text
    assert "### size (importance 0.2000)" in text and "| size | no | yes |" in text
    assert "| 1.1500 | 0.7600 | 0.2400 |" in text  # size's 5th percentile: p = 0.115 + 0.5 * (1 blue of 4)
    assert "| red | 0.7500 | 0.2500 |" in text and "| blue | 0.2500 | 0.7500 |" in text  # mean size 2.5
    assert effect_tables(None) == [] and effect_tables({**eff, "features": []}) == []
    draw_effects(eff, tmp_path / "effects.png")
    assert (tmp_path / "effects.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
