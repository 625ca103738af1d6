"""The prediction log and feedback: the contract between serving, monitoring and retraining.

Tables (any SQLAlchemy URL; SQLite by default)::

    predictions(id TEXT PK (uuid4 hex), ts DATETIME (UTC, naive), model TEXT, version TEXT,
                inputs TEXT (JSON object feature -> value), prediction TEXT,
                probabilities TEXT (JSON object class -> prob), latency_ms FLOAT)
    feedback(id INTEGER PK autoincrement, prediction_id TEXT (indexed), ts DATETIME (UTC, naive),
             label TEXT)

Serving never writes predictions on the request path: `LogWriter` queues rows and a
background thread inserts them in batches; `close()` drains the queue, so a
graceful stop loses nothing. Feedback is written by `add_feedback` while the client
waits (it is rare, and the answer says whether the id is known and unlabelled): one
label per prediction id, for ids that are in the log or still queued by this process.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import (
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    exists,
    func,
    literal,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from ..config.errors import UserError

log = logging.getLogger(__name__)

PREDICTION_COLUMNS = ("id", "ts", "model", "version", "inputs", "prediction", "probabilities", "latency_ms")
FEEDBACK_COLUMNS = ("id", "prediction_id", "ts", "label")
WRITE_RETRIES = 5
# Rows per INSERT: bounded memory for large back-fills (benchmarks, replays).
WRITE_BATCH = 50_000

metadata = MetaData()
predictions = Table(
    "predictions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("ts", DateTime, nullable=False, index=True),
    Column("model", Text, nullable=False),
    Column("version", Text, nullable=False),
    Column("inputs", Text, nullable=False),
    Column("prediction", Text, nullable=False),
    Column("probabilities", Text, nullable=False),
    Column("latency_ms", Float),
)
feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("prediction_id", String(32), nullable=False, index=True),
    Column("ts", DateTime, nullable=False),
    Column("label", Text, nullable=False),
)


def utcnow() -> datetime:
    """UTC as a naive datetime (SQLite has no time zones; every ts in the log is UTC)."""
    return datetime.now(UTC).replace(tzinfo=None)


def new_id() -> str:
    return uuid.uuid4().hex


def redact(url: str) -> str:
    """The URL without its password, for reports and error messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable URL>"


@dataclass
class FeedbackOutcome:
    """What `add_feedback` did: rows written, ids not in the log, ids that already had a label."""

    written: int = 0
    unknown: list[str] = field(default_factory=list)
    labelled: list[str] = field(default_factory=list)


def _json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), allow_nan=False)


