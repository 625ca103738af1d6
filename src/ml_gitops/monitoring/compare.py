"""Online comparison of the current model and a candidate (shadow or canary) from the prediction log.

Shadow rows are the candidate's answers to requests the current model answered; their id is the
answered id + `.shadow` (serving/app.py), so each pair gives agreement, and the label fed back for
the answered id counts for both. Canary rows are ordinary rows with the candidate's version.
The verdict follows `monitor.compare` rules in order; each reason is one line.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from ..adapters.predlog import SHADOW_SUFFIX, PredictionLog, redact
from ..config.errors import UserError
from ..config.monitor import CompareSettings
from ..core.calibration import wilson_interval

log = logging.getLogger(__name__)
VERDICTS = ("promote", "hold", "roll back")


def logs_values(rows: pd.DataFrame) -> bool:
    """Whether the rows are a regressor's: serving logs its value with no probabilities."""
    return len(rows) > 0 and bool((rows["probabilities"].astype(str) == "{}").all())


def pick_versions(rows: pd.DataFrame, current: str | None, candidate: str | None) -> tuple[str, str]:
    """(current, candidate): given, else the shadow rows' version is the candidate, else the rarer version."""
    counts = rows["version"].value_counts()
    if current and candidate:
        return current, candidate
    shadow = rows.loc[rows["id"].str.endswith(SHADOW_SUFFIX), "version"].unique().tolist()
    others = [str(v) for v in counts.index]
    if candidate is None and len(shadow) == 1:
        candidate = str(shadow[0])
    if candidate is None:
        rest = [v for v in others if v != current]
        if len(rest) < 1 or (current is None and len(others) != 2):
            raise UserError(
                f"prediction log: versions {others or 'none'}: give --current and --candidate "
                "(the comparison needs exactly two versions)"
            )
        candidate = rest[-1]  # value_counts is descending: the rarer one
    if current is None:
        rest = [v for v in others if v != candidate]
        if len(rest) != 1:
            raise UserError(f"prediction log: versions {others}: give --current (one besides {candidate})")
        current = rest[0]
    for v in (current, candidate):
        if v not in counts.index:
            raise UserError(f"prediction log: no rows of version {v!r} (versions: {others})")
    return current, candidate


def _labels(rows: pd.DataFrame) -> pd.Series:
    """Each row's fed-back label; a shadow row takes its answered twin's."""
    by_id = rows.set_index("id")["label"]
    twin = rows["id"].str.removesuffix(SHADOW_SUFFIX)
    return pd.Series(np.where(rows["id"].str.endswith(SHADOW_SUFFIX), twin.map(by_id), rows["label"]), index=rows.index)


def _side(rows: pd.DataFrame, confidence: float) -> dict[str, Any]:
    labelled = rows[rows["label"].notna()]
    n = len(labelled)
    k = int((labelled["prediction"].astype(str) == labelled["label"].astype(str)).sum())
    lo, hi = wilson_interval(np.array([k]), np.array([n]), confidence)
    lat = rows["latency_ms"].astype(float)
    return {
        "rows": len(rows),
        "distribution": {
            str(c): round(float(s), 4) for c, s in rows["prediction"].value_counts(normalize=True).items()
        },
        "labels": n,
        "accuracy": (k / n) if n else None,
        "accuracy_ci": [float(lo[0]), float(hi[0])] if n else None,
        "latency_ms": {"p50": float(lat.quantile(0.5)), "p95": float(lat.quantile(0.95))} if len(lat) else None,
    }


def compare(
    rows: pd.DataFrame, cfg: CompareSettings, current: str | None = None, candidate: str | None = None
) -> dict[str, Any]:
    """Agreement, per-version distributions, accuracy with Wilson CIs, latency, and the verdict."""
    if rows.empty:
        raise UserError("prediction log: no predictions to compare")
    if logs_values(rows):
        raise UserError("monitor compare: not supported for regression models yet (the log holds predicted values)")
    rows = rows.assign(label=_labels(rows))
    current, candidate = pick_versions(rows, current, candidate)
    shadow = rows[rows["id"].str.endswith(SHADOW_SUFFIX) & (rows["version"] == candidate)]
    answered = rows.set_index("id")["prediction"]
    twins = shadow["id"].str.removesuffix(SHADOW_SUFFIX).map(answered)
    paired = twins.notna()
    agreement = float((shadow.loc[paired, "prediction"] == twins[paired]).mean()) if paired.any() else None
    cur = _side(rows[rows["version"] == current], cfg.confidence)
    cand = _side(rows[rows["version"] == candidate], cfg.confidence)
    verdict, reason = decide(cur, cand, agreement, cfg)
    mode = "shadow" if len(shadow) else "canary"
    log.info("compare: %s vs %s (%s): %s: %s", candidate, current, mode, verdict, reason)
    return {
        "mode": mode,
        "current": {"version": current, **cur},
        "candidate": {"version": candidate, **cand},
        "agreement": agreement,
        "pairs": int(paired.sum()),
        "verdict": verdict,
        "reason": reason,
        "rules": cfg.model_dump(),
    }


