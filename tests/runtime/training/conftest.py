"""Training fixtures: one local Ray (2 CPUs) per session, a moto server of our own that records every request
(so a test can prove that no object was read), and the churn demo's offline history written by the tests."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from mlplat.dev import training_data
from mlplat.processes import LOOPBACK, ManagedProcess, free_port
from tests.runtime.conftest import Server

REPO_ROOT = Path(__file__).resolve().parents[3]
RESIDENCY_FILE = REPO_ROOT / "stacks" / "platform.yaml"


@dataclass(frozen=True)
class RecordingMoto:
    server: Server
    recording: Path

    def reset(self) -> None:
        httpx.post(f"{self.server.url}/moto-api/recorder/reset-recording").raise_for_status()

    def start(self) -> None:
        httpx.post(f"{self.server.url}/moto-api/recorder/start-recording").raise_for_status()

    def stop(self) -> None:
        httpx.post(f"{self.server.url}/moto-api/recorder/stop-recording").raise_for_status()

    def requests(self) -> list[dict[str, Any]]:
        text = self.recording.read_text() if self.recording.exists() else ""
        return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="session")
def recording_moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RecordingMoto]:
    workdir = tmp_path_factory.mktemp("moto-rec")
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    recording = workdir / "recording.jsonl"
    argv = [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)]
    process = ManagedProcess(
        "moto", argv, workdir / "moto.log", port, health_url=f"{url}/moto-api/",
        env={"MOTO_RECORDER_FILEPATH": str(recording)}, cwd=workdir,
    )  # fmt: skip
    process.start(timeout=60)
    yield RecordingMoto(Server(url, port, process), recording)
    process.stop()


@pytest.fixture
def moto_env(monkeypatch: pytest.MonkeyPatch, recording_moto: RecordingMoto) -> RecordingMoto:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL": recording_moto.server.url,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return recording_moto


@pytest.fixture(scope="session")
def offline_history(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """The demo's history for two EU tenants (and one US tenant the EU region must never read), on local disk."""
    root = tmp_path_factory.mktemp("offline")
    return training_data.write_history(
        str(root), {"acme-eu": 500, "bosch-de": 350, "globex-us": 100}, end=datetime.now(UTC), seed=3
    )


def write_config(path: Path, config: dict[str, Any]) -> Path:
    config.setdefault("residency_file", str(RESIDENCY_FILE))
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
