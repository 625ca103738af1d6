"""The schema draft proposes a kind per column, with a reason a person can check."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_gitops.core.draft import DraftOptions, draft


def frame(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "signup": (pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 900, n), unit="D")).astype(str),
            "plan": rng.choice(["basic", "pro"], n),
            "comment": rng.choice(["slow support and long waits", "happy with the product so far"], n),
            "code": [f"c{i % 120}" for i in range(n)],
            "spend": np.where(rng.random(n) < 0.1, np.nan, rng.gamma(2.0, 20.0, n)),
            "const": 1,
            "empty": np.nan,
            "churned": rng.choice(["no", "yes"], n),
        }
    )


def test_kinds_ranges_and_reasons() -> None:
    d = draft(frame(), "churn", {"kind": "file", "path": "data/raw/churn.csv", "format": "csv"})
    schema = d.config["schema"]
    cols = schema["columns"]
    assert schema["target"] == "churned" and schema["task"] == "classification"
    assert cols["churned"] == {"dtype": "category", "categories": ["no", "yes"], "nullable": False}
    assert cols["customer_id"]["dtype"] == "id"
    assert cols["signup"]["dtype"] == "date"
    assert cols["comment"]["dtype"] == "text"
    assert cols["plan"] == {"dtype": "category", "categories": ["basic", "pro"], "nullable": False}
    assert cols["code"] == {"dtype": "category", "feature": False, "nullable": False}
    assert cols["spend"]["dtype"] == "float" and cols["spend"]["nullable"] is True
    assert cols["spend"]["min"] == 0.0  # a non-negative quantity stays non-negative
    assert cols["empty"]["feature"] is False
    lines = dict(line.split(": ", 1) for line in d.decisions if not line.startswith("churned"))
    assert "constant" in lines["const"] and "every value is missing" in lines["empty"]
    assert "left out of the model" in lines["code"]
    assert any(line.startswith("churned: target (the last column") for line in d.decisions)


def test_regression_target_and_explicit_target() -> None:
    df = pd.DataFrame({"x": np.linspace(0, 1, 200), "y": np.linspace(10, 500, 200), "label": ["a", "b"] * 100})
    d = draft(df, "r", {}, DraftOptions(target="y"))
    assert d.config["schema"]["task"] == "regression"
    assert d.config["schema"]["columns"]["y"]["dtype"] == "float"
    with pytest.raises(ValueError, match="'nope' is not in the file"):
        draft(df, "r", {}, DraftOptions(target="nope"))
