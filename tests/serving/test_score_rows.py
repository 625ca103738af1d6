"""Batch scoring and /predict share one row validation; malformed CSV lines are rejected, not fatal."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import httpx
import pandas as pd
import pytest

from ..helpers import run
from .servers import Server, first

pytestmark = pytest.mark.slow


def _score(pipeline_repo: Path, bundle: Path, src: Path, tmp_path: Path, *extra: str):
    out, rej = tmp_path / "out.parquet", tmp_path / "rejects.parquet"
    cmd = ["ml-gitops", "score", "--bundle", str(bundle), "--input", str(src), "--output", str(out)]
    proc = run([*cmd, "--rejects", str(rej), "--no-progress", *extra], cwd=pipeline_repo, check=False)
    return proc, out, rej


def _csv_line(values: list[object]) -> str:
    """A row as a CSV line: null as an empty field, booleans as true/false."""
    buf = io.StringIO()
    cells = ["" if v is None else ("true" if v is True else "false" if v is False else v) for v in values]
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue()


def test_malformed_lines_go_to_rejects_with_line_numbers(
    pipeline_repo: Path, bundle: Path, good: list[dict], sig: dict, tmp_path: Path
) -> None:
    names = list(sig["features"])
    rows = [[r[n] for n in names] for r in good[:6]]
    lines = [_csv_line(["id", *names])]  # line 1: header (an extra, carried-through column first)
    for i, row in enumerate(rows[:3]):
        lines.append(_csv_line([f"r{i}", *row]))  # lines 2-4
    good_line = _csv_line(["broken", *rows[3]]).rstrip("\n")
    lines.append(good_line.replace("broken", '"broken', 1) + "\n")  # line 5: unbalanced quote
    lines.append(_csv_line(["r-extra", *rows[3], "one too many"]))  # line 6
    lines.append(_csv_line(["r-short", *rows[3][:-1]]))  # line 7: one field short
    lines.append("\n")  # line 8: blank, skipped
    for i, row in enumerate(rows[3:], start=3):
        lines.append(_csv_line([f"r{i}", *row]))  # lines 9-11
    src = tmp_path / "in.csv"
    src.write_text("".join(lines))

    proc, out, rej = _score(pipeline_repo, bundle, src, tmp_path, "--batch-rows", "4")
    assert proc.returncode == 0, proc.stderr
    assert "3 malformed CSV line(s)" in proc.stderr
    scored = pd.read_parquet(out)
    assert list(scored["id"]) == ["r0", "r1", "r2", "r3", "r4", "r5"]  # the lines after the bad ones too
    rejects = pd.read_parquet(rej).set_index("line")
    assert sorted(rejects.index) == [5, 6, 7]
    assert rejects.loc[5, "reason"] == "line 5: unbalanced quote"
    assert rejects.loc[6, "reason"] == f"line 6: {len(names) + 2} fields, expected {len(names) + 1} (the header's)"
    assert rejects.loc[7, "reason"] == f"line 7: {len(names)} fields, expected {len(names) + 1} (the header's)"
    assert rejects["row"].isna().all()  # not records, so no row number


@pytest.mark.parametrize("content", [b"", b"\n\n"], ids=["zero bytes", "blank lines"])
def test_an_empty_file_is_one_line(pipeline_repo: Path, bundle: Path, tmp_path: Path, content: bytes) -> None:
    src = tmp_path / "empty.csv"
    src.write_bytes(content)
    proc, _, _ = _score(pipeline_repo, bundle, src, tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "empty.csv: file is empty" in lines[0], proc.stderr


def _edge_cases(good: dict, sig: dict) -> dict[str, dict]:
    """Rows a CSV can express (every CSV cell is text, so "12.5" for a number is not among them)."""
    num, spec = first(sig, "float", "int")
    cat, _ = first(sig, "category")
    cases = {
        "valid": good,
        "number null": {**good, num: None},
        "number 'NA'": {**good, num: "NA"},
        "number 'None'": {**good, num: "None"},
        "number 'null'": {**good, num: "null"},
        "number 'abc'": {**good, num: "abc"},
        "category 'NA'": {**good, cat: "NA"},
        "category ''": {**good, cat: ""},
        "category 'None'": {**good, cat: "None"},
        "category unseen": {**good, cat: "never-seen"},
        "category as a number": {**good, cat: 3},
    }
    if spec.get("max") is not None:
        cases["number above max"] = {**good, num: spec["max"] + 1}
        cases["number at max"] = {**good, num: spec["max"]}
    if spec.get("min") is not None:
        cases["number below min"] = {**good, num: spec["min"] - 1}
    return cases


def test_predict_and_batch_agree_row_by_row(
    server: Server, pipeline_repo: Path, bundle: Path, good: list[dict], sig: dict, tmp_path: Path
) -> None:
    cases = _edge_cases(good[0], sig)
    names = list(sig["features"])
    http: dict[str, object] = {}
    for name, row in cases.items():
        r = httpx.post(server.url + "/predict", content=json.dumps(row), headers={"content-type": "application/json"})
        assert r.status_code in (200, 422), (name, r.text)
        http[name] = r.json()["predictions"][0] if r.status_code == 200 else None
    src = tmp_path / "edge.csv"
    src.write_text(
        _csv_line(["case", *names]) + "".join(_csv_line([n, *(r[k] for k in names)]) for n, r in cases.items())
    )
    proc, out, rej = _score(pipeline_repo, bundle, src, tmp_path)
    assert proc.returncode == 0, proc.stderr
    scored = pd.read_parquet(out).set_index("case")
    rejected = set(pd.read_parquet(rej)["case"])
    assert set(scored.index) | rejected == set(cases)
    for name, answer in http.items():
        assert (answer is not None) == (name in scored.index), (name, answer, name in rejected)
        if answer is not None:
            assert scored.loc[name, "prediction"] == answer["prediction"], name
            for cls, p in answer["probabilities"].items():
                assert scored.loc[name, f"proba_{cls}"] == pytest.approx(p, abs=1e-9), (name, cls)
    # The spellings of missing are the same for both: "NA" and "None" are missing, "abc" is not a number.
    _, spec = first(sig, "float", "int")
    _, cspec = first(sig, "category")
    missing = {"number 'NA'", "number 'None'", "number null"}
    assert missing <= (set(scored.index) if spec.get("nullable", True) else rejected)
    missing = {"category 'NA'", "category ''", "category 'None'"}
    assert missing <= (set(scored.index) if cspec.get("nullable", True) else rejected)
    assert {"number 'abc'", "category unseen", "category as a number"} <= rejected
