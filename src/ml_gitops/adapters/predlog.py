"""The prediction log and feedback: the contract between serving, monitoring and retraining.

Tables (any SQLAlchemy URL; SQLite by default)::

    predictions(id TEXT PK (uuid4 hex), ts DATETIME (UTC, naive), model TEXT, version TEXT,
                inputs TEXT (JSON object feature -> value), prediction TEXT,
                probabilities TEXT (JSON object class -> prob), latency_ms FLOAT)
    feedback(id INTEGER PK autoincrement, prediction_id TEXT (indexed), ts DATETIME (UTC, naive),
             label TEXT)

No answered prediction is lost: `LogWriter` is a group commit. Requests hand their rows to one
background thread and wait on a future; the thread inserts whatever is queued in one transaction
and resolves the futures after COMMIT (SQLite: WAL, synchronous=NORMAL, so a committed row
survives kill -9 of the server). When the database stays locked or down after a few retries, the
batch is appended to a local journal (JSON lines, fsync'd) before the futures resolve; the
journal is replayed (insert-or-ignore by prediction id) at start-up and after the next successful
write, then emptied. Errors name counts and the error class, never the rows.
Feedback is written by `add_feedback` while the client waits (committed before the 202): one
label per prediction id, for ids that are in the log, queued by this process, or journaled.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import queue
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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

# A shadow row (the candidate's answer to a request the current model answered) has the answered
# id plus this suffix: serving writes it, `monitor compare` pairs the two.
SHADOW_SUFFIX = ".shadow"
PREDICTION_COLUMNS = ("id", "ts", "model", "version", "inputs", "prediction", "probabilities", "latency_ms")
FEEDBACK_COLUMNS = ("id", "prediction_id", "ts", "label")
# Rows per INSERT: bounded memory for large back-fills (benchmarks, replays).
WRITE_BATCH = 50_000
# Bound parameters per SQLite statement (SQLITE_MAX_VARIABLE_NUMBER is 32,766 since SQLite 3.32).
SQLITE_MAX_VARIABLES = 32_766

metadata = MetaData()
predictions = Table(
    "predictions",
    metadata,
    Column("id", String(64), primary_key=True),  # uuid4 hex, or that + SHADOW_SUFFIX
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

    def __init__(self, url: str, busy_timeout_ms: int = 10_000) -> None:
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise UserError(f"log URL {url!r} is not a SQLAlchemy URL (e.g. sqlite:///logs/predictions.db)") from None
        self.url = url
        self.busy_timeout_ms = int(busy_timeout_ms)
        self._local = threading.local()  # one raw SQLite connection per writing thread (see `commit`)
        try:
            self.engine = create_engine(url)
        except Exception as err:  # missing driver, bad options
            raise UserError(f"log URL {url!r}: {type(err).__name__}: {err}") from None
        if parsed.get_backend_name() == "sqlite":

            @event.listens_for(self.engine, "connect")
            def _pragmas(conn: Any, _record: Any) -> None:
                _sqlite_pragmas(conn, int(busy_timeout_ms))

        self.meta, self.predictions, self.feedback = metadata, predictions, feedback
        file = parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")
        self.sqlite_path = Path(parsed.database) if file else None

    def missing(self) -> bool:
        """True for a SQLite file that does not exist yet: readers say so instead of creating an empty one."""
        return self.sqlite_path is not None and not self.sqlite_path.exists()

    def require(self) -> PredictionLog:
        """This log, for a reader: a SQLite file that does not exist is a one-line error naming it (none is created)."""
        if self.missing():
            raise UserError(
                f"prediction log {redact(self.url)}: {self.sqlite_path} does not exist (has serving logged yet?)"
            )
        return self

    def create(self) -> PredictionLog:
        """Create the tables (and a SQLite file's folder) if they do not exist (idempotent): writers call this."""
        if self.sqlite_path is not None:
            self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.meta.create_all(self.engine)
        except SQLAlchemyError as err:
            raise UserError(f"log {self.url}: cannot create tables ({type(err).__name__})") from None
        return self

    def commit(
        self, predictions: list[Mapping[str, Any]], feedback: list[Mapping[str, Any]], *, wait: bool = True
    ) -> None:
        """Insert prediction and feedback rows in one transaction and commit it (the group commit's write).

        On a SQLite file this is one multi-row INSERT per table on a raw `sqlite3` connection (one
        per thread): a few C calls instead of SQLAlchemy's executemany, pool and transaction work
        (docs/performance.md, "Group commit"). ``wait=False`` does not wait for a lock held by
        another process (raises `sqlite3.OperationalError` at once) and leaves WAL checkpoints to
        `checkpoint`: the event loop commits this way. Other databases go through SQLAlchemy.
        """
        preds, fbs = _prediction_rows(list(predictions)), _feedback_rows(list(feedback))
        if self.sqlite_path is None:
            with self.engine.begin() as conn:
                if preds:
                    conn.execute(self.predictions.insert(), preds)
                if fbs:
                    conn.execute(self.feedback.insert(), fbs)
            return
        conn = self._sqlite(wait)
        statements = [s for s in (self._values(self.predictions, preds), self._values(self.feedback, fbs)) if s]
        try:
            if len(statements) == 1 and len(statements[0]) == 1:
                conn.execute(*statements[0][0])  # one statement in autocommit mode is one transaction
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                for parts in statements:
                    for sql, params in parts:
                        conn.execute(sql, params)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error:
            setattr(self._local, _conn_name(wait), None)  # reconnect on the next attempt (the file may be new)
            conn.close()
            raise

    def checkpoint(self) -> None:
        """Copy the SQLite WAL into the database without blocking writers (the writer thread, when idle)."""
        if self.sqlite_path is not None:
            self._sqlite(True).execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _sqlite(self, wait: bool) -> sqlite3.Connection:
        conn = getattr(self._local, _conn_name(wait), None)
        if conn is None:
            conn = sqlite3.connect(self.sqlite_path, isolation_level=None)
            _sqlite_pragmas(conn, self.busy_timeout_ms if wait else 0)
            if not wait:
                conn.execute("PRAGMA wal_autocheckpoint=0")  # a checkpoint's fsync never runs on the event loop
            setattr(self._local, _conn_name(wait), conn)
        return conn

    def _values(self, table: Table, rows: list[dict[str, Any]]) -> list[tuple[str, list[Any]]]:
        """Multi-row INSERT statements for `rows`, values converted as SQLAlchemy would store them."""
        if not rows:
            return []
        cols = [c for c in table.columns if c.name in rows[0]]
        dialect = self.engine.dialect
        convert = [c.type.dialect_impl(dialect).bind_processor(dialect) or (lambda v: v) for c in cols]
        per = SQLITE_MAX_VARIABLES // len(cols)
        head = f"INSERT INTO {table.name} ({', '.join(c.name for c in cols)}) VALUES "  # noqa: S608 (our names; values bound)
        one = "(" + ",".join("?" * len(cols)) + ")"
        out = []
        for start in range(0, len(rows), per):
            part = rows[start : start + per]
            params = [f(r[c.name]) for r in part for c, f in zip(cols, convert, strict=True)]
            out.append((head + ",".join([one] * len(part)), params))
        return out

    def write_predictions(self, rows: Iterable[Mapping[str, Any]], *, ignore_existing: bool = False) -> int:
        """Insert prediction rows (dict inputs/probabilities are JSON-encoded); return the count.

        ``ignore_existing``: skip ids already in the log (a journal replay may repeat rows).
        """
        rows_out = _prediction_rows(list(rows))
        if ignore_existing:
            return self._insert_new(rows_out)
        return self._insert(self.predictions, rows_out)

    def _insert_new(self, rows: Iterable[dict[str, Any]]) -> int:
        """Insert-or-ignore by primary key, portable across backends (select the known ids first)."""
        n = 0
        with self.engine.begin() as conn:
            for batch in _chunks(rows):
                for start in range(0, len(batch), 500):
                    part = batch[start : start + 500]
                    known = set(
                        conn.execute(
                            select(self.predictions.c.id).where(self.predictions.c.id.in_([r["id"] for r in part]))
                        ).scalars()
                    )
                    new = [r for r in part if r["id"] not in known]
                    if new:
                        conn.execute(self.predictions.insert(), new)
                        n += len(new)
        return n

    def prune(self, max_age_days: float | None, max_rows: int | None, now: datetime | None = None) -> dict[str, int]:
        """Delete predictions older than ``max_age_days`` or beyond the newest ``max_rows``, and their feedback."""
        p, f = self.predictions, self.feedback
        doomed = []
        if max_age_days is not None:
            cutoff = (now or utcnow()) - timedelta(days=max_age_days)
            doomed.append(select(p.c.id).where(p.c.ts < cutoff))
        if max_rows is not None:
            keep = select(p.c.id).order_by(p.c.ts.desc(), p.c.id.desc()).limit(max_rows)
            doomed.append(select(p.c.id).where(p.c.id.not_in(keep.scalar_subquery())))
        out = {"predictions": 0, "feedback": 0}
        if not doomed:
            return out
        with self.engine.begin() as conn:
            for ids in doomed:
                # Feedback refers to the answered id; a shadow row's id is that id + ".shadow".
                base = ids.subquery()
                out["feedback"] += conn.execute(f.delete().where(f.c.prediction_id.in_(select(base.c.id)))).rowcount
                out["predictions"] += conn.execute(p.delete().where(p.c.id.in_(select(base.c.id)))).rowcount
        return out

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


DEFAULT_JOURNAL = Path("logs/predictions.journal.jsonl")  # for a log that is not a SQLite file


def default_journal(url: str) -> Path:
    """Next to a SQLite file (``predictions.db`` -> ``predictions.journal.jsonl``), else ``logs/``."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return DEFAULT_JOURNAL
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        db = Path(parsed.database)
        return db.with_name(db.stem + ".journal.jsonl")
    return DEFAULT_JOURNAL


def _encode(row: Mapping[str, Any]) -> dict[str, Any]:
    ts = row.get("ts")
    return {**row, "ts": ts.isoformat() if isinstance(ts, datetime) else ts}


class Journal:
    """Append-only JSON lines of prediction rows the database did not take; fsync'd, flock'd across workers."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, rows: list[Mapping[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = "".join(json.dumps(_encode(r), separators=(",", ":"), allow_nan=False) + "\n" for r in rows)
        with open(self.path, "a", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

    def pending(self) -> bool:
        try:
            return self.path.stat().st_size > 0
        except FileNotFoundError:
            return False

    def ids(self) -> set[str]:
        if not self.pending():
            return set()
        return {r["id"] for r in self._read(self.path.read_text(encoding="utf-8"))}

    @staticmethod
    def _read(text: str) -> list[dict[str, Any]]:
        rows, cut = [], 0
        for line in text.splitlines():
            try:
                row = json.loads(line)
            except ValueError:  # a line cut by a crash before its fsync: never answered
                cut += 1
                continue
            row["ts"] = datetime.fromisoformat(row["ts"]) if row.get("ts") else None
            rows.append(row)
        if cut:
            log.warning("prediction log journal: %d unreadable line(s) skipped (cut by a crash before fsync)", cut)
        return rows

    def replay(self, log: PredictionLog) -> int:
        """Insert the journaled rows that are not in the log yet, then empty the journal; return rows replayed.

        Raises the database's error when it still refuses (the journal is kept).
        """
        if not self.pending():
            return 0
        with open(self.path, "r+", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            rows = self._read(fh.read())
            n = log.write_predictions(rows, ignore_existing=True) if rows else 0
            fh.truncate(0)
            fh.flush()
            os.fsync(fh.fileno())
        return n


class LogWriter:
    """Group commit: `write` (async) and `put_predictions` (a future) finish once the rows are durable.

    Durable means committed to the log or, when the log refuses `attempts` times, fsync'd to
    the journal. They fail only when neither worked (the request is then answered 503).
    `close()` writes every queued row.
    """

    def __init__(
        self,
        log: PredictionLog,
        batch_size: int = 500,
        flush_seconds: float = 0.5,
        journal: Path | None = None,
        attempts: int = 3,
    ) -> None:
        self.log = log
        self.attempts = attempts
        self.batch_size = batch_size
        self.flush_seconds = flush_seconds
        self.journal = Journal(journal or default_journal(log.url))
        self._queue: queue.SimpleQueue[tuple[str, list[Mapping[str, Any]], Future[None]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._written = {"predictions": 0, "feedback": 0}  # by the thread
        self._inline: list[tuple[list[Mapping[str, Any]], asyncio.Future[None]]] = []  # this loop turn's rows
        self._inline_written = 0  # by the event loop
        self._inline_unchecked = 0  # committed by the loop since the last WAL checkpoint
        self.failed = 0
        self.journaled = 0
        self.replayed = 0
        self._spilling = False
        self._closed = False
        self._stopped = False  # the thread has drained its queue: rows given now are written by the caller
        self._stopping = threading.Lock()  # a row is either queued before the last drain or written inline
        self._queued_ids: set[str] = set()  # answered (or about to be), not yet in the database

    def start(self) -> LogWriter:
        self._queued_ids.update(self.journal.ids())
        self._thread.start()
        return self

    def put_predictions(self, rows: list[Mapping[str, Any]]) -> Future[None]:
        self._queued_ids.update(r["id"] for r in rows if r.get("id"))
        return self._put("predictions", rows)

    def _put(self, kind: str, rows: list[Mapping[str, Any]]) -> Future[None]:
        """Queue rows for the thread, or write them here once it has stopped (a request late in shutdown).

        Written here, they block the caller (the event loop, for a batch it hands over) for the
        commit and its retries: only during shutdown, when the loop is already waiting on close().
        """
        fut: Future[None] = Future()
        with self._stopping:
            if self._stopped:
                self._write([(kind, rows, fut)])
            else:
                self._queue.put((kind, rows, fut))
        return fut

    def put_prediction(self, row: Mapping[str, Any]) -> Future[None]:
        return self.put_predictions([row])

    async def write(self, rows: list[Mapping[str, Any]]) -> None:
        """Return once `rows` are durable: the request path's call.

        On a SQLite file the event loop commits, itself, every row handed over in one turn of the
        loop: one INSERT, no thread hand-off, no waiting for a lock. When another process holds the
        lock (or the log is spilling, or on another database), the writer thread takes the rows:
        retries, then the journal. Raises RuntimeError when neither could keep them.
        """
        if self.log.sqlite_path is None:
            await asyncio.wrap_future(self.put_predictions(rows))
            return
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._inline.append((rows, fut))
        if len(self._inline) == 1:
            loop.call_soon(self._commit_inline, loop)
        await fut

    def _commit_inline(self, loop: asyncio.AbstractEventLoop) -> None:
        group, self._inline = self._inline, []
        rows = [r for part, _ in group for r in part]
        futures = [fut for _, fut in group]
        if not self._spilling:
            try:
                self.log.commit(rows, [], wait=False)
            except Exception as err:  # locked by another process, disk full: the thread's path decides
                log.debug("prediction log: the event loop's commit refused (%s), handed to the writer", _reason(err))
            else:
                self._inline_written += len(rows)
                self._inline_unchecked += len(rows)
                _settle(futures, None)
                return
        handed = self.put_predictions(rows)
        handed.add_done_callback(lambda f: loop.call_soon_threadsafe(_settle, futures, f.exception()))

    @property
    def written(self) -> dict[str, int]:
        """Rows committed to the database so far, by kind."""
        return {**self._written, "predictions": self._written["predictions"] + self._inline_written}

    def is_queued(self, prediction_id: str) -> bool:
        """True while a prediction this writer was given is not in the database yet (queued or journaled)."""
        return prediction_id in self._queued_ids

    def put_feedback(self, row: Mapping[str, Any]) -> Future[None]:
        return self._put("feedback", [row])

    def pending(self) -> int:
        return self._queue.qsize()

    def close(self, timeout: float | None = None) -> None:
        """Write every queued row and wait for the thread; rows given later are written by their caller."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            self._serve()
        finally:  # also after an unexpected error: nothing given to this writer may wait forever
            self._drain()

    def _serve(self) -> None:
        self._replay()  # rows a previous run journaled (start-up)
        stop = False
        while not stop:
            try:
                item = self._queue.get(timeout=self.flush_seconds)
            except queue.Empty:
                self._idle()
                continue
            # Whatever is queued now is one transaction: requests never wait for a batch to fill.
            batch: list[tuple[str, list[Mapping[str, Any]], Future[None]]] = []
            size = 0
            while True:
                if item is None:
                    stop = True
                    break
                batch.append(item)
                size += len(item[1])
                if size >= self.batch_size:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            self._write(batch)

    def _drain(self) -> None:
        with self._stopping:
            try:
                tail = []  # rows queued after the stop marker (a late request during shutdown)
                while True:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is not None:
                        tail.append(item)
                self._write(tail)
            finally:
                self._stopped = True

    def _idle(self) -> None:
        """Between batches: checkpoint what the event loop committed, replay the journal if it has rows."""
        if self._inline_unchecked:
            self._inline_unchecked = 0
            try:
                self.log.checkpoint()
            except Exception as err:  # a reader or another writer is busy: the next idle turn retries
                log.debug("prediction log: checkpoint skipped (%s)", _reason(err))
        if self.journal.pending() and not self._spilling:  # while spilling, the next good write replays
            self._replay()

    def _replay(self) -> None:
        if not self.journal.pending():
            return
        try:
            n = self.journal.replay(self.log)
        except Exception as err:
            log.warning("prediction log: journal %s kept (%s)", self.journal.path, _reason(err))
            self._spilling = True  # the log refuses: the event loop hands rows over until a write succeeds
            return
        self.replayed += n
        self._queued_ids.clear()  # only ids of batches in flight could be here, and this thread writes those
        log.info("prediction log: replayed %d journaled row(s) from %s", n, self.journal.path)

    def _write(self, batch: list[tuple[str, list[Mapping[str, Any]], Future[None]]]) -> None:
        if not batch:
            return
        preds = [r for kind, rows, _ in batch if kind == "predictions" for r in rows]
        fbs = [r for kind, rows, _ in batch if kind == "feedback" for r in rows]
        error: Exception | None = None
        attempts = 1 if self._spilling else self.attempts  # while the log refuses, do not make every batch wait
        for attempt in range(attempts):
            try:
                self.log.commit(preds, fbs)
                error = None
                break
            except Exception as err:  # database locked, connection lost: retry, then journal
                error = err
                if attempt < attempts - 1:
                    time.sleep(0.1 * 2**attempt)
        if error is None:
            self._written["predictions"] += len(preds)
            self._written["feedback"] += len(fbs)
            self._queued_ids.difference_update(r.get("id") for r in preds)
            if self._spilling or self.journal.pending():
                self._spilling = False
                self._replay()
            self._resolve(batch, None)
            return
        self._spilling = True
        try:
            if fbs:
                raise RuntimeError("feedback is not journaled")
            self.journal.append(preds)
        except Exception as jerr:
            self.failed += len(preds) + len(fbs)
            log.error(
                "prediction log: %d row(s) not written (%s; journal: %s)",
                len(preds) + len(fbs),
                _reason(error),
                _reason(jerr),
            )
            self._queued_ids.difference_update(r.get("id") for r in preds)
            self._resolve(batch, RuntimeError("prediction log unavailable"))
            return
        self.journaled += len(preds)
        log.warning("prediction log: %d row(s) journaled to %s (%s)", len(preds), self.journal.path, _reason(error))
        self._resolve(batch, None)

    @staticmethod
    def _resolve(batch: list[tuple[str, list[Mapping[str, Any]], Future[None]]], err: Exception | None) -> None:
        for _, _, fut in batch:
            if not fut.set_running_or_notify_cancel():
                continue  # the caller gave up on it (a client went away): the rows are written anyway
            if err is None:
                fut.set_result(None)
            else:
                fut.set_exception(err)


def _settle(futures: list[asyncio.Future[None]], err: BaseException | None) -> None:
    for fut in futures:
        if fut.done():  # the client went away and the request was cancelled
            continue
        if err is None:
            fut.set_result(None)
        else:
            fut.set_exception(err)


def _sqlite_pragmas(conn: Any, busy_timeout_ms: int) -> None:
    """Every connection to the log: WAL (readers never block the writer), commits without fsync
    (a committed row survives kill -9, not a power cut), and how long to wait for another's lock."""
    cur = conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    cur.close()


def _conn_name(wait: bool) -> str:
    return "waiting" if wait else "immediate"


def _reason(err: BaseException) -> str:
    """The driver's error class, not SQLAlchemy's message (which lists the rows' parameters)."""
    return type(getattr(err, "orig", None) or err).__name__


def _prediction_rows(rows: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
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
    ]


def _feedback_rows(rows: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"prediction_id": r["prediction_id"], "ts": r.get("ts") or utcnow(), "label": str(r["label"])} for r in rows
    ]
