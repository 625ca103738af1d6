"""Who answers a request when a candidate bundle is loaded beside the current one.

Plain and pure so the split is testable without a server: a sticky key hashes (SHA-256, not
Python's salted `hash`) to a bucket in [0, 1), so one client stays on one side across requests,
workers and restarts; a request without a key is drawn at random.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Literal

from ..config.serve import CandidateSettings

Side = Literal["current", "candidate"]


def bucket(key: str) -> float:
    """A deterministic point in [0, 1) for ``key`` (first 8 bytes of its SHA-256)."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass
class Router:
    """Routes one request: `answer` is who responds, `shadow` whether the candidate also predicts."""

    cfg: CandidateSettings
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        if self.cfg.seed is not None:
            self.rng.seed(self.cfg.seed)

    def answer(self, key: str | None) -> Side:
        if self.cfg.mode != "canary":
            return "current"
        point = bucket(key) if key else self.rng.random()
        return "candidate" if point < self.cfg.fraction else "current"

    @property
    def shadow(self) -> bool:
        return self.cfg.mode == "shadow"