def decide(cur: dict[str, Any], cand: dict[str, Any], agreement: float | None, cfg: CompareSettings) -> tuple[str, str]:
    """The first rule that applies: too little traffic or labels holds; slower or worse rolls back."""
    if cand["rows"] < cfg.min_rows:
        return "hold", f"candidate has {cand['rows']} row(s), fewer than min_rows {cfg.min_rows}"
    ratio = cand["latency_ms"]["p95"] / max(cur["latency_ms"]["p95"], 1e-9)
    if ratio > cfg.max_latency_ratio:
        return "roll back", f"candidate p95 latency is {ratio:.2f}x the current's (max {cfg.max_latency_ratio}x)"
    if min(cur["labels"], cand["labels"]) < cfg.min_labels:
        seen = "" if agreement is None else f"; agreement {agreement:.1%}"
        labels = f"{cand['labels']} (candidate) / {cur['labels']} (current)"
        return "hold", f"labels {labels}, fewer than min_labels {cfg.min_labels}{seen}"
    floor = cur["accuracy"] - cfg.max_accuracy_drop
    lo, hi = cand["accuracy_ci"]
    against = f"candidate accuracy CI [{lo:.3f}, {hi:.3f}] vs current {cur['accuracy']:.3f} - {cfg.max_accuracy_drop}"
    if hi < floor:
        return "roll back", f"{against}: entirely below"
    if agreement is not None and agreement < cfg.min_agreement:
        return "hold", f"shadow agreement {agreement:.1%} under min_agreement {cfg.min_agreement:.0%}: review"
    if lo >= floor:
        return "promote", f"{against}: not worse"
    return "hold", f"{against}: inconclusive"


def compare_log(
    log_url: str, cfg: CompareSettings, current: str | None = None, candidate: str | None = None
) -> dict[str, Any]:
    """Read every logged prediction with its feedback and compare the two versions."""
    rows = PredictionLog(log_url).require().create().read_window(with_feedback=True)  # no tables: "no predictions"
    try:
        return compare(rows, cfg, current, candidate)
    except UserError as err:  # name the log the versions were looked up in
        raise UserError(f"{redact(log_url)}: {err}") from None


def has_candidate(log_url: str) -> bool:
    """Whether the log holds more than one version (what the monitor report's section needs)."""
    plog = PredictionLog(log_url)
    if plog.missing():
        return False
    rows = plog.create().read_window()
    return rows["version"].nunique() > 1 and not logs_values(rows)  # compare judges classifiers only


def markdown(result: dict[str, Any]) -> list[str]:
    """The report section: one table of both versions, the agreement and the verdict with its reason."""
    cur, cand = result["current"], result["candidate"]

    def ci(side: dict[str, Any]) -> str:
        if side["accuracy"] is None:
            return "–"
        lo, hi = side["accuracy_ci"]
        return f"{side['accuracy']:.3f} [{lo:.3f}, {hi:.3f}]"

    def dist(side: dict[str, Any]) -> str:
        return ", ".join(f"{k} {v:.0%}" for k, v in side["distribution"].items())

    def lat(side: dict[str, Any]) -> str:
        return f"{side['latency_ms']['p50']:.2f} / {side['latency_ms']['p95']:.2f}"

    agreement = "–" if result["agreement"] is None else f"{result['agreement']:.1%} of {result['pairs']} pairs"
    return [
        f"### Candidate vs current ({result['mode']}): **{result['verdict']}**",
        "",
        f"{result['reason']}. Agreement: {agreement}.",
        "",
        "| | version | rows | predictions | labels | accuracy [CI] | latency p50 / p95 ms |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {role} | `{side['version']}` | {side['rows']} | {dist(side)} | {side['labels']} | {ci(side)} "
            f"| {lat(side)} |"
            for role, side in (("current", cur), ("candidate", cand))
        ),
        "",
    ]
