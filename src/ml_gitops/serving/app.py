"""The HTTP server: FastAPI app factory (OpenAPI from the signature), prediction log off the hot path.

`/predict` takes the raw request and validates the JSON bytes with the models
generated from the signature (pydantic-core, no intermediate dicts, no pandas)
and runs ONNX Runtime on per-column arrays: a single-row request costs tens of
microseconds of model work instead of milliseconds for a Pipeline on a DataFrame.
The generated models are also what /openapi.json documents.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError

from ..adapters.predlog import LogWriter, PredictionLog, utcnow
from ..config.errors import UserError
from ..config.serve import ServeSettings
from ..registry.bundle import Bundle
from . import model as model_mod
from .validation import BadJSON, RequestModels, build, error_detail, parse

JSON = "application/json"


class Prediction(BaseModel):
    id: str = Field(description="prediction id: send it back to /feedback with the observed label")
    prediction: str
    probabilities: dict[str, float]


class PredictResponse(BaseModel):
    model: str
    version: str
    predictions: list[Prediction]


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorResponse(BaseModel):
    detail: list[FieldError] | str


class State:
    """What the handlers share: the model once loaded, readiness, the log writer."""

    def __init__(self) -> None:
        self.model: model_mod.ServedModel | None = None
        self.ready = False
        self.error: str | None = None
        self.writer: LogWriter | None = None


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _error(status: int, detail: Any) -> Response:
    return Response(_dumps({"detail": detail}), status_code=status, media_type=JSON)


async def _read_body(request: Request, limit: int) -> bytes | Response:
    """The body, or a 413 as soon as it (declared or streamed) exceeds the configured size."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        return _error(413, f"request body over {limit} bytes (serve.max_body_bytes)")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return _error(413, f"request body over {limit} bytes (serve.max_body_bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


def _loader(state: State, bundle: Bundle, cfg: ServeSettings) -> None:
    """Load and verify the model off the event loop; /ready turns 200 only after this succeeds."""
    try:
        served = model_mod.load(bundle, cfg)
    except UserError as err:
        state.error = str(err)
    except Exception as err:  # an unreadable model must stop the server, not leave it half-up
        state.error = f"{bundle.root}: cannot load the model ({type(err).__name__}: {err})"
    if state.error is not None:
        print(f"serve: error: {state.error}", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    state.model = served
    for note in served.notes:
        print(f"serve: {note}", file=sys.stderr, flush=True)
    if cfg.ready_delay_seconds:
        time.sleep(cfg.ready_delay_seconds)
    state.ready = True
    print(f"serve: {served.name} {served.version} ready ({served.runtime})", file=sys.stderr, flush=True)


def create_app(bundle: Bundle, cfg: ServeSettings) -> FastAPI:
    """The app for one verified bundle (see `model.preflight`)."""
    sig = bundle.json(model_mod.SIGNATURE_FILE)
    models: RequestModels = build(sig, cfg.max_records)
    state = State()
    metrics = bundle.json(model_mod.METRICS_FILE) if bundle.path(model_mod.METRICS_FILE).is_file() else None
    lineage = bundle.json(model_mod.LINEAGE_FILE) if bundle.path(model_mod.LINEAGE_FILE).is_file() else None
    onnx_report = bundle.json(model_mod.ONNX_REPORT_FILE) if bundle.path(model_mod.ONNX_REPORT_FILE).is_file() else None

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        sys.setswitchinterval(cfg.gil_switch_interval_ms / 1000)  # the event loop's tail vs the log writer
        log = PredictionLog(cfg.log_url).create()
        state.writer = LogWriter(log, cfg.log_batch_size, cfg.log_flush_seconds).start()
        threading.Thread(target=_loader, args=(state, bundle, cfg), name="model-loader", daemon=True).start()
        try:
            yield
        finally:
            state.ready = False
            state.writer.close()
            w = state.writer
            print(
                f"serve: prediction log flushed ({w.written['predictions']} predictions, "
                f"{w.written['feedback']} feedback, {w.failed} failed)",
                file=sys.stderr,
                flush=True,
            )

    app = FastAPI(
        title=f"{bundle.name} model server",
        version=bundle.version,
        description="Predictions validated by the training schema; every prediction and feedback is logged.",
        lifespan=lifespan,
    )
    app.state.serving = state

    record_schema = models.record.model_json_schema(ref_template="#/components/schemas/{model}")
    feedback_schema = models.feedback.model_json_schema(ref_template="#/components/schemas/{model}")

    def body_doc(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
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
        413: {"model": ErrorResponse, "description": "body over serve.max_body_bytes"},
        422: {"model": ErrorResponse, "description": "body breaks the schema (field-level messages)"},
        503: {"model": ErrorResponse, "description": "model not loaded yet"},
    }

    @app.get("/health", summary="the process is up")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", summary="the model is loaded and verified", responses={503: {"description": "not yet"}})
    async def ready() -> Response:
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
            "notes": served.notes if served else [],
            "schema": sig,
            "metrics": metrics,
            "lineage": lineage,
            "onnx": onnx_report,
            "manifest": {k: v for k, v in bundle.manifest.items() if k != "files"},
            "files": bundle.manifest.get("files", {}),
            "limits": {"max_body_bytes": cfg.max_body_bytes, "max_records": cfg.max_records},
        }

    name, version = bundle.name, bundle.version

    @app.post(
        "/predict",
        summary="predict one record or a list of records",
        response_model=None,
        responses={200: {"model": PredictResponse}, **errors},
        openapi_extra=body_doc("Record", record_schema, "one record or a non-empty list of records"),
    )
    async def predict(request: Request) -> Response:
        start = time.perf_counter()
        body = await _read_body(request, cfg.max_body_bytes)
        if isinstance(body, Response):
            return body
        status, payload = predict_core(body, start)
        return Response(payload, status_code=status, media_type=JSON)

    def predict_core(body: bytes, start: float) -> tuple[int, bytes]:
        """The whole of /predict after the body is read: shared by the route and the fast path."""
        served = state.model
        if served is None or not state.ready:
            return 503, _dumps({"detail": "model not loaded yet (see /ready)"})
        try:
            items = parse(body, models.record, models.many)
        except BadJSON as err:
            return 400, _dumps({"detail": f"body is not valid JSON: {err}"})
        except ValidationError as err:
            return 422, _dumps({"detail": error_detail(err)})
        records = models.as_dicts(items)
        proba = served.proba_records(records).tolist()
        classes = served.classes
        latency = (time.perf_counter() - start) * 1000.0
        ts = utcnow()
        out = []
        put = state.writer.put_prediction  # type: ignore[union-attr]
        for rec, row in zip(records, proba, strict=True):
            pid = uuid.uuid4().hex
            best = max(range(len(row)), key=row.__getitem__)
            probs = dict(zip(classes, row, strict=True))
            out.append({"id": pid, "prediction": classes[best], "probabilities": probs})
            put(
                {
                    "id": pid,
                    "ts": ts,
                    "model": name,
                    "version": version,
                    "inputs": rec,
                    "prediction": classes[best],
                    "probabilities": probs,
                    "latency_ms": latency,
                }
            )
        return 200, _dumps({"model": name, "version": version, "predictions": out})

    app.state.predict_core = predict_core

    @app.post(
        "/feedback",
        summary="the observed label for an earlier prediction id",
        status_code=202,
        response_model=None,
        responses={202: {"description": "queued for the log"}, **errors},
        openapi_extra=body_doc("Feedback", feedback_schema, "one feedback object or a non-empty list"),
    )
    async def feedback(request: Request) -> Response:
        body = await _read_body(request, cfg.max_body_bytes)
        if isinstance(body, Response):
            return body
        try:
            items = parse(body, models.feedback, models.feedback_many)
        except BadJSON as err:
            return _error(400, f"body is not valid JSON: {err}")
        except ValidationError as err:
            return _error(422, error_detail(err))
        ts = utcnow()
        for item in items:
            state.writer.put_feedback(  # type: ignore[union-attr]
                {"prediction_id": item.prediction_id, "label": item.label, "ts": ts}  # type: ignore[attr-defined]
            )
        return Response(_dumps({"accepted": len(items)}), status_code=202, media_type=JSON)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, err: Exception) -> Response:  # a bug, never the client's input
        print(f"serve: unexpected {type(err).__name__}: {err}", file=sys.stderr, flush=True)
        return _error(500, "internal error")

    def openapi() -> dict[str, Any]:
        from fastapi.openapi.utils import get_openapi

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


