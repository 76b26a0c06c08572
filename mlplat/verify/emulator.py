"""Where the replay sends its calls: an in-process moto server on 127.0.0.1 (a free port), or a given endpoint,
reached through boto3 clients that validate every parameter against botocore's service model."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.client import BaseClient
from botocore.config import Config

# moto's default account; the synthesized graphs use the same one (mlplat.synth.MOCK_ACCOUNT_ID), so ARNs that
# embed only names (roles, buckets, queues, log groups) are already what the emulator answers.
EMULATED_ACCOUNT = "123456789012"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def moto_endpoint() -> Iterator[str]:
    """A `ThreadedMotoServer` on 127.0.0.1 holding a fresh, empty account for the duration of the block; yields
    its URL. moto keeps its state per process, so entering this again empties the account of an earlier one."""
    from moto.moto_api._internal.models import moto_api_backend
    from moto.server import ThreadedMotoServer

    from mlplat.verify.moto_fixes import apply_moto_fixes

    previous = os.environ.get("MOTO_IAM_LOAD_MANAGED_POLICIES")
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"  # attachments of AWS managed policies must resolve
    apply_moto_fixes()
    moto_api_backend.reset()

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per call otherwise
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        if previous is None:
            os.environ.pop("MOTO_IAM_LOAD_MANAGED_POLICIES", None)
        else:
            os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = previous


class Clients:
    """One boto3 client per (service, region) against `endpoint_url`; parameter validation stays on (botocore's
    `ParamValidator` rejects a wrong shape before anything is sent, however lenient the emulator is)."""

    def __init__(self, endpoint_url: str | None) -> None:
        """`endpoint_url` None: the real AWS endpoints with the caller's own credentials (read-only audits)."""
        self.endpoint_url = endpoint_url or "AWS"
        self._endpoint = endpoint_url
        testing = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        self.session = boto3.Session(**(testing if endpoint_url else {}))
        # An emulator answers at once or not at all; the real APIs throttle, so an audit retries as boto3 does.
        attempts = 1 if endpoint_url else 5
        self.config = Config(parameter_validation=True, retries={"max_attempts": attempts, "mode": "standard"})
        self._clients: dict[tuple[str, str], BaseClient] = {}

    def client(self, service: str, region: str) -> Any:
        key = (service, region)
        if key not in self._clients:
            self._clients[key] = self.session.client(
                service, region_name=region, endpoint_url=self._endpoint, config=self.config
            )
        return self._clients[key]
