"""Batch scoring's row checks: each rejected row gets its own reasons, in feature order."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml_gitops.serving.batch import check_rows

FEATURES = {
    "mass": {"dtype": "float", "min": 0, "max": 10, "nullable": True},
    "legs": {"dtype": "int", "nullable": False},
    "island": {"dtype": "category", "categories": ["a", "b"], "nullable": True},
}


def test_reasons_belong_to_their_rows() -> None:
    chunk = pd.DataFrame(
        {
            "mass": [1.0, "heavy", 11.0, None, 2.0],
            "legs": [2, 2.5, 2, None, 4],
            "island": ["a", "zz", None, "b", pd.NA],
        },
        index=[10, 11, 12, 13, 14],  # a chunk from the middle of a file
    )
    frame, bad, reasons = check_rows(chunk, FEATURES)
    assert bad.tolist() == [False, True, True, True, False]
    assert reasons.tolist() == [
        "mass: expected a number; legs: expected an integer; island: unseen category 'zz'",
        "mass: 11.0 outside [0, 10]",
        "legs: missing value",
    ]
    assert frame["mass"].tolist()[0] == 1.0 and np.isnan(frame["mass"].tolist()[3])
    assert frame["island"].tolist() == ["a", "zz", None, "b", None]


def test_a_clean_chunk_has_no_reasons() -> None:
    chunk = pd.DataFrame({"mass": [1.0, 2.0], "legs": [2, 4], "island": pd.array(["a", None], dtype="string")})
    frame, bad, reasons = check_rows(chunk, FEATURES)
    assert not bad.any() and len(reasons) == 0 and frame["island"].tolist() == ["a", None]
