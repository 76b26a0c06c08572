"""`mlplat verify`: the stacks' graphs applied to an emulated AWS (moto) through boto3, and read back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mlplat.verify.emulator import Clients, moto_endpoint
from mlplat.verify.replay import VerifyReport, coverage_line, replay

__all__ = ["VerifyReport", "coverage_line", "verify"]


def verify(graphs: Sequence[Mapping[str, Any]], endpoint_url: str | None = None) -> VerifyReport:
    """Replays `graphs` (global first) against `endpoint_url`, or a fresh in-process moto server when None."""
    if endpoint_url:
        return replay(graphs, Clients(endpoint_url))
    with moto_endpoint() as url:
        return replay(graphs, Clients(url))
