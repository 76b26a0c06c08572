"""Sticky canary routing: stable buckets, the weight honoured, shadow never answers."""

from __future__ import annotations

import random

from runtime.serving.routing import CHALLENGER, CHAMPION, Route, bucket, choose


def test_bucket_is_stable_and_in_range() -> None:
    assert bucket("acme-eu", "c-1") == bucket("acme-eu", "c-1")
    assert bucket("acme-eu", "c-1") != bucket("bosch-de", "c-1")
    assert all(0 <= bucket("t", f"e-{i}") < 1 for i in range(1000))


def test_same_entity_always_same_variant_and_weight_is_honoured() -> None:
    entities = [f"e-{i}" for i in range(20_000)]
    first = [choose(0.25, shadow=False, has_challenger=True, tenant="t", entity=e).answer for e in entities]
    again = [choose(0.25, shadow=False, has_challenger=True, tenant="t", entity=e).answer for e in entities]
    assert first == again
    share = first.count(CHALLENGER) / len(first)
    assert 0.23 < share < 0.27


def test_raising_the_weight_only_moves_entities_to_the_challenger() -> None:
    entities = [f"e-{i}" for i in range(5000)]
    at_5 = {
        e
        for e in entities
        if choose(0.05, shadow=False, has_challenger=True, tenant="t", entity=e).answer == CHALLENGER
    }
    at_50 = {
        e for e in entities if choose(0.5, shadow=False, has_challenger=True, tenant="t", entity=e).answer == CHALLENGER
    }
    assert at_5 < at_50


def test_edges_shadow_and_no_challenger() -> None:
    assert choose(0.5, shadow=False, has_challenger=False, entity="x") == Route(CHAMPION)
    assert choose(0.0, shadow=False, has_challenger=True, entity="x") == Route(CHAMPION)
    assert choose(1.0, shadow=False, has_challenger=True, entity="x") == Route(CHALLENGER)
    assert choose(0.5, shadow=True, has_challenger=True, entity="x") == Route(CHAMPION, shadow=CHALLENGER)
    rng = random.Random(1)
    draws = [choose(0.5, shadow=False, has_challenger=True, rng=rng).answer for _ in range(2000)]
    assert 0.45 < draws.count(CHALLENGER) / 2000 < 0.55