# --------------------------------------------------------------- the hot path
class FastPredict:
    """ASGI wrapper: POST /predict goes straight to the shared core, everything else to FastAPI.

    Same validation, same answers, same log rows as the FastAPI route (which documents it);
    what it skips is routing, dependency solving and Request objects: about a third of
    the per-request cost on one worker (see docs/performance.md, Serving).
    """

    def __init__(self, app: FastAPI, max_body: int) -> None:
        self.app = app
        self.max_body = max_body
        self.state = app.state

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/predict" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status, payload = await self._body(scope, receive)
        if status == 200:
            try:
                status, payload = self.state.predict_core(payload, start)
            except Exception as err:  # a bug, never the client's input: answer, keep the worker
                print(f"serve: unexpected {type(err).__name__}: {err}", file=sys.stderr, flush=True)
                status, payload = 500, _dumps({"detail": "internal error"})
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", JSON.encode()), (b"content-length", str(len(payload)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    async def _body(self, scope: dict[str, Any], receive: Any) -> tuple[int, bytes]:
        too_big = (413, _dumps({"detail": f"request body over {self.max_body} bytes (serve.max_body_bytes)"}))
        for key, value in scope.get("headers", ()):
            if key == b"content-length" and (not value.isdigit() or int(value) > self.max_body):
                return too_big
        chunks = []
        size = 0
        more = True
        while more:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return 400, _dumps({"detail": "client disconnected"})
            chunk = msg.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return too_big
            chunks.append(chunk)
            more = msg.get("more_body", False)
        return 200, b"".join(chunks)


def asgi_app(bundle: Bundle, cfg: ServeSettings) -> FastPredict:
    """What uvicorn serves: the FastAPI app behind the /predict fast path."""
    return FastPredict(create_app(bundle, cfg), cfg.max_body_bytes)


# --------------------------------------------------------------- multi-worker entry point
ENV_BUNDLE = "ML_GITOPS_SERVE_BUNDLE"
ENV_SETTINGS = "ML_GITOPS_SERVE_SETTINGS"


def app_from_env() -> FastPredict:
    """uvicorn factory for `workers > 1` (each worker process builds its own app)."""
    from ..registry.bundle import open_bundle

    bundle = open_bundle(os.environ[ENV_BUNDLE])
    cfg = ServeSettings.model_validate_json(os.environ[ENV_SETTINGS])
    return asgi_app(bundle, cfg)
