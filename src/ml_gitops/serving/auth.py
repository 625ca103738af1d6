"""Bearer tokens for the endpoints that write, and the JSON-only rule for POST bodies.

Tokens are read once at start-up from the env var or secret file that `serve.auth` names
(conf/ holds names, never tokens), so a request costs one header lookup and one
`hmac.compare_digest`: no disk I/O, no timing leak. Nothing here logs a token or puts one
in an error message.

JSON only (415 otherwise): a browser can send text/plain, form and multipart bodies across
sites without a preflight ("simple" requests); requiring application/json blocks them.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fastapi import HTTPException, Request

from ..config.errors import UserError
from ..config.serve import AuthSettings

MIN_TOKEN_CHARS = 16
JSON_TYPE = "application/json"


@dataclass(frozen=True)
class Tokens:
    """The tokens in force (None: not required), and where they came from, for the start-up log."""

    feedback: bytes | None
    predict: bytes | None
    open_feedback: bool
    feedback_source: str
    predict_source: str


def _read(env: str | None, file: str | None, key: str, environ: Mapping[str, str]) -> tuple[bytes | None, str]:
    """The token from ``$env`` (when set and non-empty), else the first line of ``file``."""
    if env and environ.get(env, "").strip():
        value, source = environ[env].strip(), f"${env}"
    elif file:
        path = Path(file)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as err:
            raise UserError(f"serve.auth.{key}_token_file: cannot read {path} ({err.strerror})") from None
        value, source = (lines[0].strip() if lines else ""), str(path)
        if not value:
            raise UserError(f"serve.auth.{key}_token_file: {path} is empty")
    else:
        return None, ""
    if len(value) < MIN_TOKEN_CHARS:
        raise UserError(f"serve.auth: the {key} token from {source} is shorter than {MIN_TOKEN_CHARS} characters")
    return value.encode(), source


def load_tokens(cfg: AuthSettings, environ: Mapping[str, str] | None = None) -> Tokens:
    """Resolve the tokens at start-up; a /predict token that is configured but absent stops the server."""
    environ = os.environ if environ is None else environ
    feedback, fsource = _read(cfg.feedback_token_env, cfg.feedback_token_file, "feedback", environ)
    predict, psource = _read(cfg.predict_token_env, cfg.predict_token_file, "predict", environ)
    if predict is None and (cfg.predict_token_env or cfg.predict_token_file):
        where = f"${cfg.predict_token_env}" if cfg.predict_token_env else "serve.auth.predict_token_file"
        raise UserError(f"serve.auth: /predict requires a token but {where} is not set")
    return Tokens(feedback, predict, cfg.open_feedback, fsource, psource)


def _how(cfg: AuthSettings) -> str:
    env = f"${cfg.feedback_token_env}" if cfg.feedback_token_env else "serve.auth.feedback_token_env"
    return f"set {env} (or serve.auth.feedback_token_file)"


def describe(tokens: Tokens, cfg: AuthSettings) -> str:
    """One start-up line saying who may write (sources by name only)."""
    if tokens.feedback is not None:
        fb = f"feedback needs a bearer token ({tokens.feedback_source})"
    elif tokens.open_feedback:
        fb = "feedback OPEN without a token (serve.auth.open_feedback: local demo only)"
    else:
        fb = f"feedback off (no token: {_how(cfg)})"
    pr = f"predict needs a bearer token ({tokens.predict_source})" if tokens.predict else "predict open"
    return f"serve: {fb}; {pr}"


def require_json(request: Request) -> None:
    """415 unless the body is declared as application/json (parameters such as charset allowed)."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != JSON_TYPE:
        raise HTTPException(415, f"Content-Type must be {JSON_TYPE} (got {media or 'none'})")


def require_token(request: Request, token: bytes) -> None:
    """401 without a bearer token, 403 with a wrong one; compared in constant time."""
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise HTTPException(
            401, "bearer token required (Authorization: Bearer <token>)", {"WWW-Authenticate": "Bearer"}
        )
    if not hmac.compare_digest(given.strip().encode(), token):
        raise HTTPException(403, "invalid token")


def require_feedback_token(request: Request, tokens: Tokens, cfg: AuthSettings) -> None:
    """Feedback is off (403) without a configured token unless conf/ opens it; else the token is required."""
    if tokens.feedback is not None:
        require_token(request, tokens.feedback)
    elif not tokens.open_feedback:
        raise HTTPException(
            403,
            f"feedback is off: {_how(cfg)} and send it as a bearer token",
        )
