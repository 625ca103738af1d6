"""The two reference servers of benchmarks/serve.py (one uvicorn worker each).

- ``baseline``: what a user writes by hand: FastAPI, a pydantic body, a pandas
  DataFrame per request, the scikit-learn Pipeline's predict_proba.
- ``bare``: the ceiling: a bare ASGI callable, json.loads, the same ONNX
  Runtime model our server uses, json.dumps; no validation, no logging.

Usage: python benchmarks/serve_apps.py {baseline,bare} --bundle DIR --port N
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pandas as pd
import uvicorn
from fastapi import Body, FastAPI

from ml_gitops.adapters.onnx import OnnxPredictor, records_feed
from ml_gitops.adapters.persistence import load_model


def baseline_app(bundle: Path) -> Any:
    pipe = load_model(bundle / "model.skops")
    classes = [str(c) for c in pipe.classes_]
    app = FastAPI()

    @app.post("/predict")
    def predict(body: Any = Body(...)) -> dict[str, Any]:  # noqa: B008 (FastAPI idiom)
        rows = body if isinstance(body, list) else [body]
        proba = pipe.predict_proba(pd.DataFrame(rows))
        return {
            "predictions": [
                {"prediction": classes[int(p.argmax())], "probabilities": dict(zip(classes, p.tolist(), strict=True))}
                for p in proba
            ]
        }

    return app


def bare_app(bundle: Path) -> Any:
    sig = json.loads((bundle / "signature.json").read_text())
    model = OnnxPredictor((bundle / "model.onnx").read_bytes(), sig)
    classes = model.classes
    headers = [(b"content-type", b"application/json")]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            msg = await receive()
            body += msg.get("body", b"")
            more = msg.get("more_body", False)
        data = json.loads(body)
        rows = data if isinstance(data, list) else [data]
        proba = model.proba(records_feed(rows, model.kinds)).tolist()
        out = [
            {
                "prediction": classes[max(range(len(p)), key=p.__getitem__)],
                "probabilities": dict(zip(classes, p, strict=True)),
            }
            for p in proba
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": json.dumps({"predictions": out}).encode()})

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["baseline", "bare"])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    ns = parser.parse_args()
    app = baseline_app(ns.bundle) if ns.kind == "baseline" else bare_app(ns.bundle)
    uvicorn.run(app, host="127.0.0.1", port=ns.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
