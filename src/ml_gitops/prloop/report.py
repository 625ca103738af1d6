"""The pull-request report: this branch's pipeline outputs against its base revision.

Pure core: `compare` turns two `Side`s (what each revision produced) and the
gate/evaluate settings into a `Comparison`; `render_markdown` and
`draw_plots` turn that into the PR comment and its PNGs. `collect_head` and
`collect_base` are the only functions that touch files, git or DVC.

Why a *paired* bootstrap: the two models are scored on the same test rows, so
the row-to-row noise cancels in the delta and a real 2-point drop shows up
where two independent intervals would overlap. That only holds when the test
set is the same on both sides, so the report checks it (dvc.lock hash of the
test split, else the labels row by row) and claims no significance otherwise.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure  # no pyplot: no global figure state

from ..adapters import dvc, git, revision
from ..adapters.io import atomic_path
from ..config import paths
from ..config.settings import EvaluateSettings, GateSettings
from ..core.metrics import LOWER_IS_BETTER, METRICS, REGRESSION_METRICS, baseline_verdict, paired_delta, subsample
from ..core.predictions import SLICE_PREFIX, read_predictions
from ..core.slices import SliceColumn, compare_slices, paired_slice_deltas, slice_regressions

# Plot CSVs the report draws side by side: figure name -> (kind, title).
PLOT_KINDS: dict[str, tuple[str, str]] = {
    "confusion": ("confusion", "Confusion matrix"),
    "roc": ("curve", "ROC (one vs rest)"),
    "precision_recall": ("curve", "Precision-recall"),
    "predicted_vs_actual": ("scatter", "Predicted vs actual"),
    "residuals": ("scatter", "Residuals"),
}
SCATTER_AXES: dict[str, tuple[str, str]] = {
    "predicted_vs_actual": ("actual", "predicted"),
    "residuals": ("predicted", "residual"),
}
CURVE_AXES: dict[str, tuple[str, str]] = {"roc": ("fpr", "tpr"), "precision_recall": ("recall", "precision")}
# Entries of dvc.lock that are code or model/report outputs rather than data.
CODE_SUFFIXES: tuple[str, ...] = (".py",)
OUTPUT_PREFIXES: tuple[str, ...] = ("models/", "reports/")
MAX_VIOLATIONS_SHOWN = 5
GATE_PARAMS_PREFIX = "gate."


@dataclass(frozen=True)
class Side:
    """What one revision's pipeline produced. ``None`` fields did not exist there."""

    label: str
    metrics: dict[str, Any] | None = None
    validation: dict[str, Any] | None = None
    lock: dict[str, str] = field(default_factory=dict)  # path -> md5 from dvc.lock
    predictions: pd.DataFrame | None = None
    predictions_note: str = ""
    plots: dict[str, str] = field(default_factory=dict)  # "roc/Adelie.csv" -> CSV text
    training: dict[str, Any] | None = None
    slices: dict[str, Any] | None = None  # reports/slices.json
    leakage: dict[str, Any] | None = None  # reports/leakage.json
    source: str = ""  # how the outputs were obtained when not simply read (e.g. rebuilt from git)
    unavailable: str = ""  # why this side's outputs could not be obtained: nothing can be compared


CANNOT_COMPARE = "cannot compare with"


@dataclass(frozen=True)
class MetricRow:
    name: str
    base: float | None
    head: float | None
    delta: float | None
    ci: tuple[float, float] | None  # paired-bootstrap interval of the delta
    status: str


@dataclass(frozen=True)
class GateVerdict:
    passed: bool
    failures: list[str]
    notes: list[str]

    cannot_compare: bool = False

    @property
    def line(self) -> str:
        """The one-line reason printed by the gate and shown at the top of the report."""
        if self.cannot_compare:
            return "; ".join(self.failures)
        if self.passed:
            return "PASS: " + ("; ".join(self.notes) if self.notes else "all rules met")
        return "FAIL: " + "; ".join(self.failures)


