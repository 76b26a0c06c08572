"""A local Prometheus (Debian's `prometheus` package) for `mlplat dev` and the tests: config generated here,
serving replicas found through a file-based service discovery file that can change while it runs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import yaml

from mlplat.processes import LOOPBACK, ManagedProcess, require_binary

INSTALL_HINT = "install it with `sudo apt-get install prometheus` (make setup does)"


def write_targets(path: Path, job: str, targets: Sequence[str], labels: dict[str, str] | None = None) -> None:
    """The `file_sd_configs` file: Prometheus re-reads it on change, so replicas can come and go."""
    staged = path.with_suffix(".tmp")
    staged.write_text(json.dumps([{"targets": list(targets), "labels": {"job": job, **(labels or {})}}]))
    staged.replace(path)


def config(targets_file: Path, rule_files: Sequence[Path], scrape_seconds: float) -> dict[str, object]:
    interval = f"{scrape_seconds:g}s"
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval, "scrape_timeout": interval},
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [{"job_name": "mlplat-serving", "file_sd_configs": [{"files": [str(targets_file)]}]}],
    }


def process(
    state: Path,
    port: int,
    *,
    rule_files: Sequence[Path] = (),
    scrape_seconds: float = 1.0,
    pid_path: Path | None = None,
) -> ManagedProcess:
    """Prometheus on 127.0.0.1:`port` with its config, targets file and data under `state`."""
    binary = require_binary("prometheus", INSTALL_HINT)
    state.mkdir(parents=True, exist_ok=True)
    targets = state / "targets.json"
    if not targets.exists():
        write_targets(targets, "mlplat-serving", [])
    config_path = state / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config(targets, rule_files, scrape_seconds), sort_keys=False))
    argv = [
        binary,
        f"--config.file={config_path}",
        f"--storage.tsdb.path={state / 'data'}",
        f"--web.listen-address={LOOPBACK}:{port}",
        "--storage.tsdb.retention.time=1d",
        "--log.level=warn",
    ]
    return ManagedProcess(
        "prometheus", argv, state / "prometheus.log", port,
        health_url=f"http://{LOOPBACK}:{port}/-/ready", pid_path=pid_path,
    )  # fmt: skip
