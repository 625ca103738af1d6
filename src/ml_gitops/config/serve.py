"""Typed settings of the `serve` config group (conf/serve/), read by the serving layer.

`serve.onnx` is typed in config/onnx.py: the train stage reads it (the export's parity check),
and only that file is a train dependency.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .onnx import OnnxSettings
from .settings import Settings, Strict, parse_group


class AuthSettings(Strict):
    """Where the bearer tokens come from: the names of an env var and/or a secret file, never the token."""

    feedback_token_env: str | None = Field("ML_GITOPS_FEEDBACK_TOKEN", min_length=1)
    feedback_token_file: str | None = Field(None, min_length=1)
    # No feedback token configured: /feedback answers 403, unless this opens it (a local demo only).
    open_feedback: bool = False
    predict_token_env: str | None = Field(None, min_length=1)
    predict_token_file: str | None = Field(None, min_length=1)


class FeedbackSettings(Strict):
    # A second label for an id: refuse (409, nothing written) or keep_first (202, counted as ignored).
    on_second_label: Literal["refuse", "keep_first"] = "refuse"


class CandidateSettings(Strict):
    """A second bundle served beside the current one (serving/routing.py decides who answers)."""

    # off: current model only; shadow: current answers, candidate also predicts (both logged);
    # canary: `fraction` of requests are answered by the candidate.
    mode: Literal["off", "shadow", "canary"] = "off"
    fraction: float = Field(0.1, ge=0, le=1)
    # Request header whose value pins a client to one side (hash -> bucket); absent: random per request.
    sticky_key: str | None = Field("x-client-id", min_length=1)
    # The candidate bundle (dir or .tar.gz); `serve --candidate` overrides it (deploy: the canary stage).
    bundle: str | None = Field(None, min_length=1)
    seed: int | None = None


class RetentionSettings(Strict):
    """How much of the prediction log `ml-gitops monitor prune` keeps (null: no limit)."""

    max_age_days: float | None = Field(None, gt=0)
    max_rows: int | None = Field(None, ge=1)


class ServeSettings(Strict):
    host: str = Field("127.0.0.1", min_length=1)
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(1, ge=1, le=64)
    max_body_bytes: int = Field(1_048_576, ge=256)
    max_records: int = Field(1000, ge=1)
    limit_concurrency: int = Field(1000, ge=1)
    timeout_keep_alive_seconds: int = Field(5, ge=1, le=600)
    max_header_bytes: int = Field(16_384, ge=1024)
    body_timeout_seconds: float = Field(10.0, gt=0, le=600)
    runtime: Literal["auto", "onnx", "sklearn"] = "auto"
    ready_delay_seconds: float = Field(0.0, ge=0, le=3600)
    log_url: str = Field("sqlite:///logs/predictions.db", min_length=1)
    log_batch_size: int = Field(500, ge=1)
    log_flush_seconds: float = Field(0.5, gt=0, le=60)
    log_busy_timeout_ms: int = Field(1000, ge=0, le=600_000)
    log_write_attempts: int = Field(3, ge=1, le=20)
    log_journal: str | None = Field(None, min_length=1)
    log_retention: RetentionSettings = RetentionSettings()
    gil_switch_interval_ms: float = Field(1.0, gt=0, le=100)
    score_batch_rows: int = Field(100_000, ge=1)
    onnx: OnnxSettings = OnnxSettings()
    auth: AuthSettings = AuthSettings()
    feedback: FeedbackSettings = FeedbackSettings()
    candidate: CandidateSettings = CandidateSettings()


def serve_settings(settings: Settings, source: str = "params.yaml") -> ServeSettings:
    """Validate `settings.extra_groups['serve']`, naming the dotted key on a bad value."""
    return parse_group(ServeSettings, settings.extra_groups.get("serve"), "serve", source=source)
