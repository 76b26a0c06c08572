"""Which variant answers: sticky canary assignment by a stable hash of tenant + entity. Pure logic."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

CHAMPION = "champion"
CHALLENGER = "challenger"
_SCALE = float(1 << 64)


def bucket(tenant: str, entity: str) -> float:
    """A stable number in [0, 1) for tenant + entity: the same everywhere, every run, every replica."""
    digest = hashlib.blake2b(f"{tenant}\x1f{entity}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


@dataclass(frozen=True)
class Route:
    """`answer` scores and answers; `shadow` (if any) scores a copy whose result is only compared."""

    answer: str
    shadow: str | None = None


def choose(
    canary_weight: float,
    *,
    shadow: bool,
    has_challenger: bool,
    tenant: str | None = None,
    entity: str | None = None,
    rng: random.Random | None = None,
) -> Route:
    """Entities below the weight go to the challenger (sticky: a higher weight only moves more over).

    Without an entity the draw is random per request. In shadow mode the champion always answers.
    """
    if not has_challenger:
        return Route(CHAMPION)
    if shadow:
        return Route(CHAMPION, shadow=CHALLENGER)
    if canary_weight <= 0:
        return Route(CHAMPION)
    if canary_weight >= 1:
        return Route(CHALLENGER)
    # a random split when there is no entity to stick to (traffic split, not security)
    point = bucket(tenant or "", entity) if entity is not None else (rng or random).random()
    return Route(CHALLENGER if point < canary_weight else CHAMPION)
