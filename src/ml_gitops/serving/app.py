"""The HTTP server: a FastAPI app for one verified bundle.

`/predict` reads the raw body and validates it with the pydantic models generated
from the signature (`validation.py`), scores the records with the runtime chosen
at load time (`model.py`: ONNX Runtime or the skops Pipeline) and hands one log
row per prediction to the log writer's group commit: the answer goes out once the
rows are committed (or journaled), so no answered prediction is lost.
The generated models are also what /openapi.json documents.

The body is read by hand rather than declared as a FastAPI parameter for three
answers FastAPI's own body handling does not give: 413 as soon as a (streamed)
body passes `serve.max_body_bytes`, 400 for a body that is not JSON at all (422 is
for JSON that breaks the schema), and field locations without union noise for
"one record or a list of records".

Writes need a bearer token (`auth.py`; /predict too when `serve.auth` says so), POST bodies
must be application/json (415 otherwise), and feedback is written while the client waits:
404 for an id this log never answered, one label per id (`serve.feedback.on_second_label`).
HEAD is answered on every GET route. `/docs` is off: FastAPI's page loads Swagger UI from a
CDN, which fails offline and is a third-party script on the server's origin; the document it
would show is `/openapi.json`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from ..adapters.predlog import SHADOW_SUFFIX, LogWriter, PredictionLog, utcnow
from ..adapters.progress import setup_logging
from ..config.errors import UserError
from ..config.serve import ServeSettings
from ..registry.bundle import Bundle, open_bundle
from . import auth
from . import model as model_mod
from .routing import Router
from .validation import BadJSON, RequestModels, build, error_detail, parse

log = logging.getLogger(__name__)
JSON = "application/json"


class Prediction(BaseModel):
    id: str = Field(description="prediction id: send it back to /feedback with the observed label")
    prediction: str
    probabilities: dict[str, float]


class Estimate(BaseModel):
    id: str = Field(description="prediction id: send it back to /feedback with the observed value")
    prediction: float = Field(description="the regressor's predicted value")


class PredictResponse(BaseModel):
    model: str
    version: str
    predictions: list[Prediction]


class EstimateResponse(BaseModel):
    """/predict's answer when the bundle's signature says task: regression."""

    model: str
    version: str
    predictions: list[Estimate]


class FeedbackResponse(BaseModel):
    accepted: int = Field(description="labels written to the log")
    ignored: int = Field(0, description="second labels skipped (serve.feedback.on_second_label: keep_first)")


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorResponse(BaseModel):
    detail: list[FieldError] | str


@dataclass
class State:
    """What the handlers share: the model once loaded, readiness, the log writer."""

    model: model_mod.ServedModel | None = None
    ready: bool = False
    error: str | None = None
    writer: LogWriter | None = None
    feedback_written: int = 0
    candidate: model_mod.ServedModel | None = None  # serve.candidate (shadow or canary)


async def read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The body, refused with 413 as soon as it (declared or streamed) exceeds ``limit`` bytes.

    A client that has not sent the whole body within ``timeout`` seconds gets 408 and the
    connection is closed, so stalled uploads cannot pin memory (serve.body_timeout_seconds).
    """
    too_big = HTTPException(413, f"request body over {limit} bytes (serve.max_body_bytes)")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise too_big
    chunks = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise too_big
                chunks.append(chunk)
    except TimeoutError:
        chunks.clear()
        raise HTTPException(
            408,
            f"request body not received within {timeout:g} s (serve.body_timeout_seconds)",
            headers={"connection": "close"},
        ) from None
    return b"".join(chunks)


