"""The promotion history: every gate result, alias move, weight step, rollback, approval and monitoring action.
One contract: `mlplat-promote` and `mlplat-drift performance` write it, `mlplat-promote history` reads it.

Each event is one JSON line written as a new object (S3) or file (local) under
`<root>/model=<name>/<utc time>-<id>.jsonl`: written once, never rewritten, so concurrent writers cannot lose
each other's entries and the record survives the registry. Reading lists the prefix and orders by time.
"""

from __future__ import annotations

import getpass
import json
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

SCHEMA = "mlplat.promotion-event/v1"


class HistoryError(Exception):
    """The history cannot be read (a broken entry is reported, never skipped)."""


def actor() -> str:
    """Who acts: the CI actor when there is one, else the local user."""
    return os.environ.get("GITHUB_ACTOR") or os.environ.get("MLPLAT_ACTOR") or getpass.getuser()


@dataclass(frozen=True)
class HistoryStore:
    """Append-only event log of one registry's models at a local directory or `s3://bucket/prefix`."""

    root: str

    def _prefix(self, model: str) -> str:
        return f"{self.root.rstrip('/')}/model={model}/"

    def append(
        self, model: str, kind: str, *, version: str | None, why: str, by: str | None = None, **figures: Any
    ) -> dict[str, Any]:
        """Record one event (who, when, why, and the figures that decided it); returns it."""
        now = datetime.now(UTC)
        event = {
            "schema": SCHEMA,
            "at": now.isoformat(timespec="milliseconds"),
            "model": model,
            "version": version,
            "event": kind,
            "by": by or actor(),
            "why": why,
            **figures,
        }
        key = f"{self._prefix(model)}{now:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:12]}.jsonl"
        body = (json.dumps(event, sort_keys=True, default=str) + "\n").encode()
        if key.startswith("s3://"):
            bucket, _, name = key[len("s3://") :].partition("/")
            # IfNoneMatch: S3 refuses to overwrite an existing key, so an entry can never be rewritten
            _s3().put_object(Bucket=bucket, Key=name, Body=body, ContentType="application/x-ndjson", IfNoneMatch="*")
        else:
            path = Path(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("xb") as handle:  # "x": never rewrite an existing entry
                handle.write(body)
        return event

    def events(self, model: str) -> list[dict[str, Any]]:
        """Every event of `model`, oldest first; an unreadable entry is an error, never skipped."""
        prefix = self._prefix(model)
        events: list[dict[str, Any]] = []
        for name, body in _read_all(prefix):
            for number, line in enumerate(body.decode().splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    events.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise HistoryError(f"history entry {name} line {number} is not JSON: {error}") from None
        return sorted(events, key=lambda event: str(event.get("at", "")))


def _s3() -> Any:
    import boto3

    return boto3.client("s3")


def _read_all(prefix: str) -> list[tuple[str, bytes]]:
    if prefix.startswith("s3://"):
        parsed = urlparse(prefix)
        client = _s3()
        found = []
        try:
            for page in client.get_paginator("list_objects_v2").paginate(
                Bucket=parsed.netloc, Prefix=parsed.path.lstrip("/")
            ):
                for item in page.get("Contents", []):
                    body = client.get_object(Bucket=parsed.netloc, Key=item["Key"])["Body"].read()
                    found.append((f"s3://{parsed.netloc}/{item['Key']}", bytes(body)))
        except Exception as error:
            raise HistoryError(f"cannot read the history at {prefix}: {error}") from None
        return found
    folder = Path(prefix)
    if not folder.is_dir():
        return []
    return [(str(path), path.read_bytes()) for path in sorted(folder.glob("*.jsonl"))]