@dataclass(frozen=True)
class Comparison:
    base_label: str
    head_label: str
    rows: list[MetricRow]
    paired: bool
    pairing_note: str
    gate: GateVerdict
    params: list[tuple[str, Any, Any]] | None
    params_note: str
    data: list[tuple[str, str | None, str | None]]
    counts: list[tuple[str, Any, Any]]
    validation: tuple[dict[str, Any] | None, dict[str, Any] | None]
    confidence: float
    n_bootstrap: int
    slice_deltas: dict[str, Any] | None = None
    leakage: tuple[dict[str, Any] | None, dict[str, Any] | None] = (None, None)


# ------------------------------------------------------------------ pure core
def metric_names(base: dict[str, Any] | None, head: dict[str, Any] | None) -> list[str]:
    """The known metrics first (in their usual order), then any others either side reports."""
    seen: list[str] = []
    for m in (base or {}, head or {}):
        for k, v in m.items():
            if k.endswith(("_ci_low", "_ci_high")) or k == "n_test" or not isinstance(v, int | float):
                continue
            if k not in seen:
                seen.append(k)
    known = [m for m in METRICS + REGRESSION_METRICS if m in seen]
    return known + sorted(m for m in seen if m not in known)


def same_test_set(base: Side, head: Side) -> tuple[bool, str]:
    """Whether both sides scored the same rows; the reason, in words, either way."""
    test = paths.TEST.as_posix()
    hb, hh = base.lock.get(test), head.lock.get(test)
    if hb and hh and hb != hh:
        return False, f"the test set changed ({test} md5 {hb[:8]} → {hh[:8]})"
    if base.predictions is None or head.predictions is None:
        return False, base.predictions_note or head.predictions_note or "predictions unavailable"
    pb, ph = base.predictions, head.predictions
    if len(pb) != len(ph):
        return False, f"the test set changed ({len(pb)} → {len(ph)} rows)"
    if not (pb["actual"].astype(str).to_numpy() == ph["actual"].astype(str).to_numpy()).all():
        return False, "the test set changed (labels differ row by row)"
    classes_b = [c for c in pb.columns if c.startswith("proba_")]
    classes_h = [c for c in ph.columns if c.startswith("proba_")]
    if sorted(classes_b) != sorted(classes_h):
        return False, "the classes changed, so the two models' probabilities cannot be paired"
    return True, f"same {len(ph)} test rows"


def _paired(base: Side, head: Side, cfg: EvaluateSettings) -> dict[str, tuple[float, float, float]]:
    assert base.predictions is not None and head.predictions is not None
    pb = base.predictions.sort_values("row", kind="stable").reset_index(drop=True)
    ph = head.predictions.sort_values("row", kind="stable").reset_index(drop=True)
    # Same column order on both sides so class indices agree.
    pb = pb[list(ph.columns)] if set(pb.columns) == set(ph.columns) else pb
    b = subsample(read_predictions(pb), cfg.bootstrap_max_rows, cfg.seed)
    h = subsample(read_predictions(ph), cfg.bootstrap_max_rows, cfg.seed)
    return paired_delta(b, h, cfg.n_bootstrap, cfg.confidence, cfg.seed)


def _improvement(name: str, delta: float) -> float:
    """Positive means better, whatever the metric's direction."""
    return -delta if name in LOWER_IS_BETTER else delta


def _status(name: str, delta: float, ci: tuple[float, float] | None, unpaired_reason: str) -> str:
    if ci is None:
        return f"no interval: {unpaired_reason}"
    lo, hi = ci
    if delta == 0 and lo == 0 and hi == 0:
        return "unchanged"
    if math.isnan(lo) or math.isnan(hi):
        return "no interval (undefined on resamples)"
    if lo > 0 or hi < 0:
        return "better" if _improvement(name, delta) > 0 else "worse"
    return "no significant change"