class HeadAsGet:
    """Route HEAD like GET (FastAPI's routes answer 405); the server sends the headers, no body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "HEAD":
            scope = {**scope, "method": "GET"}
        await self.app(scope, receive, send)


def validated(body: bytes, one: type[BaseModel], many: Any) -> list[BaseModel]:
    """One object or a non-empty list of objects; 400 when not JSON, 422 naming each bad field."""
    try:
        return parse(body, one, many)
    except BadJSON as err:
        raise HTTPException(400, f"body is not valid JSON: {err}") from None
    except ValidationError as err:
        raise HTTPException(422, error_detail(err)) from None


def load_in_background(state: State, bundle: Bundle, cfg: ServeSettings, candidate: Bundle | None = None) -> None:
    """Load and verify the model off the event loop; /ready turns 200 only after this succeeds.

    A model that cannot load stops the server the way an operator would (SIGTERM):
    uvicorn drains, the lifespan flushes the log, the command exits non-zero.
    """
    try:
        served = model_mod.load(bundle, cfg)
        if candidate is not None:
            state.candidate = model_mod.load(candidate, cfg)
            log.info("serve: candidate %s (%s)", state.candidate.version, cfg.candidate.mode)
    except UserError as err:
        state.error = str(err)
    except Exception as err:  # an unreadable model must stop the server, not leave it half-up
        state.error = f"{bundle.root}: cannot load the model ({type(err).__name__}: {err})"
    if state.error is not None:
        log.error("serve: %s", state.error)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    state.model = served
    log.info("serve: runtime %s: %s", served.runtime, served.reason)
    if cfg.ready_delay_seconds:
        time.sleep(cfg.ready_delay_seconds)
    state.ready = True
    log.info("serve: %s %s ready", served.name, served.version)


def create_app(bundle: Bundle, cfg: ServeSettings, candidate: Bundle | None = None) -> FastAPI:
    """The app for one verified bundle (see `model.preflight`), and a candidate when serve.candidate is on."""
    sig = bundle.json(model_mod.SIGNATURE_FILE)
    models: RequestModels = build(sig, cfg.max_records)
    state = State()
    tokens = auth.load_tokens(cfg.auth)  # read once: no per-request I/O; never logged
    keep_first = cfg.feedback.on_second_label == "keep_first"
    router = Router(cfg.candidate)

    def optional(name: str) -> Any:
        return bundle.json(name) if bundle.path(name).is_file() else None

    metrics = optional(model_mod.METRICS_FILE)
    lineage = optional(model_mod.LINEAGE_FILE)
    onnx_report = optional(model_mod.ONNX_REPORT_FILE)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # How long the log writer thread may hold the GIL before the event loop gets it back.
        sys.setswitchinterval(cfg.gil_switch_interval_ms / 1000)
        writer = LogWriter(
            PredictionLog(cfg.log_url, cfg.log_busy_timeout_ms).create(),
            cfg.log_batch_size,
            cfg.log_flush_seconds,
            Path(cfg.log_journal) if cfg.log_journal else None,
            cfg.log_write_attempts,
        )
        state.writer = writer.start()
        log.info("%s", auth.describe(tokens, cfg.auth))
        threading.Thread(
            target=load_in_background, args=(state, bundle, cfg, candidate), name="model-loader", daemon=True
        ).start()
        try:
            yield
        finally:
            state.ready = False
            writer.close()
            log.info(
                "serve: prediction log flushed (%d predictions, %d feedback, %d journaled, %d failed)",
                writer.written["predictions"],
                state.feedback_written,
                writer.journaled,
                writer.failed,
            )

    app = FastAPI(
        title=f"{bundle.name} model server",
        version=bundle.version,
        description="Predictions validated by the training schema; every prediction and feedback is logged.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.serving = state
    app.add_middleware(HeadAsGet)

    record_schema = models.record.model_json_schema(ref_template="#/components/schemas/{model}")
    feedback_schema = models.feedback.model_json_schema(ref_template="#/components/schemas/{model}")

    def body_doc(name: str, description: str) -> dict[str, Any]:
        ref = {"$ref": f"#/components/schemas/{name}"}
        many = {"type": "array", "items": ref, "minItems": 1, "maxItems": cfg.max_records}
        return {
            "requestBody": {
                "required": True,
                "description": description,
                "content": {JSON: {"schema": {"anyOf": [ref, many]}}},
            }
        }

    errors: dict[int | str, dict[str, Any]] = {
        400: {"model": ErrorResponse, "description": "body is not JSON"},
        408: {"model": ErrorResponse, "description": "body not received within serve.body_timeout_seconds"},
        413: {"model": ErrorResponse, "description": "body over serve.max_body_bytes"},
        415: {"model": ErrorResponse, "description": "Content-Type is not application/json"},
        422: {"model": ErrorResponse, "description": "body breaks the schema (field-level messages)"},
    }
    denied: dict[int | str, dict[str, Any]] = {
        401: {"model": ErrorResponse, "description": "no bearer token"},
        403: {"model": ErrorResponse, "description": "wrong token, or feedback off (no token configured)"},
    }
    predict_errors = {
        **errors,
        **(denied if tokens.predict else {}),
        503: {"model": ErrorResponse, "description": "model not loaded yet"},
    }
    feedback_errors = {
        **errors,
        **denied,
        404: {"model": ErrorResponse, "description": "unknown prediction id (nothing written)"},
        409: {"model": ErrorResponse, "description": "the id already has a label (nothing written)"},
    }

    def ready_model() -> model_mod.ServedModel:
        if state.model is None or not state.ready:
            raise HTTPException(503, "model not loaded yet (see /ready)")
        return state.model

    @app.get("/health", summary="the process is up")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", summary="the model is loaded and verified", responses={503: {"description": "not yet"}})
    async def ready() -> JSONResponse:
        if state.ready and state.model is not None:
            return JSONResponse({"ready": True, "runtime": state.model.runtime, "version": bundle.version})
        return JSONResponse({"ready": False, "reason": state.error or "model loading"}, status_code=503)

    @app.get("/metadata", summary="version, lineage, schema and metrics of the served model")
    async def metadata() -> dict[str, Any]:
        served = state.model
        return {
            "model": bundle.name,
            "version": bundle.version,
            "runtime": served.runtime if served else None,
            "runtime_reason": served.reason if served else None,
            "schema": sig,
            "metrics": metrics,
            "lineage": lineage,
            "onnx": onnx_report,
            "manifest": {k: v for k, v in bundle.manifest.items() if k != "files"},
            "files": bundle.manifest.get("files", {}),
            "limits": {"max_body_bytes": cfg.max_body_bytes, "max_records": cfg.max_records},
        }

    regression = sig.get("task") == "regression"

    @app.post(
        "/predict",
        summary="predict one record or a list of records",
        response_model=EstimateResponse if regression else PredictResponse,
        responses=predict_errors,
        openapi_extra=body_doc("Record", "one record or a non-empty list of records"),
    )
    async def predict(request: Request) -> PredictResponse | EstimateResponse:
        start = time.perf_counter()
        auth.require_json(request)
        if tokens.predict is not None:
            auth.require_token(request, tokens.predict)
        served = ready_model()
        items = validated(
            await read_body(request, cfg.max_body_bytes, cfg.body_timeout_seconds), models.record, models.many
        )
        records = models.as_dicts(items)
        if state.candidate is not None:
            key = request.headers.get(cfg.candidate.sticky_key) if cfg.candidate.sticky_key else None
            served = state.candidate if router.answer(key) == "candidate" else served
        scores = served.predict_records(records).tolist()
        latency_ms = (time.perf_counter() - start) * 1000.0
        ts = utcnow()
        ids = [uuid.uuid4().hex for _ in records]
        out, rows = log_rows(served, ids, records, scores, ts, latency_ms)
        if state.candidate is not None and router.shadow:
            # The client never waits on this answer's quality, only on its compute; logged beside.
            shadow_start = time.perf_counter()
            shadow_scores = state.candidate.predict_records(records).tolist()
            shadow_ms = (time.perf_counter() - shadow_start) * 1000.0
            rows += log_rows(state.candidate, [i + SHADOW_SUFFIX for i in ids], records, shadow_scores, ts, shadow_ms)[
                1
            ]
        try:  # answered only once its rows are committed (or journaled): see adapters/predlog.py
            await state.writer.write(rows)  # type: ignore[union-attr]
        except RuntimeError:
            raise HTTPException(503, "prediction log unavailable, nothing answered") from None
        if regression:
            return EstimateResponse(model=bundle.name, version=served.version, predictions=out)
        return PredictResponse(model=bundle.name, version=served.version, predictions=out)

    def log_rows(
        served: model_mod.ServedModel,
        ids: list[str],
        records: list[dict[str, Any]],
        scores: list[Any],
        ts: Any,
        latency_ms: float,
    ) -> tuple[list[Any], list[dict[str, Any]]]:
        """The answers and one log row per record, each with the version that predicted it.

        ``scores``: a probability row per record, or a regressor's value (logged as its repr, no probabilities).
        """
        out: list[Any] = []
        rows: list[dict[str, Any]] = []
        for pid, record, row in zip(ids, records, scores, strict=True):
            if served.task == "regression":
                value = float(row)
                answer: Prediction | Estimate = Estimate(id=pid, prediction=value)
                logged, probabilities = repr(value), {}
            else:
                probabilities = dict(zip(served.classes, row, strict=True))
                logged = served.classes[row.index(max(row))]
                answer = Prediction(id=pid, prediction=logged, probabilities=probabilities)
            out.append(answer)
            rows.append(
                {
                    "id": pid,
                    "ts": ts,
                    "model": bundle.name,
                    "version": served.version,
                    "inputs": record,
                    "prediction": logged,
                    "probabilities": probabilities,
                    "latency_ms": latency_ms,
                }
            )
        return out, rows

    @app.post(
        "/feedback",
        summary="the observed label for an earlier prediction id",
        status_code=202,
        responses={202: {"description": "written to the log"}, **feedback_errors},
        openapi_extra=body_doc("Feedback", "one feedback object or a non-empty list"),
    )
    async def feedback(request: Request) -> FeedbackResponse:
        auth.require_json(request)
        auth.require_feedback_token(request, tokens, cfg.auth)
        items = validated(
            await read_body(request, cfg.max_body_bytes, cfg.body_timeout_seconds),
            models.feedback,
            models.feedback_many,
        )
        ts = utcnow()
        rows = [{"prediction_id": i.prediction_id, "label": i.label, "ts": ts} for i in items]  # type: ignore[attr-defined]
        writer = state.writer
        assert writer is not None
        outcome = await run_in_threadpool(writer.log.add_feedback, rows, writer.is_queued, keep_first=keep_first)
        if outcome.unknown and cfg.workers > 1:
            # Another worker may have answered the id and not written it yet: wait one flush, ask again.
            await asyncio.sleep(cfg.log_flush_seconds + 0.1)
            outcome = await run_in_threadpool(writer.log.add_feedback, rows, writer.is_queued, keep_first=keep_first)
        if outcome.unknown:
            shown = ", ".join(outcome.unknown[:5]) + (" ..." if len(outcome.unknown) > 5 else "")
            raise HTTPException(404, f"unknown prediction id(s), nothing written: {shown}")
        if outcome.labelled and not keep_first:
            shown = ", ".join(outcome.labelled[:5]) + (" ..." if len(outcome.labelled) > 5 else "")
            raise HTTPException(
                409, f"already labelled, nothing written (serve.feedback.on_second_label: refuse): {shown}"
            )
        state.feedback_written += outcome.written
        return FeedbackResponse(accepted=outcome.written, ignored=len(outcome.labelled))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, err: Exception) -> JSONResponse:
        """A bug, never the client's input: answer 500 (uvicorn logs the traceback), keep the worker."""
        return JSONResponse({"detail": "internal error"}, status_code=500)

    def openapi() -> dict[str, Any]:
        """FastAPI's document plus the generated Record and Feedback schemas the bodies refer to."""
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schemas = doc.setdefault("components", {}).setdefault("schemas", {})
            for schema in (record_schema, feedback_schema):
                schemas.update(schema.pop("$defs", {}))
            schemas["Record"] = record_schema
            schemas["Feedback"] = feedback_schema
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


# --------------------------------------------------------------- multi-worker entry point
ENV_BUNDLE = "ML_GITOPS_SERVE_BUNDLE"
ENV_SETTINGS = "ML_GITOPS_SERVE_SETTINGS"
ENV_CANDIDATE = "ML_GITOPS_SERVE_CANDIDATE"


def app_from_env() -> FastAPI:
    """uvicorn factory for `workers > 1`: each worker process builds its own app from the environment.

    Workers are fresh processes, so each sets up logging again (at the default level).
    """
    setup_logging()
    bundle = open_bundle(os.environ[ENV_BUNDLE])
    cfg = ServeSettings.model_validate_json(os.environ[ENV_SETTINGS])
    candidate = open_bundle(os.environ[ENV_CANDIDATE]) if os.environ.get(ENV_CANDIDATE) else None
    return create_app(bundle, cfg, candidate)
