"""`serve` (HTTP) and `score` (batch) commands. Heavy imports stay inside the handlers."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from ..config.errors import UserError


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
    return cfg.model_copy(update=overrides)


def _bundle(ns: argparse.Namespace, tmp: Path) -> Any:
    from ..serving.model import preflight, workspace_bundle

    if ns.bundle is not None:
        return preflight(ns.bundle)
    if not ns.from_workspace:
        raise UserError("give --bundle PATH (a release bundle) or --from-workspace (the pipeline's outputs)")
    return preflight(workspace_bundle(tmp))


def _serve(ns: argparse.Namespace) -> int:
    import json
    import os

    import uvicorn

    from ..adapters.predlog import PredictionLog
    from ..serving import app as app_mod

    cfg = _settings(ns)
    with tempfile.TemporaryDirectory(prefix="serve-") as tmp:
        bundle = _bundle(ns, Path(tmp))
        PredictionLog(cfg.log_url).create()  # a bad log URL stops here, with one line
        common: dict[str, Any] = {
            "host": cfg.host,
            "port": cfg.port,
            "log_level": "warning",
            "access_log": False,
            "timeout_graceful_shutdown": 30,
            "limit_concurrency": None,
        }
        print(f"serve: {bundle.name} {bundle.version} on http://{cfg.host}:{cfg.port} ({cfg.workers} worker(s))")
        if cfg.workers > 1:
            os.environ[app_mod.ENV_BUNDLE] = str(bundle.root)
            os.environ[app_mod.ENV_SETTINGS] = json.dumps(cfg.model_dump())
            uvicorn.run(f"{app_mod.__name__}:app_from_env", factory=True, workers=cfg.workers, **common)
            return 0
        app = app_mod.asgi_app(bundle, cfg)
        _GracefulServer = _graceful_server_class()  # noqa: N806
        server = _GracefulServer(uvicorn.Config(app, **common))
        server.run()
        state = app.state.serving
        if state.error:
            raise UserError(state.error)
        if not server.started:
            raise UserError(f"could not start on {cfg.host}:{cfg.port} (port in use?)")
    return 0


def _graceful_server_class() -> Any:
    import uvicorn

    class GracefulServer(uvicorn.Server):
        """SIGTERM/SIGINT: drain, flush the prediction log, exit 0 (uvicorn would re-raise the signal)."""

        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            captured = getattr(self, "_captured_signals", None)
            if isinstance(captured, list):
                captured.clear()

    return GracefulServer


def _score(ns: argparse.Namespace) -> int:
    from ..serving.batch import score
    from ..serving.model import load

    cfg = _settings(ns)
    if ns.bundle is None:
        ns.from_workspace = True
    with tempfile.TemporaryDirectory(prefix="score-") as tmp:
        bundle = _bundle(ns, Path(tmp))
        served = load(bundle, cfg)
        summary = score(
            served,
            ns.input,
            ns.output,
            ns.rejects,
            ns.batch_rows or cfg.score_batch_rows,
            progress=not ns.no_progress,
        )
    print(f"{summary.line(ns.output, ns.rejects)} [{served.runtime}]")
    if summary.rejected and ns.rejects is None:
        print(f"score: {summary.rejected} invalid row(s) skipped; pass --rejects PATH to keep them with reasons")
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
