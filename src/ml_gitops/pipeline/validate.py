"""validate: check the data against the one schema; all violations at once, hard ones stop the run.

The dataset is checked batch by batch (`runtime.batch_rows`) as Arrow tables
(no pandas round trip: `schema.check_table`) and the coerced batches stream into
the output, so memory stays flat at any row count; the per-batch findings are
merged into one report (row counts summed, example row numbers global). Whole-column
findings (every value missing, one value only) are judged once the last batch is in:
warnings, unless `data.error_on` lists them.
"""

import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..adapters.io import clear_stale, write_json
from ..adapters.progress import progress, timed
from ..adapters.tables import ParquetSink, open_parquet, read_table
from ..config import paths
from ..config.errors import UserError
from ..config.settings import ConsistencySettings, DataSettings, load_settings
from ..core.consistency import duplicate_rows, label_conflicts
from ..core.schema import EXAMPLE_ROWS, Violation, check_columns, check_table, errors_of, frame_columns, schema_document

log = logging.getLogger(__name__)
SHOWN = 3


class Report:
    """Merges the findings of successive batches into one validation report."""

    def __init__(self, data: DataSettings) -> None:
        self.data = data
        self.rows = 0
        self.columns = 0
        self.violations: dict[tuple[str, str, str], Violation] = {}
        self.missing: dict[str, int] = {}
        self.class_counts: dict[str, int] = {}
        self.extremes: dict[str, tuple[Any, Any]] = {}  # column -> (min, max) of its non-missing values

    def add(self, rows: int, columns: int, table: pa.Table, violations: list[Violation]) -> None:
        """One batch: its input shape, its coerced table and what was found in it."""
        offset = self.rows
        self.rows += rows
        self.columns = max(self.columns, columns)
        for v in violations:
            key = (v.column, v.rule, v.severity)
            shifted = [offset + e for e in v.examples]
            old = self.violations.get(key)
            if old is None:
                self.violations[key] = Violation(v.column, v.rule, v.rows, v.detail, shifted, v.severity)
            elif v.rows:
                examples = (old.examples + shifted)[:EXAMPLE_ROWS]
                self.violations[key] = Violation(
                    old.column, old.rule, old.rows + v.rows, old.detail, examples, old.severity
                )
        for c in table.column_names:
            self.missing[c] = self.missing.get(c, 0) + table.column(c).null_count
            if table.column(c).null_count < table.num_rows:
                mm = pc.min_max(table.column(c)).as_py()
                old_mm = self.extremes.get(c)
                lo, hi = mm["min"], mm["max"]
                if old_mm is not None:
                    lo, hi = min(old_mm[0], lo), max(old_mm[1], hi)
                self.extremes[c] = (lo, hi)
        target = self.data.schema_.target
        if target in table.column_names:
            for item in pc.value_counts(table.column(target)).to_pylist():
                if item["values"] is not None:
                    key = str(item["values"])
                    self.class_counts[key] = self.class_counts.get(key, 0) + int(item["counts"])

    def quality(self) -> list[Violation]:
        """Whole-column findings (all missing, one value): warnings unless listed in ``data.error_on``."""
        found = []
        for c in self.missing:
            if self.rows and self.missing[c] == self.rows:
                found.append(Violation(c, "all_null", 0, "every value is missing: the column carries no signal"))
            elif c in self.extremes and self.extremes[c][0] == self.extremes[c][1]:
                found.append(Violation(c, "constant", 0, f"every value is {self.extremes[c][0]!r}: no signal"))
        refuse = set(self.data.error_on)
        return [
            Violation(v.column, v.rule, v.rows, v.detail, v.examples, "error" if v.rule in refuse else "warning")
            for v in found
        ]

    @property
    def all_violations(self) -> list[Violation]:
        return [*self.violations.values(), *self.quality()]

    def to_dict(self) -> dict[str, Any]:
        violations = self.all_violations
        errors = errors_of(violations)
        return {
            "dataset": self.data.name,
            "rows": self.rows,
            "columns": self.columns,
            "passed": not errors,
            "errors": len(errors),
            "warnings": len(violations) - len(errors),
            "violations": [v.to_dict() for v in violations],
            "missing": dict(self.missing),
            "class_counts": dict(sorted(self.class_counts.items())),
        }


def validate_batches(batches: Iterable[pa.Table], data: DataSettings) -> Iterator[tuple[pa.Table, pa.Table, Report]]:
    """Core, streaming: yield (input batch, coerced batch, report so far); complete after the last."""
    report = Report(data)
    warn = frozenset(data.warn_only)
    for table in batches:
        out, violations = check_table(table, data.schema_, warn_only=warn, max_abs=data.max_abs_value)
        report.add(table.num_rows, table.num_columns, out, violations)
        yield table, out, report
    if report.rows == 0:
        raise UserError("dataset has no rows")