def metric_rows(base: Side, head: Side, cfg: EvaluateSettings) -> tuple[list[MetricRow], bool, str]:
    paired, why = same_test_set(base, head)
    deltas = _paired(base, head, cfg) if paired else {}
    rows = []
    for name in metric_names(base.metrics, head.metrics):
        b = (base.metrics or {}).get(name)
        h = (head.metrics or {}).get(name)
        if b is None or h is None:
            status = "only on this branch" if b is None else "only on the base"
            if base.metrics is None:
                status = "new (the base has no metrics)"
            rows.append(MetricRow(name, b, h, None, None, status))
            continue
        delta = float(h) - float(b)
        ci = (deltas[name][1], deltas[name][2]) if name in deltas else None
        rows.append(MetricRow(name, float(b), float(h), delta, ci, _status(name, delta, ci, why)))
    if base.metrics is None:
        note = "The base has no metrics yet (first PR, or the base never ran the pipeline): nothing to compare."
    elif paired:
        note = (
            f"Paired bootstrap ({cfg.n_bootstrap} resamples) over the {why}: "
            "an interval that excludes 0 is a real difference."
        )
    else:
        note = f"No confidence interval for the deltas: {why}. The deltas are not claimed significant."
    return rows, paired, note


def gate_verdict(rows: list[MetricRow], head_metrics: dict[str, Any] | None, gate: GateSettings) -> GateVerdict:
    """Floors on this branch, and no *significant* regression beyond the allowed margin."""
    failures: list[str] = []
    notes: list[str] = []
    head_metrics = head_metrics or {}
    for name, floor in sorted(gate.floors.items()):
        if name not in head_metrics:
            failures.append(f"{name} is missing from {paths.METRICS.as_posix()} (floor {floor:g})")
            continue
        value = float(head_metrics[name])
        lower = name in LOWER_IS_BETTER
        if (value > floor) if lower else (value < floor):
            failures.append(f"{name} = {value:.4f} {'>' if lower else '<'} floor {floor:g}")
    if gate.floors and not failures:
        notes.append(f"{len(gate.floors)} floor(s) met")
    if gate.baseline and "baseline" in head_metrics:  # the relative floor, as the pipeline's gate judges it
        relative, skipped = baseline_verdict(head_metrics["baseline"], gate.baseline)
        failures += relative
        judged = len(gate.baseline) - len(skipped)
        if judged and not relative:
            notes.append(f"beats the baseline by its margin on {judged} metric(s)")
    regression = "rmse" in head_metrics  # a margin or allowed drop on the other task's metric does not apply
    by_name = {r.name: r for r in rows}
    for name, allowed in sorted(gate.max_regression.items()):
        if head_metrics and (name in REGRESSION_METRICS) != regression:
            continue
        row = by_name.get(name)
        if row is None or row.delta is None:
            notes.append(f"{name}: no base value, regression not checked")
            continue
        drop = -_improvement(name, row.delta)
        if drop <= allowed:
            continue
        if row.ci is None:
            notes.append(f"{name} worse by {drop:.4f} but no paired interval, not counted")
        elif row.status == "worse":
            lo, hi = row.ci
            failures.append(
                f"{name} worse by {drop:.4f} (> {allowed:g} allowed; CI of delta [{lo:+.4f}, {hi:+.4f}] excludes 0)"
            )
        else:
            notes.append(f"{name} worse by {drop:.4f} but its interval includes 0, not counted")
    return GateVerdict(not failures, failures, notes)


def slice_deltas(base: Side, head: Side, cfg: EvaluateSettings, paired: bool) -> dict[str, Any] | None:
    """Per-slice deltas: paired bootstrap when both predictions carry the slice columns, else CI overlap."""
    if base.slices is None or head.slices is None:
        return None
    spec = [SliceColumn(c.column, tuple(c.edges), c.quantiles) for c in cfg.slices.columns]
    wanted = [SLICE_PREFIX + c.column for c in cfg.slices.columns]
    pb, ph = base.predictions, head.predictions
    if paired and pb is not None and ph is not None and all(c in pb and c in ph for c in wanted):
        pb = pb.sort_values("row", kind="stable").reset_index(drop=True)
        ph = ph.sort_values("row", kind="stable").reset_index(drop=True)
        frame = ph[wanted].rename(columns=lambda c: c.removeprefix(SLICE_PREFIX))
        try:
            return paired_slice_deltas(
                ph["actual"].to_numpy(),
                pb["predicted"].to_numpy(),
                ph["predicted"].to_numpy(),
                frame,
                spec,
                "classification",
                n_boot=cfg.n_bootstrap,
                confidence=cfg.confidence,
                seed=cfg.seed,
                min_rows=cfg.slices.min_rows,
            )
        except ValueError:
            pass  # the slice spec changed in this PR: fall back to the two reports
    return compare_slices(base.slices, head.slices)


