"""`serve` (HTTP) and `score` (batch) commands."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config.errors import UserError

# Every `ml-gitops` start imports this module to register its commands, so the serving stack
# (uvicorn, FastAPI, ONNX Runtime, pandas, SQLAlchemy) is imported inside the handlers that need
# it; the start-up cost it would add is in docs/performance.md (Serving).
if TYPE_CHECKING:
    import uvicorn

log = logging.getLogger(__name__)


def _source_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--params", type=Path, default=Path("params.yaml"), help="composed config (default: params.yaml)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--bundle", type=Path, help="release bundle directory or .tar.gz (checksums verified)")
    src.add_argument(
        "--from-workspace",
        action="store_true",
        help="bundle the pipeline's own outputs (models/, reports/metrics.json) into a temp bundle",
    )


def _settings(ns: argparse.Namespace) -> Any:
    from ..config.serve import serve_settings
    from ..config.settings import load_settings

    cfg = serve_settings(load_settings(ns.params), str(ns.params))
    overrides = {k: getattr(ns, k) for k in ("host", "port", "workers", "log_url", "runtime") if getattr(ns, k, None)}
    if getattr(ns, "port", None) == 0:
        overrides["port"] = 0
    if getattr(ns, "candidate_mode", None):
        overrides["candidate"] = cfg.candidate.model_copy(update={"mode": ns.candidate_mode})
    return cfg.model_copy(update=overrides)


def _bundle(ns: argparse.Namespace, tmp: Path) -> Any:
    from ..serving.model import preflight, workspace_bundle

    if ns.bundle is not None:
        return preflight(ns.bundle)
    if not ns.from_workspace:
        raise UserError("give --bundle PATH (a release bundle) or --from-workspace (the pipeline's outputs)")
    return preflight(workspace_bundle(tmp))


def _candidate(ns: argparse.Namespace, cfg: Any, bundle: Any) -> Any:
    """The candidate bundle when serve.candidate.mode is shadow or canary; its schema must be the current one's."""
    from ..serving.model import SIGNATURE_FILE, preflight

    source = ns.candidate or cfg.candidate.bundle
    if cfg.candidate.mode == "off":
        if ns.candidate:
            log.warning("serve: --candidate ignored: serve.candidate.mode is off")
        return None
    if not source:
        raise UserError(f"serve.candidate.mode: {cfg.candidate.mode} needs serve.candidate.bundle or --candidate PATH")
    candidate = preflight(Path(source))
    if candidate.json(SIGNATURE_FILE)["features"] != bundle.json(SIGNATURE_FILE)["features"]:
        raise UserError(
            f"{source}: the candidate's features differ from {bundle.root}'s (one request schema serves both)"
        )
    return candidate


def _serve(ns: argparse.Namespace) -> int:
    import uvicorn

    from ..adapters.predlog import PredictionLog
    from ..serving import app as app_mod
    from ..serving.auth import load_tokens

    cfg = _settings(ns)
    load_tokens(cfg.auth)  # a configured token that is missing or unreadable stops here, with one line
    with tempfile.TemporaryDirectory(prefix="serve-") as tmp:
        bundle = _bundle(ns, Path(tmp))
        candidate = _candidate(ns, cfg, bundle)
        PredictionLog(cfg.log_url).create()  # a bad log URL stops here, with one line
        options: dict[str, Any] = {
            "host": cfg.host,
            "port": cfg.port,
            "log_config": None,  # uvicorn logs through the command's logging setup
            "log_level": "info" if log.isEnabledFor(logging.DEBUG) else "warning",
            "access_log": False,
            "timeout_graceful_shutdown": 30,
            # Bounds against slow/greedy clients: 503 past limit_concurrency, idle keep-alives closed,
            # an oversized request head closes the connection (h11's incomplete-event cap).
            "limit_concurrency": cfg.limit_concurrency,
            "timeout_keep_alive": cfg.timeout_keep_alive_seconds,
            "h11_max_incomplete_event_size": cfg.max_header_bytes,
        }
        log.info(
            "serve: %s %s on http://%s:%s (%d worker(s))", bundle.name, bundle.version, cfg.host, cfg.port, cfg.workers
        )
        if cfg.workers > 1:
            os.environ[app_mod.ENV_BUNDLE] = str(bundle.root)
            os.environ[app_mod.ENV_SETTINGS] = cfg.model_dump_json()
            if candidate is not None:
                os.environ[app_mod.ENV_CANDIDATE] = str(candidate.root)
            uvicorn.run(f"{app_mod.__name__}:app_from_env", factory=True, workers=cfg.workers, **options)
            return 0
        app = app_mod.create_app(bundle, cfg, candidate)
        server = uvicorn.Server(uvicorn.Config(app, **options))
        _run_until_stopped(server)
        if app.state.serving.error:
            return UserError.exit_code  # the model loader has logged why
        if not server.started:
            raise UserError(f"could not start on {cfg.host}:{cfg.port} (port in use?)")
    return 0