def _chunks(rows: Iterable[dict[str, Any]]) -> Iterable[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= WRITE_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


class PredictionLog:
    """Read and write the log at ``url`` (e.g. ``sqlite:///logs/predictions.db``)."""

    def __init__(self, url: str) -> None:
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise UserError(f"log URL {url!r} is not a SQLAlchemy URL (e.g. sqlite:///logs/predictions.db)") from None
        self.url = url
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.engine = create_engine(url)
        except Exception as err:  # missing driver, bad options
            raise UserError(f"log URL {url!r}: {type(err).__name__}: {err}") from None
        if parsed.get_backend_name() == "sqlite":

            @event.listens_for(self.engine, "connect")
            def _pragmas(conn: Any, _record: Any) -> None:
                cur = conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")  # readers (monitoring) never block the writer
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA busy_timeout=10000")
                cur.close()

        self.meta, self.predictions, self.feedback = metadata, predictions, feedback

    def create(self) -> PredictionLog:
        """Create the tables if they do not exist (idempotent)."""
        try:
            self.meta.create_all(self.engine)
        except SQLAlchemyError as err:
            raise UserError(f"log {self.url}: cannot create tables ({type(err).__name__})") from None
        return self

    def write_predictions(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert prediction rows (dict inputs/probabilities are JSON-encoded); return the count."""
        rows_out = (
            {
                "id": r.get("id") or new_id(),
                "ts": r.get("ts") or utcnow(),
                "model": r["model"],
                "version": r["version"],
                "inputs": _json(r["inputs"]),
                "prediction": str(r["prediction"]),
                "probabilities": _json(r["probabilities"]),
                "latency_ms": r.get("latency_ms"),
            }
            for r in rows
        )
        return self._insert(self.predictions, rows_out)

    def write_feedback(self, rows: Iterable[Mapping[str, Any]]) -> int:
        rows_out = (
            {"prediction_id": r["prediction_id"], "ts": r.get("ts") or utcnow(), "label": str(r["label"])} for r in rows
        )
        return self._insert(self.feedback, rows_out)

    def add_feedback(
        self, rows: list[Mapping[str, Any]], queued: Callable[[str], bool], *, keep_first: bool = False
    ) -> FeedbackOutcome:
        """Write labels for known ids only, one label per id, all or nothing.

        ``queued(id)`` says whether this process answered the id and its row is not written yet.
        Any unknown id: nothing is written. An id that already has a label (in the log, or earlier
        in ``rows``): nothing is written, unless ``keep_first``, which skips that row. Each insert is
        one ``INSERT ... SELECT ... WHERE NOT EXISTS`` statement, so two writers cannot both label
        an id (SQLite runs a statement under its write lock).
        """
        out = FeedbackOutcome()
        ids = [str(r["prediction_id"]) for r in rows]
        p, f = self.predictions, self.feedback
        with self.engine.connect() as conn:  # committed at the end only: any early return rolls back
            in_log: set[str] = set()
            for start in range(0, len(ids), 500):  # bound the IN list (old SQLite: 999 variables)
                part = [i for i in ids[start : start + 500] if not queued(i)]
                if part:
                    in_log.update(conn.execute(select(p.c.id).where(p.c.id.in_(part))).scalars())
            out.unknown = sorted({i for i in ids if i not in in_log and not queued(i)})
            if out.unknown:
                return out
            for r, pid in zip(rows, ids, strict=True):
                label_free = ~exists().where(f.c.prediction_id == pid)
                query = f.insert().from_select(
                    ["prediction_id", "ts", "label"],
                    select(literal(pid), literal(r.get("ts") or utcnow(), DateTime), literal(str(r["label"]))).where(
                        label_free
                    ),
                )
                if conn.execute(query).rowcount == 1:
                    out.written += 1
                else:
                    out.labelled.append(pid)
            if out.labelled and not keep_first:
                out.written = 0
                return out
            conn.commit()
        return out

    def _insert(self, table: Any, rows: Iterable[dict[str, Any]]) -> int:
        n = 0
        with self.engine.begin() as conn:
            for batch in _chunks(rows):
                conn.execute(table.insert(), batch)
                n += len(batch)
        return n

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {
                "predictions": int(conn.execute(select(func.count()).select_from(self.predictions)).scalar_one()),
                "feedback": int(conn.execute(select(func.count()).select_from(self.feedback)).scalar_one()),
            }

    def read_window(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        model: str | None = None,
        version: str | None = None,
        with_feedback: bool = False,
        parse_json: bool = False,
    ) -> pd.DataFrame:
        """Predictions with start <= ts < end (naive UTC), oldest first.

        ``with_feedback`` adds `label` and `feedback_ts` (the latest feedback per
        prediction, None when there is none); ``parse_json`` turns `inputs` and
        `probabilities` into dicts.
        """
        p, f = self.predictions, self.feedback
        cols = [p.c[c] for c in PREDICTION_COLUMNS]
        if with_feedback:
            latest = (
                select(f.c.prediction_id, func.max(f.c.id).label("fid")).group_by(f.c.prediction_id).subquery("latest")
            )
            fb = f.alias("fb")
            query = select(*cols, fb.c.label, fb.c.ts.label("feedback_ts")).select_from(
                p.outerjoin(latest, latest.c.prediction_id == p.c.id).outerjoin(fb, fb.c.id == latest.c.fid)
            )
        else:
            query = select(*cols)
        if start is not None:
            query = query.where(p.c.ts >= start)
        if end is not None:
            query = query.where(p.c.ts < end)
        if model is not None:
            query = query.where(p.c.model == model)
        if version is not None:
            query = query.where(p.c.version == version)
        query = query.order_by(p.c.ts, p.c.id)
        with self.engine.connect() as conn:
            df = pd.DataFrame(conn.execute(query).mappings().all())
        if df.empty:
            names = [*PREDICTION_COLUMNS, *(["label", "feedback_ts"] if with_feedback else [])]
            df = pd.DataFrame({c: pd.Series(dtype=object) for c in names})
        if parse_json:
            for col in ("inputs", "probabilities"):
                df[col] = df[col].map(json.loads)
        return df


class LogWriter:
    """Batched, off-the-hot-path inserts. `put_*` only enqueue; `close()` flushes everything."""

    def __init__(self, log: PredictionLog, batch_size: int = 500, flush_seconds: float = 0.5) -> None:
        self.log = log
        self.batch_size = batch_size
        self.flush_seconds = flush_seconds
        self._queue: queue.SimpleQueue[tuple[str, Any] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self.written = {"predictions": 0, "feedback": 0}
        self.failed = 0
        self._closed = False
        self._queued_ids: set[str] = set()  # predictions answered, not yet committed (or dropped)

    def start(self) -> LogWriter:
        self._thread.start()
        return self

    def put_prediction(self, row: Mapping[str, Any]) -> None:
        if row.get("id"):
            self._queued_ids.add(row["id"])
        self._queue.put(("predictions", row))

    def is_queued(self, prediction_id: str) -> bool:
        """True while a prediction this writer was given is waiting for its batch to be committed."""
        return prediction_id in self._queued_ids

    def put_feedback(self, row: Mapping[str, Any]) -> None:
        self._queue.put(("feedback", row))

    def pending(self) -> int:
        return self._queue.qsize()

    def close(self, timeout: float | None = None) -> None:
        """Stop accepting rows, write every queued row, and wait for the thread."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        stop = False
        while not stop:
            try:
                item = self._queue.get(timeout=self.flush_seconds)
            except queue.Empty:
                continue
            batch: dict[str, list[Any]] = {"predictions": [], "feedback": []}
            deadline = time.monotonic() + self.flush_seconds
            while True:
                if item is None:
                    stop = True
                    break
                batch[item[0]].append(item[1])
                if len(batch["predictions"]) + len(batch["feedback"]) >= self.batch_size:
                    break
                try:
                    item = (
                        self._queue.get_nowait()
                        if time.monotonic() >= deadline
                        else self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                    )
                except queue.Empty:
                    break
            self._write(batch)
        # Rows queued after the stop marker (a late request during shutdown) are written too.
        tail: dict[str, list[Any]] = {"predictions": [], "feedback": []}
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                tail[item[0]].append(item[1])
        self._write(tail)

    def _write(self, batch: dict[str, list[Any]]) -> None:
        for table, rows in batch.items():
            if not rows:
                continue
            write = self.log.write_predictions if table == "predictions" else self.log.write_feedback
            for attempt in range(WRITE_RETRIES):
                try:
                    self.written[table] += write(rows)
                    break
                except Exception as err:  # database locked, connection lost: retry, then report
                    if attempt == WRITE_RETRIES - 1:
                        self.failed += len(rows)
                        # The driver's message, not SQLAlchemy's (which lists the rows' parameters).
                        reason = getattr(err, "orig", None) or err
                        log.error("prediction log: dropped %d %s row(s): %s", len(rows), table, type(reason).__name__)
                    else:
                        time.sleep(0.1 * 2**attempt)
            if table == "predictions":  # committed (or dropped): the log, not this set, knows them now
                self._queued_ids.difference_update(r.get("id") for r in rows)
