"""The monitor report for humans: Markdown (issue / PR body) and a self-contained HTML page.

Plots are drawn with matplotlib's Agg backend and embedded as base64 PNG, so
the page opens offline from a workflow artifact with nothing loaded from a CDN.
"""

from __future__ import annotations

import base64
import html
import io
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure  # the object API: no pyplot state, no backend to choose

from . import compare
from .core import numbers

if TYPE_CHECKING:
    from .core import Reference
    from .logsource import Current

# Hidden marker: the workflow finds and updates its one issue by this line.
MARKER = "<!-- ml-gitops-monitor-report -->"
HEADLINE = {"healthy": "✅ healthy", "breach": "🚨 breach", "cannot_judge": "⚠️ cannot judge"}


def _f(v: Any, fmt: str = ".3g") -> str:
    return "–" if v is None else format(v, fmt) if isinstance(v, float | int) else str(v)


def markdown(report: dict[str, Any]) -> str:
    w, ref = report["window"], report["reference"]
    rule = report["decision_rule"]
    dep = report.get("deployed") or {}
    judged = (
        f"Judged: version `{dep['version']}`" + (f" (stage `{dep['stage']}`)" if dep.get("stage") else "")
        + f", its own traffic against the reference at `{dep['tag']}`."
        if dep.get("version")
        else "Judged: the working tree's model against all logged traffic."
    )  # fmt: skip
    lines = [
        MARKER,
        f"## Model monitor: {HEADLINE[report['status']]}",
        "",
        judged,
        "",
        f"Window: {w['rows']} row(s) from `{w.get('url') or w.get('path')}`"
        + (f", {w['first_ts']} → {w['last_ts']}" if w.get("first_ts") else "")
        + f". Reference: `{ref['path']}` (md5 `{ref.get('md5')}`, {ref.get('rows')} rows"
        + (", pinned by dvc.lock" if ref.get("pinned") else ", NOT pinned by dvc.lock")
        + ").",
        "",
        f"Decision rule: a check breaches when its effect size reaches its threshold and its test is "
        f"significant at family-wise α = {rule['alpha']} after {rule['correction'].title()} correction over "
        f"{rule.get('tests', 0)} tests.",
        "",
    ]
    if report["status"] == "cannot_judge":
        lines += [f"**Cannot judge:** {report['reason']}.", ""]
        return "\n".join(lines)
    if report["breaches"]:
        lines += ["### Breaches", "", "| kind | what | why |", "|---|---|---|"]
        lines += [f"| {b['kind']} | `{b['what']}` | {b['why']} |" for b in report["breaches"]]
        lines.append("")
    lines += [
        "### Feature drift",
        "",
        "| feature | kind | test stat | p (adjusted) | PSI | Wasserstein/σ | share Δ | drift |",
        "|---|---|---:|---:|---:|---:|---:|:-:|",
    ]
    for name, d in report["features"].items():
        mark = "🚨" if d["drift"] else ("off" if not d["enabled"] else "")
        lines.append(
            f"| `{name}` | {d['kind']} | {_f(d['statistic'])} | {_f(d.get('p_adjusted'), '.2g')} | {_f(d['psi'])} "
            f"| {_f(d.get('wasserstein'))} | {_f(d.get('share'))} | {mark} |"
        )
    lines += [
        "",
        "### Data quality",
        "",
        "| feature | missing ref → now | outside range | unseen categories | issues |",
        "|---|---|---:|---|---|",
    ]
    for name, q in report["quality"].items():
        unseen = ", ".join(f"`{k}` ×{v}" for k, v in (q.get("unseen") or {}).items()) or "–"
        lines.append(
            f"| `{name}` | {_f(q['missing_rate_reference'], '.1%')} → {_f(q['missing_rate_current'], '.1%')} "
            f"| {q.get('out_of_range', '–')} | {unseen} | {', '.join(q['issues']) or '–'} |"
        )
    pred = report["prediction"]
    if pred.get("available") and "value" in pred:
        v = pred["value"]
        lines += [
            "",
            "### Predictions",
            "",
            f"Predicted value: KS p (adjusted) {_f(v.get('p_adjusted'), '.2g')}, PSI {_f(v['psi'])}, "
            f"Wasserstein / std {_f(v['wasserstein'])}" + (" 🚨" if v["drift"] else ""),
        ]
    elif pred.get("available"):
        cls = pred["classes"]
        lines += ["", "### Predictions", "", "| class | share (reference) | share (now) |", "|---|---:|---:|"]
        for c, s in cls["shares_reference"].items():
            lines.append(f"| `{c}` | {_f(s, '.1%')} | {_f(cls['shares_current'].get(c), '.1%')} |")
        lines.append(
            f"\nPredicted classes: χ² p (adjusted) {_f(cls.get('p_adjusted'), '.2g')}, PSI {_f(cls['psi'])}"
            + (" 🚨" if cls["drift"] else "")
        )
        for c, s in pred["scores"].items():
            lines.append(
                f"Score `{c}`: KS p (adjusted) {_f(s.get('p_adjusted'), '.2g')}, PSI {_f(s['psi'])}"
                + (" 🚨" if s["drift"] else "")
            )
    perf = report["performance"]
    lines += ["", "### Performance from feedback", ""]
    if "metrics" in perf:
        m = perf["metrics"]
        conf = perf.get("confidence", 0.95)
        limits = perf.get("limits", perf["floors"])  # a regressor's: absolute and relative to its reference
        lines += [f"| metric | value | {conf:.0%} CI | limit |", "|---|---:|---|---:|"]
        for name in ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "log_loss", "rmse", "mae", "r2"):
            if name in m:
                lines.append(
                    f"| {name} | {_f(m[name], '.4g')} | [{_f(m[name + '_ci_low'], '.4g')}, "
                    f"{_f(m[name + '_ci_high'], '.4g')}] | {_f(limits.get(name), '.4g')} |"
                )
        lines.append(f"\n{perf['n_labels']} feedback label(s)" + (f"; {perf['reason']}" if perf.get("reason") else ""))
    else:
        lines.append(f"{perf['n_labels']} feedback label(s): {perf.get('reason', '')}")
    lines.append("")
    if report.get("comparison"):
        lines += compare.markdown(report["comparison"])
    return "\n".join(lines)


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=72, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def figures(report: dict[str, Any], ref: Reference, cur: Current, max_plots: int) -> list[tuple[str, str]]:
    """(title, base64 PNG) for the predictions and the most-drifted features first."""
    out: list[tuple[str, str]] = []
    if report["status"] == "cannot_judge" or max_plots == 0:
        return out

    def bars(title: str, r: dict[str, float], c: dict[str, float]) -> None:
        fig = Figure(figsize=(5, 3))
        ax = fig.subplots()
        cats = list(r)
        x = np.arange(len(cats))
        ax.bar(x - 0.2, [r[k] for k in cats], 0.4, label="reference")
        ax.bar(x + 0.2, [c.get(k, 0) for k in cats], 0.4, label="current")
        ax.set_xticks(x, cats, rotation=30, ha="right")
        ax.set_ylabel("share")
        ax.set_title(title)
        ax.legend()
        out.append((title, _png(fig)))

    def hist(title: str, r: np.ndarray, c: np.ndarray) -> None:
        if r.size == 0 or c.size == 0:
            return
        lo, hi = np.quantile(np.concatenate([r, c[:100_000]]), [0.005, 0.995])
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        fig = Figure(figsize=(5, 3))
        ax = fig.subplots()
        edges = np.linspace(lo, hi, 41)
        # Histogram counts first, one step artist each: drawing stays cheap at 1e6 rows.
        for values, label in ((r, "reference"), (c, "current")):
            counts, _ = np.histogram(values, edges, density=True)
            ax.stairs(counts, edges, fill=True, alpha=0.5, label=label)
        ax.set_title(title)
        ax.legend()
        out.append((title, _png(fig)))

    pred = report["prediction"]
    if pred.get("available") and "value" in pred and ref.predicted is not None:
        hist("predicted value", numbers(ref.predicted), numbers(cur.predicted))
    elif pred.get("available"):
        bars("predicted classes", pred["classes"]["shares_reference"], pred["classes"]["shares_current"])
    order = sorted(
        report["features"], key=lambda n: (not report["features"][n]["drift"], -(report["features"][n]["psi"] or 0))
    )
    for name in order:
        if len(out) >= max_plots:
            break
        d = report["features"][name]
        title = f"{name}" + (" (drift)" if d["drift"] else "")
        if d["kind"] == "numeric":
            hist(title, ref.features[name].dropna().to_numpy(float), cur.features[name].dropna().to_numpy(float))
        else:
            bars(title, d["shares_reference"], d["shares_current"])
    if pred.get("available") and ref.proba is not None:
        for c in pred["scores"]:
            if len(out) >= max_plots:
                break
            hist(f"score {c}", ref.proba[c].dropna().to_numpy(float), cur.proba[c].dropna().to_numpy(float))
    return out


def html_page(report: dict[str, Any], md: str, figs: list[tuple[str, str]]) -> str:
    """A single offline page: the markdown report as preformatted text plus the figures."""
    imgs = "\n".join(
        f'<figure><img alt="{html.escape(t)}" src="data:image/png;base64,{b}"><figcaption>{html.escape(t)}'
        "</figcaption></figure>"
        for t, b in figs
    )
    body = html.escape(md.replace(MARKER, "").strip())
    return (
        "<!doctype html>\n<html><head><meta charset='utf-8'><title>Model monitor: "
        f"{html.escape(report['status'])}</title>\n<style>body{{font-family:sans-serif;margin:2em}}"
        "pre{white-space:pre-wrap;background:#f6f8fa;padding:1em}figure{display:inline-block;margin:.5em}"
        "</style></head>\n<body>\n"
        f"<h1>Model monitor: {html.escape(report['status'])}</h1>\n<pre>{body}</pre>\n{imgs}\n</body></html>\n"
    )