def slice_gate(base: Side, head: Side, gate: GateSettings) -> tuple[list[str], list[str]]:
    """(failures, notes) of gate.max_slice_regression: a judged slice whose head interval lies past the drop."""
    if not gate.max_slice_regression:
        return [], []
    if base.slices is None or head.slices is None:
        return [], ["slices: no slice report on both sides, slice regression not checked"]
    result = slice_regressions(base.slices, head.slices, gate.max_slice_regression, gate.min_slice_rows)
    failures = [
        f"slice {f['slice']}: {f['metric']} {f['base']:.4f} -> {f['head']:.4f} "
        f"(CI [{f['head_ci_low']:.4f}, {f['head_ci_high']:.4f}] beyond the {f['max_drop']:g} allowed)"
        for f in result["failures"]
    ]
    notes = []
    if result["not_judged"]:
        notes.append(f"{len(result['not_judged'])} slice(s) under {result['min_rows']} rows not judged")
    return failures, notes


def data_changes(base: Side, head: Side) -> list[tuple[str, str | None, str | None]]:
    """(path, base md5, head md5) for every data file either dvc.lock records."""
    names = sorted(
        p
        for p in set(base.lock) | set(head.lock)
        if not p.endswith(CODE_SUFFIXES) and not p.startswith(OUTPUT_PREFIXES)
    )
    return [(p, base.lock.get(p), head.lock.get(p)) for p in names]


def row_counts(base: Side, head: Side) -> list[tuple[str, Any, Any]]:
    def get(d: dict[str, Any] | None, key: str) -> Any:
        return None if d is None else d.get(key)

    return [
        ("dataset rows", get(base.validation, "rows"), get(head.validation, "rows")),
        ("train rows", get(base.training, "rows"), get(head.training, "rows")),
        ("test rows", get(base.metrics, "n_test"), get(head.metrics, "n_test")),
    ]


def compare(
    base: Side,
    head: Side,
    gate: GateSettings,
    evaluate: EvaluateSettings,
    params: list[tuple[str, Any, Any]] | None = None,
    params_note: str = "",
) -> Comparison:
    rows, paired, note = metric_rows(base, head, evaluate)
    if base.source:
        note = f"{note} Base outputs {base.source}."
    verdict = gate_verdict(rows, head.metrics, gate)
    slice_failures, slice_notes = slice_gate(base, head, gate)
    if slice_failures or slice_notes:
        verdict = GateVerdict(
            verdict.passed and not slice_failures, verdict.failures + slice_failures, verdict.notes + slice_notes
        )
    if base.unavailable:
        # Fail closed: without the base's outputs no regression can be ruled out.
        verdict = GateVerdict(False, [f"{CANNOT_COMPARE} {base.label.strip('`')}: {base.unavailable}"], [], True)
    return Comparison(
        base_label=base.label,
        head_label=head.label,
        rows=rows,
        paired=paired,
        pairing_note=note,
        gate=verdict,
        params=params,
        params_note=params_note,
        data=data_changes(base, head),
        counts=row_counts(base, head),
        validation=(base.validation, head.validation),
        confidence=evaluate.confidence,
        n_bootstrap=evaluate.n_bootstrap,
        slice_deltas=slice_deltas(base, head, evaluate, paired),
        leakage=(base.leakage, head.leakage),
    )


# ------------------------------------------------------------------ markdown
def _num(v: Any, signed: bool = False) -> str:
    if v is None:
        return "—"
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:+d}" if signed else str(v)
    if isinstance(v, float):
        return f"{v:+.4f}" if signed else f"{v:.4f}"
    return str(v)


