"""Values a model must never see are refused by validate in one line; dead columns are reported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ml_gitops.adapters.io import read_json
from ml_gitops.adapters.params import compose_text
from ml_gitops.config.errors import UserError
from ml_gitops.pipeline import validate

from ..helpers import ROOT, run_main

SCHEMA = {
    "target": "y",
    "columns": {
        "y": {"dtype": "category", "categories": ["a", "b"], "nullable": False},
        "x": {"dtype": "float"},  # no range: only finiteness and magnitude guard it
        "sex": {"dtype": "category", "categories": ["female", "male"]},
    },
}


def params(tmp_path: Path, data_path: str = "data.csv", **data: object) -> Path:
    raw = yaml.safe_load(compose_text(ROOT / "conf", ["data=csv_file"]))
    raw["data"]["source"]["path"] = data_path
    raw["data"]["schema"] = SCHEMA
    raw["data"].update(data)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def run_validate(tmp_path: Path, df: pd.DataFrame, **data: object) -> dict:
    dataset = tmp_path / "dataset.parquet"
    df.to_parquet(dataset)
    out = tmp_path / "out"
    validate.main(params(tmp_path, **data), dataset, out / "v.parquet", out / "report.json", out / "schema.json")
    return read_json(out / "report.json")


def frame(x: list[float], **extra: list) -> pd.DataFrame:
    n = len(x)
    return pd.DataFrame({"y": (["a", "b"] * n)[:n], "x": x, "sex": (["male", "female"] * n)[:n], **extra})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (np.inf, "column 'x': non_finite, 1 row(s): infinite value inf, e.g. row 3"),
        (-np.inf, "column 'x': non_finite, 1 row(s): infinite value -inf, e.g. row 3"),
        (1e308, "column 'x': magnitude, 1 row(s): |value| above data.max_abs_value 1e+150, e.g. 1e+308, e.g. row 3"),
    ],
)
def test_non_finite_and_absurd_numbers_are_refused(tmp_path: Path, value: float, expected: str) -> None:
    with pytest.raises(UserError) as err:
        run_validate(tmp_path, frame([1.0, 2.0, value, 4.0]))
    assert str(err.value) == f"data.csv: 1 validation error(s): {expected}"
    assert "\n" not in str(err.value)


def test_the_magnitude_limit_is_configurable(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"magnitude, 1 row\(s\): \|value\| above data.max_abs_value 1000"):
        run_validate(tmp_path, frame([1.0, 2.0, 5000.0]), max_abs_value=1000.0)
    assert run_validate(tmp_path, frame([1.0, 2.0, 1e12]))["passed"] is True  # big but sane: the default allows it


def test_all_null_and_constant_columns_warn_by_default(tmp_path: Path) -> None:
    df = frame([1.0, 1.0, 1.0], sex=[None, None, None])
    report = run_validate(tmp_path, df)
    found = {(v["column"], v["rule"], v["severity"]) for v in report["violations"]}
    assert report["passed"] is True
    assert found == {("sex", "all_null", "warning"), ("x", "constant", "warning")}


def test_error_on_makes_them_refusals(tmp_path: Path) -> None:
    with pytest.raises(UserError) as err:
        run_validate(tmp_path, frame([1.0, 2.0, 3.0], sex=[None, None, None]), error_on=["all_null"])
    assert str(err.value) == (
        "data.csv: 1 validation error(s): column 'sex': all_null: every value is missing: the column carries no signal"
    )


def test_a_duplicate_header_is_one_line(tmp_path: Path) -> None:
    """ingest then validate on `sex,sex`: exit 2 and one error line naming the column, no traceback."""
    (tmp_path / "data.csv").write_text("x,sex,sex,y\n1.0,male,female,a\n2.0,female,male,b\n")
    p = params(tmp_path, str(tmp_path / "data.csv"))
    ds = tmp_path / "ds.parquet"
    assert run_main(["-q", "ingest", "--params", str(p), "--out", str(ds)], cwd=tmp_path).returncode == 0
    out = tmp_path / "out"
    args = ["validate", "--params", str(p), "--dataset", str(ds), "--out", str(out / "v.parquet")]
    args += ["--report", str(out / "r.json"), "--schema-out", str(out / "s.json")]
    done = run_main(["-q", *args], cwd=tmp_path)  # an uncaught exception (a traceback) fails the test here
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("ml-gitops")]  # the command's verdict
    assert errors == [
        f"ml-gitops validate: error: {tmp_path / 'data.csv'}: 1 validation error(s): "
        "column 'sex': duplicate_column: the header names this column more than once"
    ]
    assert "Traceback" not in done.stderr
