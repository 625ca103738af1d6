"""Batch scoring's row checks: /predict's request model decides, each rejected row gets its own reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml_gitops.serving.batch import check_rows
from ml_gitops.serving.validation import build

FEATURES = {
    "mass": {"dtype": "float", "min": 0, "max": 10, "nullable": True},
    "legs": {"dtype": "int", "nullable": False},
    "island": {"dtype": "category", "categories": ["a", "b"], "nullable": True},
}
MODELS = build({"features": FEATURES, "classes": ["x", "y"]}, max_records=1)


def test_reasons_belong_to_their_rows() -> None:
    chunk = pd.DataFrame(
        {
            "mass": [1.0, "heavy", 11.0, None, 2.0, "NA"],
            "legs": [2, 2.5, 2, None, 4.0, "3"],
            "island": ["a", "zz", None, "b", pd.NA, "None"],
        },
        index=[10, 11, 12, 13, 14, 15],  # a chunk from the middle of a file
    )
    frame, bad, reasons = check_rows(chunk, FEATURES, MODELS)
    assert bad.tolist() == [False, True, True, True, False, False]
    assert reasons.tolist() == [
        "mass: Input should be a valid number; legs: Input should be a valid integer; "
        "island: Input should be 'a' or 'b'",
        "mass: Input should be less than or equal to 10",
        "legs: Input should be a valid integer",  # null in a non-nullable field
    ]
    # The valid rows' values: 4.0 is the integer 4, "NA" and "None" are missing (validation.MISSING_TEXT).
    assert frame["mass"].tolist()[:2] == [1.0, 2.0] and np.isnan(frame["mass"].tolist()[2])
    assert frame["legs"].tolist() == [2, 4, 3]
    assert frame["island"].tolist() == ["a", None, None]


def test_a_clean_chunk_has_no_reasons() -> None:
    chunk = pd.DataFrame({"mass": [1.0, 2.0], "legs": [2, 4], "island": pd.array(["a", None], dtype="string")})
    frame, bad, reasons = check_rows(chunk, FEATURES, MODELS)
    assert not bad.any() and len(reasons) == 0 and frame["island"].tolist() == ["a", None]