def _cell(v: Any) -> str:
    if v is None:
        return "—"
    text = str(v).replace("|", "\\|").replace("\n", " ")
    return f"`{text}`"


STATUS_MARK = {"better": "✅ better", "worse": "❌ worse", "unchanged": "unchanged"}


def _metrics_table(c: Comparison) -> list[str]:
    pct = f"{c.confidence:.0%}"
    out = [
        f"| metric | base | this branch | Δ | {pct} CI of Δ | verdict |",
        "|---|---:|---:|---:|---|---|",
    ]
    for r in c.rows:
        arrow = "↓" if r.name in LOWER_IS_BETTER else "↑"
        ci = f"[{r.ci[0]:+.4f}, {r.ci[1]:+.4f}]" if r.ci is not None else "—"
        out.append(
            f"| {r.name} {arrow} | {_num(r.base)} | {_num(r.head)} | {_num(r.delta, signed=True)} | {ci} "
            f"| {STATUS_MARK.get(r.status, r.status)} |"
        )
    return out


def _params_section(c: Comparison) -> list[str]:
    out = ["### Params changed", ""]
    if c.params is None:
        return [*out, f"_Not available: {c.params_note}_", ""]
    changed = [(k, o, n) for k, o, n in c.params if o != n]
    if not changed:
        return [*out, "No params changed.", ""]
    out += ["| param | base | this branch |", "|---|---|---|"]
    out += [f"| `{k}` | {_cell(o)} | {_cell(n)} |" for k, o, n in changed]
    return [*out, ""]


def _data_section(c: Comparison) -> list[str]:
    out = ["### Data", ""]
    changed = [(p, b, h) for p, b, h in c.data if b != h]
    if not c.data:
        out.append("_No data hashes in dvc.lock._")
    elif not changed:
        out.append(f"No data changed ({len(c.data)} files with the same hashes in dvc.lock).")
    else:
        out += ["| file (dvc.lock md5) | base | this branch |", "|---|---|---|"]
        out += [f"| `{p}` | {_cell(b and b[:8])} | {_cell(h and h[:8])} |" for p, b, h in changed]
        if len(changed) < len(c.data):
            out += ["", f"{len(c.data) - len(changed)} other data file(s) unchanged."]
    out += ["", "| rows | base | this branch |", "|---|---:|---:|"]
    out += [f"| {name} | {_num(b)} | {_num(h)} |" for name, b, h in c.counts]
    return [*out, ""]


def _validation_section(c: Comparison) -> list[str]:
    base, head = c.validation
    out = ["### Validation", ""]
    if head is None:
        return [*out, f"_No {paths.VALIDATION_REPORT.as_posix()} on this branch._", ""]

    def val(d: dict[str, Any] | None, key: str) -> str:
        if d is None or key not in d:
            return "—"
        v = d[key]
        return ("yes" if v else "no") if isinstance(v, bool) else str(v)

    out += ["| | base | this branch |", "|---|---:|---:|"]
    for key in ("passed", "rows", "errors", "warnings"):
        out.append(f"| {key} | {val(base, key)} | {val(head, key)} |")
    missing = head.get("missing") or {}
    if any(missing.values()):
        out += ["", "Missing values on this branch: " + ", ".join(f"`{k}` {v}" for k, v in missing.items() if v)]
    violations = head.get("violations") or []
    if violations:
        out += ["", f"Violations on this branch ({len(violations)}):"]
        out += [f"- {_violation(v)}" for v in violations[:MAX_VIOLATIONS_SHOWN]]
        if len(violations) > MAX_VIOLATIONS_SHOWN:
            out.append(f"- … and {len(violations) - MAX_VIOLATIONS_SHOWN} more in `{paths.VALIDATION_REPORT}`")
    return [*out, ""]