def validate(df: pd.DataFrame, data: DataSettings) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Pure core: the coerced frame and a JSON-ready report (whole frame in memory)."""
    if df.shape[0] == 0:
        raise UserError("dataset has no rows")
    if df.columns.has_duplicates:
        dup = df.columns[df.columns.duplicated()][0]
        raise UserError(f"column {str(dup)!r}: duplicate_column: the header names this column more than once")
    out, violations = check_columns(
        frame_columns(df), data.schema_, warn_only=frozenset(data.warn_only), max_abs=data.max_abs_value
    )
    report = Report(data)
    report.add(int(df.shape[0]), int(df.shape[1]), out, violations)
    return out.to_pandas(), report.to_dict()


def summary(violations: list[Violation]) -> str:
    shown = "; ".join(v.line() for v in violations[:SHOWN])
    more = f" (+{len(violations) - SHOWN} more)" if len(violations) > SHOWN else ""
    return f"{len(violations)} validation error(s): {shown}{more}"


def consistency(
    frame: pd.DataFrame, data: DataSettings, cfg: ConsistencySettings
) -> tuple[dict[str, Any], list[Violation]]:
    """Pure core: conflicting labels and exact duplicates, as a report section and findings under the rule."""
    schema = data.schema_
    out: dict[str, Any] = {}
    found: list[Violation] = []
    checks = {
        "conflicting_labels": (cfg.conflicting_labels, schema.target, "rows share their features but not their label"),
        "duplicate_rows": (cfg.duplicate_rows, "(every column)", "rows repeat an earlier row verbatim"),
    }
    for rule, (mode, column, what) in checks.items():
        if mode == "off":
            continue
        if rule == "conflicting_labels":
            res = label_conflicts(frame, schema.feature_columns, schema.target, max_examples=cfg.max_examples)
        else:
            res = duplicate_rows(frame, max_examples=cfg.max_examples)
        out[rule] = {"rule": mode, **res}
        if res["rows"]:
            severity = "error" if mode == "fail" else "warning"
            rows = sorted({e["row"] + 1 for e in res["examples"]})[:EXAMPLE_ROWS]
            detail = f"{what} ({res['groups']} group(s), {100 * res['share']:.2f}% of rows; rule {mode})"
            found.append(Violation(column, rule, res["rows"], detail, rows, severity))
    return out, found


def main(
    params: Path,
    dataset: Path = paths.DATASET,
    out: Path = paths.VALIDATED,
    report_path: Path = paths.VALIDATION_REPORT,
    schema_out: Path = paths.SCHEMA,
) -> None:
    clear_stale(out, report_path, schema_out)
    settings = load_settings(params)
    data, batch_rows = settings.data, settings.runtime.batch_rows
    if not dataset.exists():
        raise UserError(f"{dataset}: file not found")
    pf = open_parquet(dataset)
    log.info("validate: %d rows from %s, in batches of %d", pf.metadata.num_rows, dataset, batch_rows)
    batches = (pa.Table.from_batches([b]) for b in pf.iter_batches(batch_size=batch_rows))
    batches = progress(batches, desc="validate", total=-(-pf.metadata.num_rows // batch_rows), unit="batch")
    with timed(log, "validate: check and write"), ParquetSink(out, batch_rows) as sink:
        report = Report(data)
        for _table, coerced, report in validate_batches(batches, data):
            # After a hard error: keep checking, stop writing (whole-column findings are judged at the end).
            if not errors_of(list(report.violations.values())):
                sink.write(coerced)
        violations = report.all_violations
        for v in violations:
            log.warning("validate: %s: %s", v.severity, v.line())
        errors = errors_of(violations)
        if errors:
            raise UserError(f"{data.source.path}: {summary(errors)}")  # the sink drops its temp file
        sink.close()
    with timed(log, "validate: label consistency"):
        checked, found = consistency(read_table(out), data, settings.validate_.consistency)
    for v in found:
        log.warning("validate: %s: %s", v.severity, v.line())
    if errors_of(found):
        out.unlink()
        raise UserError(f"{data.source.path}: {summary(errors_of(found))} (validate.consistency in conf/)")
    document = report.to_dict()
    document["consistency"] = {**checked, "findings": [v.to_dict() for v in found]}
    write_json(report_path, document)
    write_json(schema_out, schema_document(data.schema_))  # the schema the stages after this one use
    log.info("validate: %d rows passed (%d warning(s)) -> %s", report.rows, len(violations) - len(errors), out)
