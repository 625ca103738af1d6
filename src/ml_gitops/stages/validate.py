"""validate: check the data against the one schema; all violations at once, hard ones stop the run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import paths
from ..errors import UserError
from ..schema import Violation, check_frame, errors_of
from ..settings import DataSettings, load_settings

if TYPE_CHECKING:
    import pandas as pd

SHOWN = 3


def validate(df: pd.DataFrame, data: DataSettings) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Pure core: the coerced frame and a JSON-ready report."""
    if df.shape[0] == 0:
        raise UserError("dataset has no rows")
    frame, violations = check_frame(df, data.schema_, warn_only=frozenset(data.warn_only))
    errors = errors_of(violations)
    target = frame.get(data.schema_.target, None)
    report = {
        "dataset": data.name,
        "rows": int(df.shape[0]),
        "columns": int(df.shape[1]),
        "passed": not errors,
        "errors": len(errors),
        "warnings": len(violations) - len(errors),
        "violations": [v.to_dict() for v in violations],
        "missing": {c: int(frame[c].isna().sum()) for c in frame.columns},
        "class_counts": (
            {str(k): int(v) for k, v in target.value_counts().sort_index().items()} if target is not None else {}
        ),
    }
    return frame, report


def summary(violations: list[Violation]) -> str:
    shown = "; ".join(v.line() for v in violations[:SHOWN])
    more = f" (+{len(violations) - SHOWN} more)" if len(violations) > SHOWN else ""
    return f"{len(violations)} validation error(s): {shown}{more}"


def main(
    params: Path,
    dataset: Path = paths.DATASET,
    out: Path = paths.VALIDATED,
    report_path: Path = paths.VALIDATION_REPORT,
) -> None:
    import sys

    from ..io import read_table, write_json, write_parquet

    data = load_settings(params).data
    df = read_table(dataset)
    frame, report = validate(df, data)
    violations = [Violation(**v) for v in report["violations"]]
    for v in violations:
        print(f"validate: {v.severity}: {v.line()}", file=sys.stderr)
    errors = errors_of(violations)
    if errors:
        raise UserError(f"{data.source.path}: {summary(errors)}")
    write_parquet(out, frame)
    write_json(report_path, report)
    print(f"validate: {report['rows']} rows passed ({report['warnings']} warning(s)) -> {out}")
