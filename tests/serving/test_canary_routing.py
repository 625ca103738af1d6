"""serving/routing.py: who answers when a candidate is loaded (pure, no server)."""

from __future__ import annotations

from ml_gitops.config.serve import CandidateSettings
from ml_gitops.serving.routing import Router, bucket


def test_bucket_is_deterministic_and_uniform_enough() -> None:
    assert bucket("client-1") == bucket("client-1")
    points = [bucket(f"client-{i}") for i in range(10_000)]
    assert all(0 <= p < 1 for p in points)
    assert 0.47 < sum(p < 0.5 for p in points) / len(points) < 0.53


def test_canary_sends_the_fraction_and_keeps_each_key_on_its_side() -> None:
    router = Router(CandidateSettings(mode="canary", fraction=0.2, seed=1))
    keys = [f"user-{i}" for i in range(5_000)]
    first = {k: router.answer(k) for k in keys}
    share = sum(side == "candidate" for side in first.values()) / len(keys)
    assert 0.18 < share < 0.22
    assert all(router.answer(k) == side for k, side in first.items())  # sticky


def test_canary_without_a_key_draws_per_request() -> None:
    router = Router(CandidateSettings(mode="canary", fraction=0.3, seed=7))
    sides = [router.answer(None) for _ in range(5_000)]
    assert 0.27 < sides.count("candidate") / len(sides) < 0.33


def test_shadow_and_off_always_answer_with_the_current_model() -> None:
    shadow = Router(CandidateSettings(mode="shadow", fraction=1.0))
    off = Router(CandidateSettings(mode="off", fraction=1.0))
    assert {shadow.answer("k"), shadow.answer(None), off.answer("k")} == {"current"}
    assert shadow.shadow and not off.shadow