def _consistency_section(c: Comparison) -> list[str]:
    """Label conflicts, duplicates (validate) and train/test leakage (evaluate) on both sides."""
    (bv, hv), (bl, hl) = c.validation, c.leakage

    def count(report: dict[str, Any] | None, key: str) -> str:
        found = ((report or {}).get("consistency") or {}).get(key)
        return "—" if found is None else str(found["rows"])

    def leaked(report: dict[str, Any] | None) -> str:
        return "—" if report is None else f"{report['rows']} of {report['test_rows']}"

    if hv is None and hl is None:
        return []
    out = ["### Label consistency and leakage", "", "| rows | base | this branch |", "|---|---:|---:|"]
    out.append(f"| conflicting labels | {count(bv, 'conflicting_labels')} | {count(hv, 'conflicting_labels')} |")
    out.append(f"| exact duplicates | {count(bv, 'duplicate_rows')} | {count(hv, 'duplicate_rows')} |")
    out.append(f"| test rows seen in training | {leaked(bl)} | {leaked(hl)} |")
    if hl and hl["rows"]:
        out += [
            "",
            f"<sub>{hl['rows']} test row(s) have features that also occur in training: "
            "their metrics are inflated.</sub>",
        ]
    return [*out, ""]


def _slices_section(c: Comparison) -> list[str]:
    """The per-slice deltas that are significant (and judged): where this branch got better or worse."""
    d = c.slice_deltas
    if d is None:
        return []
    out = ["### Slices", ""]
    rows = [
        (s, m, v)
        for s in d["slices"]
        if s["judged"]
        for m, v in s["metrics"].items()
        if v["significant"] and v["delta"] is not None
    ]
    how = "paired bootstrap" if d["method"] == "paired_bootstrap" else "non-overlapping intervals"
    if not rows:
        judged = sum(s["judged"] for s in d["slices"])
        return [*out, f"No significant per-slice change ({judged} judged slice(s), {how}).", ""]
    out += ["| slice | metric | base | this branch | Δ |", "|---|---|---:|---:|---:|"]
    out += [
        f"| `{s['name']}` | {m} | {_num(v['base'])} | {_num(v['head'])} | {_num(v['delta'], signed=True)} |"
        for s, m, v in rows
    ]
    return [*out, "", f"<sub>Significant by {how}; slices under the minimum size are not judged.</sub>", ""]


def _violation(v: Any) -> str:
    if isinstance(v, dict):
        return "; ".join(f"{k}: {v[k]}" for k in sorted(v))
    return str(v)


def _plots_section(figures: list[str], plots_url: str | None, base_label: str) -> list[str]:
    out = ["### Plots: base (left) | this branch (right)", ""]
    if not figures:
        return [*out, "_No plot data on either side._", ""]
    if plots_url:
        links = ", ".join(f"`{Path(f).name}`" for f in figures)
        return [
            *out,
            f"The side-by-side PNGs ({links}) are in the `pr-report` artifact of [this workflow run]({plots_url}): "
            "they stay on GitHub instead of a third-party image host.",
            "",
        ]
    for f in figures:
        out += [f"![{Path(f).stem}: base {base_label.strip('`')} | this branch]({f})", ""]
    return out


def render_markdown(c: Comparison, figures: list[str], plots_url: str | None = None) -> str:
    """The PR comment. ``figures`` are paths relative to the markdown file."""
    verdict = "✅ PASS" if c.gate.passed else ("❌ CANNOT COMPARE" if c.gate.cannot_compare else "❌ FAIL")
    reasons = c.gate.notes if c.gate.passed else c.gate.failures
    lines = [
        f"## Model report: this branch vs base {c.base_label}",
        "",
        f"**Quality gate: {verdict}**" + (f": {'; '.join(reasons)}" if reasons else ""),
    ]
    if not c.gate.passed and c.gate.notes:
        lines += ["", f"<sub>Also: {'; '.join(c.gate.notes)}</sub>"]
    rules = sorted(k for k, o, n in (c.params or []) if k.startswith(GATE_PARAMS_PREFIX) and o != n)
    if rules:
        # A PR can loosen the gate that judges it: make that impossible to miss.
        lines += ["", f"> **Note:** this PR changes the gate's own rules ({', '.join(f'`{k}`' for k in rules)})."]
    lines += ["", "### Metrics", "", *_metrics_table(c), "", f"<sub>{c.pairing_note}</sub>", ""]
    lines += _params_section(c)
    lines += _data_section(c)
    lines += _validation_section(c)
    lines += _consistency_section(c)
    lines += _slices_section(c)
    lines += _plots_section(figures, plots_url, c.base_label)
    lines += [
        "<sub>Rules: floors and allowed regressions in `conf/gate/`; a regression counts only when the "
        "paired-bootstrap interval of the delta excludes 0. Reproduce locally: `make report` and `make pr-gate`.</sub>",
        "",
    ]
    return "\n".join(lines)


