"""Read a window of the prediction log (any SQLAlchemy URL) into typed columns.

Speed matters at 1e6 rows: rows are fetched in partitions, their JSON
``inputs`` and ``probabilities`` are joined into newline-delimited JSON and
parsed by pyarrow's C++ reader with an explicit schema taken from the model's
signature (numbers as float64, categories as strings), instead of one
``json.loads`` per row. Timestamps are never converted per row: the window's
bounds come from one aggregate query. Feedback is joined in SQL.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.json as pj
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import SQLAlchemyError

from ..adapters.predlog import PredictionLog, feedback, predictions, redact, utcnow
from ..adapters.progress import progress
from ..config.errors import UserError

FETCH_ROWS = 100_000
_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(value: str | None, *, now: dt.datetime | None = None, flag: str = "--since") -> dt.datetime | None:
    """ISO date/datetime (UTC) or a relative age such as ``7d``, ``24h``, ``30m``."""
    if value is None or value == "":
        return None

    m = _RELATIVE.match(value.strip())
    if m:
        return (now or utcnow()) - dt.timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    try:
        t = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"{flag} {value!r}: expected an ISO date/time (2025-01-31T12:00) or an age (7d, 24h)") from None
    if t.tzinfo is not None:
        t = t.astimezone(dt.UTC).replace(tzinfo=None)
    return t


@dataclass(frozen=True)
class Window:
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    last: int | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "last": self.last,
        }


@dataclass
class Current:
    """The window: typed feature columns, the served predictions, labels where known."""

    features: pd.DataFrame  # schema feature columns: float64 or object (str / None)
    predicted: pd.Series  # predicted class (str)
    proba: pd.DataFrame  # one float column per class, named by class
    labelled: pd.DataFrame | None  # columns: label, predicted, <class> probabilities
    meta: dict[str, Any]


def _arrow_schema(features: dict[str, dict[str, Any]]) -> pa.Schema:

    return pa.schema(
        [(name, pa.float64() if spec["dtype"] in {"float", "int"} else pa.string()) for name, spec in features.items()]
    )


def decode_json(texts: list[str | None], schema: pa.Schema) -> pd.DataFrame:
    """Newline-delimited JSON objects -> DataFrame with ``schema``'s columns.

    Fast path: pyarrow's reader. A row whose types do not fit the schema (a number
    sent for a category, a string for a number) falls back to per-row decoding and
    coercion, so odd inputs are measured as data quality rather than crashing.
    """

    body = "\n".join(t if t else "{}" for t in texts).encode("utf-8")
    if not texts:
        return pa.table({f.name: pa.array([], f.type) for f in schema}).to_pandas()
    try:
        table = pj.read_json(
            pa.BufferReader(body),
            read_options=pj.ReadOptions(block_size=max(1 << 20, min(len(body) + 1, 64 << 20))),
            parse_options=pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return _decode_slow(texts, schema)
    return table.select([f.name for f in schema]).to_pandas()


def _decode_slow(texts: list[str | None], schema: pa.Schema) -> pd.DataFrame:

    rows = []
    for t in texts:
        try:
            obj = json.loads(t) if t else {}
        except json.JSONDecodeError:
            obj = {}
        rows.append(obj if isinstance(obj, dict) else {})
    raw = pd.DataFrame.from_records(rows, columns=[f.name for f in schema])
    out = {}
    for f in schema:
        if pa.types.is_floating(f.type):
            out[f.name] = pd.to_numeric(raw[f.name], errors="coerce").astype("float64")
        else:
            out[f.name] = raw[f.name].map(lambda v: None if v is None or v != v else str(v)).astype(object)
    return pd.DataFrame(out)


class LogSource:
    """A window of the prediction log at ``url``; with ``version``, only the rows that version served."""

    def __init__(self, url: str, version: str | None = None) -> None:
        self.url = url
        self.version = version
        self.log = PredictionLog(url)

    def _bounds(self, conn: Any, w: Window) -> tuple[dt.datetime | None, dt.datetime | None]:
        """The window as a [since, until) time range, so every query is a range scan on the ts index.

        "The last N rows" becomes "since the N-th newest timestamp": rows sharing that
        exact timestamp are all included (a handful more than N at most).
        """

        since, until = w.since, w.until
        if w.last is not None:
            stmt = self._where(select(predictions.c.ts), since, until)
            cutoff = conn.execute(stmt.order_by(predictions.c.ts.desc()).offset(w.last - 1).limit(1)).scalar()
            if cutoff is not None:
                since = cutoff
        return since, until

    def _where(self, stmt: Any, since: dt.datetime | None, until: dt.datetime | None, *, versioned: bool = True) -> Any:
        if since is not None:
            stmt = stmt.where(predictions.c.ts >= since)
        if until is not None:
            stmt = stmt.where(predictions.c.ts < until)
        if versioned and self.version is not None:
            stmt = stmt.where(predictions.c.version == self.version)
        return stmt

    def _no_traffic(self, conn: Any, since: dt.datetime | None, until: dt.datetime | None) -> UserError:
        """The one-line error for a version with no rows in the window, naming the versions that have some."""
        stmt = self._where(select(predictions.c.version).distinct(), since, until, versioned=False)
        others = sorted(str(v) for v in conn.execute(stmt.limit(20)).scalars())
        seen = f"the window has traffic of {', '.join(others)}" if others else "the window has no traffic at all"
        return UserError(
            f"prediction log {redact(self.url)}: no traffic logged for version {self.version} ({seen}); "
            "is that version the one being served?"
        )

    def read(self, w: Window, features: dict[str, dict[str, Any]], classes: list[str]) -> Current:

        self.log.require()
        try:
            engine = self.log.engine
            if not inspect(engine).has_table("predictions"):
                raise UserError(f"prediction log {redact(self.url)}: no 'predictions' table (has serving logged yet?)")
            fschema = _arrow_schema(features)
            pschema = pa.schema([(c, pa.float64()) for c in classes])
            feats, probs, preds = [], [], []
            with engine.connect() as conn:
                since, until = self._bounds(conn, w)
                c = predictions.c
                n, first, last = conn.execute(
                    self._where(select(func.count(), func.min(c.ts), func.max(c.ts)), since, until)
                ).one()
                if self.version is not None and not n:
                    raise self._no_traffic(conn, since, until)
                result = conn.execution_options(yield_per=FETCH_ROWS).execute(
                    self._where(select(c.inputs, c.prediction, c.probabilities), since, until)
                )
                batches = -(-int(n) // FETCH_ROWS)
                for part in progress(result.partitions(), desc="monitor: reading the log", total=batches, unit="batch"):
                    ins, pr, pb = zip(*part, strict=True)
                    feats.append(decode_json(list(ins), fschema))
                    probs.append(decode_json(list(pb), pschema))
                    preds.extend(pr)
                labelled = self._labelled(conn, since, until, pschema)
        except SQLAlchemyError as err:
            first_line = str(err).strip().splitlines()[0]
            raise UserError(f"prediction log {redact(self.url)}: {first_line}") from None
        empty = decode_json([], fschema)
        frame = pd.concat(feats, ignore_index=True) if feats else empty
        proba = pd.concat(probs, ignore_index=True) if probs else decode_json([], pschema)
        meta = {
            "source": "log",
            "url": redact(self.url),
            **w.describe(),
            "rows": int(n),
            "version": self.version,
            "first_ts": first.isoformat() if isinstance(first, dt.datetime) else first,
            "last_ts": last.isoformat() if isinstance(last, dt.datetime) else last,
        }
        predicted = pd.Series(preds, dtype=object, name="predicted")
        return Current(frame, predicted, proba, labelled, meta)

    def _labelled(
        self, conn: Any, since: dt.datetime | None, until: dt.datetime | None, pschema: pa.Schema
    ) -> pd.DataFrame | None:
        """The window's predictions that have feedback (the latest label per prediction)."""

        if not inspect(conn).has_table("feedback"):
            return None
        latest = select(func.max(feedback.c.id).label("fid")).group_by(feedback.c.prediction_id).subquery("latest")
        stmt = self._where(
            select(feedback.c.label, predictions.c.prediction, predictions.c.probabilities)
            .join(latest, latest.c.fid == feedback.c.id)
            .join(predictions, predictions.c.id == feedback.c.prediction_id),
            since,
            until,
        )
        rows = conn.execute(stmt).all()
        if not rows:
            return pd.DataFrame(columns=["label", "predicted", *pschema.names])
        labels, preds, probs = zip(*rows, strict=True)
        out = decode_json(list(probs), pschema)
        out.insert(0, "predicted", list(preds))
        out.insert(0, "label", [str(v) for v in labels])
        return out
