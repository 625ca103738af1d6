"""Typed settings of `serve.onnx`: the ONNX parity check that train runs and serving trusts.

A module of its own because the train stage reads these keys only: dvc.yaml lists this file as a
train dependency, so editing the rest of the serving config (config/serve.py) does not retrain.
"""

from __future__ import annotations

from pydantic import Field

from .settings import Settings, Strict, parse_group


class OnnxSettings(Strict):
    tolerance: float = Field(1e-5, gt=0, le=1)
    parity_rows: int = Field(2000, ge=0, le=1_000_000)
    seed: int = 0


def onnx_settings(settings: Settings, source: str = "params.yaml") -> OnnxSettings:
    """Validate only `serve.onnx`: the train stage declares that key, not the rest of `serve`."""
    raw = (settings.extra_groups.get("serve") or {}).get("onnx") or {}
    return parse_group(OnnxSettings, raw, ("serve", "onnx"), source=source)
