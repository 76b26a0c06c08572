"""An account `mlplat verify` built from every stack, and `mlplat audit`'s report of it under a read-only guard.

moto keeps one account per process and every new emulator empties it, so the audit of the verify-built account
runs here, right after the replay, and the tests only read both reports."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from components.config import load_deployment
from mlplat.audit import READ_ONLY_PREFIXES, AuditReport, audit
from mlplat.verify import VerifyReport, verify
from mlplat.verify.emulator import Clients, moto_endpoint

ROOT = Path(__file__).resolve().parents[2]


def read_only_clients(url: str, calls: list[str]) -> Clients:
    """Clients whose every call passes a botocore `before-call` hook that fails on any non-read operation."""
    clients = Clients(url)

    def guard(model: Any, **_: Any) -> None:
        calls.append(model.name)
        if not model.name.startswith(READ_ONLY_PREFIXES):
            pytest.fail(f"audit made a mutating call: {model.service_model.service_name}:{model.name}")

    clients.session.events.register("before-call", guard)
    return clients


@dataclass(frozen=True)
class VerifiedAccount:
    verify: VerifyReport
    audit: AuditReport
    audit_calls: list[str]


@pytest.fixture(scope="session")
def verified_account(graphs: dict[str, dict[str, Any]]) -> Iterator[VerifiedAccount]:
    ordered = sorted(graphs.values(), key=lambda g: (g["kind"] != "global", g["stack"]))
    regions = sorted({g["region"] for g in ordered if g["kind"] == "regional"})
    with moto_endpoint() as url:
        report = verify(ordered, url)
        calls: list[str] = []
        audited = audit(regions, read_only_clients(url, calls), ordered, load_deployment(ROOT).residency())
    yield VerifiedAccount(report, audited, calls)