def _run_until_stopped(server: uvicorn.Server) -> None:
    """Run uvicorn until SIGTERM or Ctrl+C, then return so the command exits 0 and removes its temp files.

    While it runs, uvicorn handles SIGTERM itself (drain, then the lifespan's shutdown flushes
    the prediction log) and afterwards re-raises the signal to the handler that was in place
    before it started: this one, which asks the server to stop instead of killing the process.
    """
    previous = signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
    try:
        server.run()
    finally:
        signal.signal(signal.SIGTERM, previous)


def _score(ns: argparse.Namespace) -> int:
    from ..serving.batch import check_input, score
    from ..serving.model import load

    cfg = _settings(ns)
    check_input(ns.input)
    if ns.bundle is None:
        ns.from_workspace = True
    with tempfile.TemporaryDirectory(prefix="score-") as tmp:
        bundle = _bundle(ns, Path(tmp))
        served = load(bundle, cfg)
        log.info("score: runtime %s: %s", served.runtime, served.reason)
        batch_rows = ns.batch_rows or cfg.score_batch_rows
        summary = score(served, ns.input, ns.output, ns.rejects, batch_rows, show_progress=not ns.no_progress)
    log.info("%s", summary.line(ns.output, ns.rejects))
    if summary.rejected and ns.rejects is None:
        log.warning("score: %d invalid row(s) skipped; pass --rejects PATH to keep them with reasons", summary.rejected)
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="serve a model bundle over HTTP (/predict, /feedback, /health, /ready, /metadata)",
        description="Serve a verified bundle over HTTP; settings from conf/serve (params.yaml).",
    )
    _source_args(p)
    p.add_argument("--host", help="override serve.host")
    p.add_argument("--port", type=int, help="override serve.port (0: any free port)")
    p.add_argument("--workers", type=int, help="override serve.workers")
    p.add_argument("--log-url", help="override serve.log_url (any SQLAlchemy URL)")
    p.add_argument("--runtime", choices=["auto", "onnx", "sklearn"], help="override serve.runtime")
    p.add_argument("--candidate", help="override serve.candidate.bundle (used when serve.candidate.mode is not off)")
    p.add_argument("--candidate-mode", choices=["off", "shadow", "canary"], help="override serve.candidate.mode")
    p.set_defaults(handler=_serve)

    p = sub.add_parser(
        "score",
        help="batch-score a CSV/Parquet file into Parquet (invalid rows to --rejects)",
        description="Score a file in chunks with the bundle's model (default: the workspace's model).",
    )
    _source_args(p)
    p.add_argument("--input", type=Path, required=True, help="CSV or Parquet file")
    p.add_argument("--output", type=Path, required=True, help="Parquet file of predictions")
    p.add_argument("--rejects", type=Path, help="Parquet file of invalid rows with the reason")
    p.add_argument("--batch-rows", type=int, help="override serve.score_batch_rows")
    p.add_argument("--runtime", choices=["auto", "onnx", "sklearn"], help="override serve.runtime")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=_score)
