"""More regions on the local platform: `mlplat dev up --regions eu-west-1,eu-central-1` adds, per extra region, a
Redis and a serving process of that region (one registry and one moto S3 for all, as in production there is one
MLflow reachable from every region), with the region's tenants' features materialized in its own store.

`FailoverClient` is what a client behind `{jurisdiction}.{domain}` experiences when Route 53 drops an unhealthy
region: the jurisdiction's regions in order, the next one taken only when a region cannot answer at all.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from mlplat.dev.platform import DevPlatform
from mlplat.processes import LOOPBACK, ManagedProcess, ProcessError, pid_alive, port_in_use, require_binary

REGION_PORT_STEP = 10  # extra region i listens on the base ports + i * 10
REGIONS_FILE = "regions.json"


@dataclass(frozen=True)
class RegionReplica:
    """One extra region's online store and serving process, beside the base platform's."""

    platform: DevPlatform
    region: str
    redis_port: int
    serve_port: int

    @property
    def redis_url(self) -> str:
        return f"redis://{LOOPBACK}:{self.redis_port}/0"

    @property
    def serve_url(self) -> str:
        return f"http://{LOOPBACK}:{self.serve_port}"

    @property
    def prediction_log_uri(self) -> str:
        return f"{self.platform.prediction_log_uri.rstrip('/')}/region={self.region}"

    def process_name(self, service: str) -> str:
        return f"{service}@{self.region}"

    def serving_env(self, canary_weight: float = 0.0) -> dict[str, str]:
        """The base platform's `MLPLAT_*` settings with this region's own region, store, log and cache."""
        env = dict(self.platform.serving_environment(canary_weight=canary_weight).as_env())
        env |= {
            "MLPLAT_REGION": self.region,
            "MLPLAT_REDIS_URL": self.redis_url,
            "MLPLAT_PREDICTION_LOG_URI": self.prediction_log_uri,
            "MLPLAT_MODEL_CACHE_DIR": str(self.platform.state / f"serve-cache-{self.region}"),
        }
        return env

    def _process(self, service: str, env: Mapping[str, str]) -> ManagedProcess:
        logs, pids = self.platform.state / "logs", self.platform.state / "pids"
        name = self.process_name(service)
        if service == "redis":
            argv = [
                require_binary("redis-server", "install it with `sudo apt-get install redis-server`"),
                "--bind", LOOPBACK, "--port", str(self.redis_port), "--save", "", "--appendonly", "no",
                "--protected-mode", "yes", "--dir", str(self.platform.state),
            ]  # fmt: skip
            return ManagedProcess(
                name, argv, logs / f"{name}.log", self.redis_port, env=dict(env), pid_path=pids / f"{name}.pid"
            )
        import sys

        argv = [sys.executable, "-m", "runtime.serving", "--host", LOOPBACK, "--port", str(self.serve_port)]
        return ManagedProcess(
            name, argv, logs / f"{name}.log", self.serve_port, health_url=f"{self.serve_url}/health/ready",
            env=dict(env), cwd=self.platform.root, pid_path=pids / f"{name}.pid",
        )  # fmt: skip

    def start_store(self) -> None:
        self._check_port(self.redis_port)
        self._process("redis", {}).start(timeout=20)

    def start_serving(self, canary_weight: float = 0.0, timeout: float = 180) -> None:
        self._check_port(self.serve_port)
        env = {**self.platform.aws_env(), **self.serving_env(canary_weight)}
        self._process("serve", env).start(timeout=timeout)

    def pid_of(self, service: str) -> int | None:
        path = self.platform.state / "pids" / f"{self.process_name(service)}.pid"
        try:
            pid = int(path.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    @staticmethod
    def _check_port(port: int) -> None:
        if port_in_use(port):
            raise ProcessError(f"port {port} on {LOOPBACK} is in use; run `mlplat dev down` or free it")


def replicas(platform: DevPlatform, regions: Sequence[str]) -> list[RegionReplica]:
    """The extra regions after the platform's own (the first in `regions`), with ports derived from the base's."""
    return [
        RegionReplica(
            platform,
            region,
            redis_port=platform.ports.redis + index * REGION_PORT_STEP,
            serve_port=platform.ports.serve + index * REGION_PORT_STEP,
        )
        for index, region in enumerate(regions[1:], start=1)
    ]


def save_regions(platform: DevPlatform, extra: Sequence[RegionReplica]) -> None:
    rows = [{"region": r.region, "redis": r.redis_port, "serve": r.serve_port} for r in extra]
    (platform.state / REGIONS_FILE).write_text(json.dumps(rows, indent=2))


def load_regions(platform: DevPlatform) -> list[RegionReplica]:
    try:
        rows = json.loads((platform.state / REGIONS_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return []
    return [RegionReplica(platform, r["region"], int(r["redis"]), int(r["serve"])) for r in rows]


@dataclass(frozen=True)
class Answer:
    region: str
    status: int
    body: dict[str, Any]


class FailoverClient:
    """Tries a jurisdiction's regions in order. A region that refuses the connection, times out or answers 502-504
    is skipped, as DNS health checks would drop it; any other answer, 451 included, is the answer: a refusal on
    residency is never retried elsewhere."""

    RETRY_STATUSES = frozenset({502, 503, 504})

    def __init__(self, endpoints: Sequence[tuple[str, str]], timeout: float = 5.0) -> None:
        self.endpoints = list(endpoints)  # (region, base URL), in the order DNS would hand them out
        self.timeout = timeout

    def post(self, path: str, payload: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> Answer:
        errors: list[str] = []
        for region, url in self.endpoints:
            try:
                response = httpx.post(f"{url}{path}", json=dict(payload), headers=dict(headers or {}),
                                      timeout=self.timeout)  # fmt: skip
            except httpx.TransportError as error:
                errors.append(f"{region}: {type(error).__name__}")
                continue
            if response.status_code in self.RETRY_STATUSES:
                errors.append(f"{region}: HTTP {response.status_code}")
                continue
            return Answer(region, response.status_code, response.json())
        raise ConnectionError(f"no region answered ({'; '.join(errors)})")


def start_regions(
    platform: DevPlatform,
    regions: Sequence[str],
    materialize: Callable[[str, str], object],
    step: Callable[[str], None],
    canary_weight: float = 0.0,
) -> list[RegionReplica]:
    """Starts each extra region's Redis, fills it with that region's tenants (`materialize(region, redis_url)`),
    then its serving process. The base platform (MLflow with a champion) must already be up."""
    started = replicas(platform, regions)
    save_regions(platform, started)
    for replica in started:
        step(f"starting redis and serving for {replica.region}")
        replica.start_store()
        materialize(replica.region, replica.redis_url)
        replica.start_serving(canary_weight)
    return started


def pidfiles(state: Path) -> Iterator[Path]:
    """The extra regions' pidfiles (`<service>@<region>.pid`)."""
    yield from sorted((state / "pids").glob("*@*.pid"))