def to_json(c: Comparison) -> dict[str, Any]:
    """The comparison as plain JSON (for tooling; the markdown is for humans)."""

    def clean(v: Any) -> Any:
        return None if isinstance(v, float) and math.isnan(v) else v

    return {
        "base": c.base_label,
        "paired": c.paired,
        "pairing_note": c.pairing_note,
        "gate": {
            "passed": c.gate.passed,
            "cannot_compare": c.gate.cannot_compare,
            "failures": c.gate.failures,
            "notes": c.gate.notes,
        },
        "metrics": {
            r.name: {
                "base": clean(r.base),
                "head": clean(r.head),
                "delta": clean(r.delta),
                "ci": None if r.ci is None else [clean(r.ci[0]), clean(r.ci[1])],
                "status": r.status,
            }
            for r in c.rows
        },
        "params": None if c.params is None else {k: {"old": o, "new": n} for k, o, n in c.params if o != n},
        "data": {p: {"base": b, "head": h} for p, b, h in c.data},
        "slices": c.slice_deltas,
    }


# ------------------------------------------------------------------ plots
def _confusion_matrix(csv_text: str, classes: list[str]) -> Any:
    df = pd.read_csv(io.StringIO(csv_text), dtype=str)
    index = {c: i for i, c in enumerate(classes)}
    m = np.zeros((len(classes), len(classes)), dtype=int)
    np.add.at(m, (df["actual"].map(index).to_numpy(int), df["predicted"].map(index).to_numpy(int)), 1)
    return m


def _classes(plots: list[dict[str, str]]) -> list[str]:
    found: set[str] = set()
    for p in plots:
        if "confusion.csv" in p:
            df = pd.read_csv(io.StringIO(p["confusion.csv"]), dtype=str)
            found |= set(df["actual"]) | set(df["predicted"])
    return sorted(found)


def draw_plots(base: dict[str, str], head: dict[str, str], base_label: str, out_dir: Path) -> list[Path]:
    """One PNG per plot kind, base on the left and this branch on the right."""
    written: list[Path] = []
    classes = _classes([base, head])
    for name, (kind, title) in PLOT_KINDS.items():
        sides = [(f"base {base_label}", base), ("this branch", head)]
        if not any(_has(plots, name) for _, plots in sides):
            continue
        fig = Figure(figsize=(9, 4), dpi=90)
        axes = fig.subplots(1, 2)
        for ax, (label, plots) in zip(axes, sides, strict=True):
            ax.set_title(f"{title}\n{label}", fontsize=9)
            if not _has(plots, name):
                ax.text(0.5, 0.5, "no plot data", ha="center", va="center", transform=ax.transAxes)
                ax.set_axis_off()
                continue
            if kind == "scatter":
                x, y = SCATTER_AXES[name]
                df = pd.read_csv(io.StringIO(plots[f"{name}.csv"]))
                ax.scatter(df[x], df[y], s=8, alpha=0.6)
                ax.set(xlabel=x, ylabel=y)
            elif kind == "confusion":
                m = _confusion_matrix(plots["confusion.csv"], classes)
                ax.imshow(m, cmap="Blues")
                for i in range(len(classes)):
                    for j in range(len(classes)):
                        ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=8,
                                color="white" if m[i, j] > m.max() / 2 else "black")  # fmt: skip
                ax.set_xticks(range(len(classes)), classes, rotation=30, fontsize=8)
                ax.set_yticks(range(len(classes)), classes, fontsize=8)
                ax.set(xlabel="predicted", ylabel="actual")
            else:
                x, y = CURVE_AXES[name]
                for key in sorted(k for k in plots if k.startswith(f"{name}/")):
                    df = pd.read_csv(io.StringIO(plots[key]))
                    ax.plot(df[x], df[y], label=Path(key).stem, lw=1.2)
                if name == "roc":
                    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
                ax.set(xlabel=x, ylabel=y, xlim=(-0.02, 1.02), ylim=(-0.02, 1.02))
                ax.legend(loc="best", fontsize=7)
        fig.tight_layout()
        dest = out_dir / f"{name}.png"
        with atomic_path(dest) as tmp:
            fig.savefig(tmp, format="png", metadata={"Software": None})
        written.append(dest)
    return written


