"""The prediction log: every served prediction and every feedback label, in one SQL database.

This module is the single definition of the log's tables (the contract between
serving, which writes, and monitoring, which reads). Any SQLAlchemy URL works;
the default is a SQLite file so the whole loop runs without a server.

Tables
  predictions(id TEXT pk uuid4 hex, ts DATETIME UTC naive, model TEXT, version TEXT,
              inputs TEXT JSON {feature: value}, prediction TEXT,
              probabilities TEXT JSON {class: prob}, latency_ms FLOAT)
  feedback(id INTEGER pk autoincrement, prediction_id TEXT indexed, ts DATETIME UTC, label TEXT)
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, DateTime, Float, Integer, MetaData, String, Table, Text

from .errors import UserError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

DEFAULT_URL = "sqlite:///logs/predictions.db"
# Rows per INSERT batch: bounded memory for large back-fills.
WRITE_BATCH = 50_000

metadata = MetaData()

predictions = Table(
    "predictions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("ts", DateTime, nullable=False, index=True),
    Column("model", Text),
    Column("version", Text),
    Column("inputs", Text, nullable=False),
    Column("prediction", Text),
    Column("probabilities", Text),
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


def utcnow() -> dt.datetime:
    """UTC as a naive datetime: the log's timestamp convention (SQLite has no time zones)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def new_id() -> str:
    return uuid.uuid4().hex


def _dumps(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), allow_nan=False)


class PredictionLog:
    """Write (and create) the log at a SQLAlchemy URL."""

    def __init__(self, url: str = DEFAULT_URL) -> None:
        self.url = url
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from sqlalchemy import create_engine
            from sqlalchemy.exc import ArgumentError

            if self.url.startswith("sqlite:///") and self.url != "sqlite:///:memory:":
                Path(self.url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            try:
                self._engine = create_engine(self.url)
            except (ArgumentError, ImportError) as err:
                raise UserError(f"prediction log URL {redact(self.url)!r}: {err}") from None
        return self._engine

    def create(self) -> PredictionLog:
        metadata.create_all(self.engine)
        return self

    def write_predictions(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert prediction rows; ``inputs``/``probabilities`` may be dicts or JSON text.

        Missing ``id`` and ``ts`` are filled in (uuid4 hex, UTC now).
        """

        def norm(r: Mapping[str, Any]) -> dict[str, Any]:
            return {
                "id": r.get("id") or new_id(),
                "ts": r.get("ts") or utcnow(),
                "model": r.get("model"),
                "version": r.get("version"),
                "inputs": _dumps(r["inputs"]),
                "prediction": None if r.get("prediction") is None else str(r["prediction"]),
                "probabilities": None if r.get("probabilities") is None else _dumps(r["probabilities"]),
                "latency_ms": r.get("latency_ms"),
            }

        return self._insert(predictions, (norm(r) for r in rows))

    def write_feedback(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert feedback labels: ``prediction_id``, ``label`` and optionally ``ts``."""

        def norm(r: Mapping[str, Any]) -> dict[str, Any]:
            return {"prediction_id": r["prediction_id"], "ts": r.get("ts") or utcnow(), "label": str(r["label"])}

        return self._insert(feedback, (norm(r) for r in rows))

    def _insert(self, table: Table, rows: Iterable[dict[str, Any]]) -> int:
        n = 0
        batch: list[dict[str, Any]] = []
        with self.engine.begin() as conn:
            for row in rows:
                batch.append(row)
                if len(batch) >= WRITE_BATCH:
                    conn.execute(table.insert(), batch)
                    n += len(batch)
                    batch = []
            if batch:
                conn.execute(table.insert(), batch)
                n += len(batch)
        return n


def redact(url: str) -> str:
    """The URL without its password, for reports and error messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable URL>"
