"""An account `mlplat verify` built from every stack, in one moto server shared by the verify and audit tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mlplat.verify import VerifyReport, verify
from mlplat.verify.emulator import moto_endpoint


@pytest.fixture(scope="session")
def verified_account(graphs: dict[str, dict[str, Any]]) -> Iterator[tuple[str, VerifyReport]]:
    """(moto URL, report) after replaying every stack, global first, into one emulated account."""
    ordered = sorted(graphs.values(), key=lambda g: (g["kind"] != "global", g["stack"]))
    with moto_endpoint() as url:
        yield url, verify(ordered, url)
