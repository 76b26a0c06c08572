"""The local platform: Redis, a moto S3 server, an MLflow server, two `mlplat-serve` replicas and a Prometheus
scraping them on 127.0.0.1, each with its own log and pidfile under the state directory, wired with the same
`MLPLAT_*` settings as the Kubernetes workloads.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from components.naming import model_bucket_name
from components.runtime_settings import DriftEnvironment, ServingEnvironment
from mlplat.dev import prometheus
from mlplat.processes import LOOPBACK, ManagedProcess, ProcessError, pid_alive, port_in_use, require_binary, stop_pid

MODEL_NAME = "churn"
LOCAL_REGION = "eu-west-1"  # the local platform plays the eu-west-1 region
MODELS_BUCKET = model_bucket_name(LOCAL_REGION)
PREDICTIONS_BUCKET = "mlplat-euw1-predictions"
SERVICES = ("redis", "moto", "mlflow", "serve", "serve2", "prometheus")
SERVING_REPLICAS = ("serve", "serve2")
DUMMY_AWS = {
    "AWS_ACCESS_KEY_ID": "mlplat-dev",
    "AWS_SECRET_ACCESS_KEY": "mlplat-dev",
    "AWS_DEFAULT_REGION": LOCAL_REGION,
}


@dataclass(frozen=True)
class DevPorts:
    redis: int = 6390
    moto: int = 5056
    mlflow: int = 5055
    serve: int = 8085
    serve2: int = 8086
    prometheus: int = 9095


@dataclass(frozen=True)
class DevPlatform:
    """Where the local platform keeps its state and which ports it uses."""

    root: Path  # the project checkout (stacks/platform.yaml is the residency file)
    state: Path
    ports: DevPorts = field(default_factory=DevPorts)

    @property
    def mlflow_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports.mlflow}"

    @property
    def moto_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports.moto}"

    @property
    def redis_url(self) -> str:
        return f"redis://{LOOPBACK}:{self.ports.redis}/0"

    @property
    def serve_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports.serve}"

    @property
    def prometheus_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports.prometheus}"

    @property
    def promotion_history_uri(self) -> str:
        return f"s3://{MODELS_BUCKET}/promotion-history"

    @property
    def prediction_log_uri(self) -> str:
        return f"s3://{PREDICTIONS_BUCKET}/logs"

    @property
    def reports_dir(self) -> Path:
        return self.state / "reports"

    def aws_env(self) -> dict[str, str]:
        return {**DUMMY_AWS, "AWS_ENDPOINT_URL": self.moto_url, "MLFLOW_S3_ENDPOINT_URL": self.moto_url}

    def serving_environment(self, canary_weight: float, **overrides: Any) -> ServingEnvironment:
        """A replica's settings; `overrides` (ServeSettings fields) e.g. give the second replica its own cache."""
        settings: dict[str, Any] = dict(
            model_name=MODEL_NAME,
            tracking_uri=self.mlflow_url,
            region=LOCAL_REGION,
            redis_url=self.redis_url,
            prediction_log_uri=self.prediction_log_uri,
            residency_file=str(self.root / "stacks" / "platform.yaml"),
            challenger_alias="challenger",
            canary_weight=canary_weight,
            alias_poll_seconds=1,
            prediction_log_sample=1.0,
            prediction_log_flush_seconds=1,
            model_cache_dir=str(self.state / "serve-cache"),
        )
        return ServingEnvironment(**{**settings, **overrides})

    def drift_environment(self, categorical: tuple[str, ...]) -> DriftEnvironment:
        return DriftEnvironment(
            model_name=MODEL_NAME,
            tracking_uri=self.mlflow_url,
            prediction_log_uri=self.prediction_log_uri,
            drift_categorical=",".join(categorical) or None,
            drift_action="rollback",
            drift_window_minutes=30,
            drift_report_uri=str(self.reports_dir),
            drift_metrics="textfile",
            drift_metrics_textfile=str(self.state / "drift.prom"),
            # The local platform has one legitimate client (the demo): a window it dominates is still evidence.
            drift_max_caller_share=1.0,
        )

    # -- processes -------------------------------------------------------------------------------------------

    def _process(self, name: str) -> ManagedProcess:
        logs, pids = self.state / "logs", self.state / "pids"
        python = sys.executable
        redis_hint = "install it with `sudo apt-get install redis-server` (make setup does)"
        specs: dict[str, tuple[list[str], int, str | None, Mapping[str, str]]] = {
            "redis": (
                [require_binary("redis-server", redis_hint),
                 "--bind", LOOPBACK, "--port", str(self.ports.redis), "--save", "", "--appendonly", "no",
                 "--protected-mode", "yes", "--dir", str(self.state)],
                self.ports.redis, None, {},
            ),
            "moto": (
                [python, "-m", "moto.server", "-H", LOOPBACK, "-p", str(self.ports.moto)],
                self.ports.moto, f"{self.moto_url}/moto-api/", {},
            ),
            "mlflow": (
                [python, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{self.state / 'mlflow.db'}",
                 "--artifacts-destination", f"s3://{MODELS_BUCKET}/mlflow", "--host", LOOPBACK,
                 "--port", str(self.ports.mlflow), "--workers", "1"],
                self.ports.mlflow, f"{self.mlflow_url}/health", self.aws_env(),
            ),
            "serve": (
                [python, "-m", "runtime.serving", "--host", LOOPBACK, "--port", str(self.ports.serve)],
                self.ports.serve, f"{self.serve_url}/health/ready", {**self.aws_env()},
            ),
            "serve2": (
                [python, "-m", "runtime.serving", "--host", LOOPBACK, "--port", str(self.ports.serve2)],
                self.ports.serve2, f"http://{LOOPBACK}:{self.ports.serve2}/health/ready", {**self.aws_env()},
            ),
        }  # fmt: skip
        if name == "prometheus":
            return self._prometheus(pids / "prometheus.pid")
        argv, port, health, env = specs[name]
        return ManagedProcess(
            name, argv, logs / f"{name}.log", port, health_url=health, env=dict(env), cwd=self.root,
            pid_path=pids / f"{name}.pid",
        )  # fmt: skip

    def _prometheus(self, pid_path: Path) -> ManagedProcess:
        """Prometheus scraping both serving replicas every second, with the platform's alert rules loaded."""
        import yaml

        from components.alert_rules import Thresholds, rule_file

        folder = self.state / "prometheus"
        folder.mkdir(parents=True, exist_ok=True)
        rules = folder / "mlplat-rules.yml"
        rules.write_text(yaml.safe_dump(rule_file(Thresholds()), sort_keys=False))
        targets = [f"{LOOPBACK}:{getattr(self.ports, name)}" for name in SERVING_REPLICAS]
        prometheus.write_targets(folder / "targets.json", "mlplat-serving", targets, {"region": LOCAL_REGION})
        return prometheus.process(folder, self.ports.prometheus, rule_files=[rules], pid_path=pid_path)

    def reset_state(self) -> None:
        """A fresh state directory: the demo always starts from an empty registry, store and bucket."""
        if self.state.exists():
            shutil.rmtree(self.state)
        self.prepare_state()

    def prepare_state(self) -> None:
        for directory in (self.state, self.state / "logs", self.state / "pids", self.reports_dir):
            directory.mkdir(parents=True, exist_ok=True)
            directory.chmod(0o700)  # model artifacts, tokens and logs are nobody else's business
        (self.state / "platform.json").write_text(json.dumps({"ports": asdict(self.ports)}, indent=2))

    def check_ports(self, names: tuple[str, ...]) -> None:
        busy = [f"{n} ({getattr(self.ports, n)})" for n in names if port_in_use(getattr(self.ports, n))]
        if busy:
            raise ProcessError(f"port(s) in use on {LOOPBACK}: {', '.join(busy)}; run `mlplat dev down` or free them")

    def start(self, name: str, extra_env: Mapping[str, str] | None = None, timeout: float = 120) -> ManagedProcess:
        process = self._process(name)
        process.env.update(extra_env or {})
        return process.start(timeout=timeout)

    def pid_of(self, name: str) -> int | None:
        path = self.state / "pids" / f"{name}.pid"
        try:
            pid = int(path.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def status(self) -> dict[str, dict[str, object]]:
        return {
            name: {
                "pid": self.pid_of(name),
                "port": getattr(self.ports, name),
                "listening": port_in_use(getattr(self.ports, name)),
            }
            for name in SERVICES
        }

    def down(self) -> list[str]:
        """Stops exactly the processes whose pidfiles `up` wrote, newest first (extra regions' before the base)."""
        return self.stop_regions() + self.stop(SERVICES)

    def stop_regions(self) -> list[str]:
        """Stops the extra regions' processes (`<service>@<region>` pidfiles, see mlplat/dev/regions.py)."""
        stopped = []
        for path in sorted((self.state / "pids").glob("*@*.pid"), reverse=True):
            try:
                pid: int | None = int(path.read_text().strip())
            except ValueError:
                pid = None
            if pid is not None and pid_alive(pid):
                stop_pid(pid)
                stopped.append(path.stem)
            path.unlink(missing_ok=True)
        return stopped

    def stop(self, names: Sequence[str]) -> list[str]:
        """Stops these services (those of them whose recorded process is alive), newest first."""
        stopped = []
        for name in reversed([n for n in SERVICES if n in names]):
            path = self.state / "pids" / f"{name}.pid"
            pid = self.pid_of(name)
            if pid is not None:
                stop_pid(pid)
                stopped.append(name)
            path.unlink(missing_ok=True)
        return stopped


def default_platform(root: Path) -> DevPlatform:
    state = Path(os.environ.get("MLPLAT_DEV_STATE", root / "build" / "dev"))
    return DevPlatform(root=root, state=state)