def _has(plots: dict[str, str], name: str) -> bool:
    if PLOT_KINDS[name][0] != "curve":
        return f"{name}.csv" in plots
    return any(k.startswith(f"{name}/") for k in plots)


# ------------------------------------------------------------------ collecting the two sides (I/O)
def _json(data: bytes | None) -> dict[str, Any] | None:
    if data is None:
        return None
    try:
        obj = json.loads(data)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def _read_parquet(data: bytes | None) -> pd.DataFrame | None:
    if data is None:
        return None
    try:
        return pd.read_parquet(io.BytesIO(data))
    except (OSError, ValueError):
        return None


def collect_head(root: Path = Path(), label: str = "this branch", where: str = "this branch") -> Side:
    """The pipeline outputs in the working tree at ``root`` (this branch's, or a rebuilt base's)."""

    def read(rel: Path) -> bytes | None:
        p = root / rel
        return p.read_bytes() if p.is_file() else None

    plots_dir = root / paths.PLOTS
    plots = (
        {f.relative_to(plots_dir).as_posix(): f.read_text() for f in sorted(plots_dir.rglob("*.csv"))}
        if plots_dir.is_dir()
        else {}
    )
    lock = dvc.read_lock(root / paths.DVC_LOCK)
    predictions = _read_parquet(read(paths.PREDICTIONS))
    return Side(
        label=label,
        metrics=_json(read(paths.METRICS)),
        validation=_json(read(paths.VALIDATION_REPORT)),
        lock=dvc.lock_hashes(lock),
        predictions=predictions,
        predictions_note="" if predictions is not None else f"{paths.PREDICTIONS} is missing on {where}",
        plots=plots,
        training=_json(read(paths.TRAIN_SUMMARY)),
        slices=_json(read(paths.SLICES)),
        leakage=_json(read(paths.LEAKAGE)),
    )


def collect_base(rev: str | None, root: Path = Path()) -> Side:
    """The base revision's outputs from git (small files) and DVC (predictions)."""
    if rev is None:
        return Side(label="(none)", predictions_note="there is no base revision (no main branch)")
    label = f"`{revision.short(rev, root)}`"

    def show(rel: Path | str) -> bytes | None:
        return git.show(rev, rel, root)

    lock = dvc.lock_at(rev, root)
    metrics = _json(show(paths.METRICS))
    predictions, note = None, "the base has no metrics"
    if metrics is not None:
        data, source = revision.read_output(rev, paths.PREDICTIONS.as_posix(), lock, root)
        predictions = _read_parquet(data)
        note = "" if predictions is not None else f"base predictions unavailable: {source}"
    prefix = paths.PLOTS.as_posix()
    plots = {}
    for f in git.list_files(rev, prefix, root):
        if f.endswith(".csv"):
            text = show(f)
            if text is not None:
                plots[f[len(prefix) + 1 :]] = text.decode()
    return Side(
        label=label,
        metrics=metrics,
        validation=_json(show(paths.VALIDATION_REPORT)),
        lock=dvc.lock_hashes(lock),
        predictions=predictions,
        predictions_note=note,
        plots=plots,
        training=_json(show(paths.TRAIN_SUMMARY)),
        slices=_json(show(paths.SLICES)),
        leakage=_json(show(paths.LEAKAGE)),
    )
