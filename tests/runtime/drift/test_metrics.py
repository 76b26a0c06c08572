"""Prometheus metrics of a run: names, labels, base units; textfile and scrape modes."""

from __future__ import annotations

import threading
import time
import urllib.request
from pathlib import Path

from mlplat.processes import free_port
from runtime.drift.compare import CompareOptions, compare
from runtime.drift.metrics import build_registry, serve, write_textfile
from runtime.drift.profile import build_profile
from tests.runtime.drift.samples import mixed_table


def _registry():  # type: ignore[no-untyped-def]
    report = compare(
        build_profile(mixed_table(1, 2000), prediction_column="prediction"),
        mixed_table(2, 2000, shift=1.0),
        CompareOptions(),
    )
    return build_registry(model="m", version="3", report=report, n_rows=2000, duration_seconds=1.5, action="rolled")


def test_textfile_has_every_gauge_with_the_prefix(tmp_path: Path) -> None:
    path = tmp_path / "drift.prom"
    write_textfile(_registry(), str(path))
    text = path.read_text()
    for name in (
        "mlplat_drift_feature_psi",
        "mlplat_drift_feature_js_distance",
        "mlplat_drift_feature_status",
        "mlplat_drift_dataset_status",
        "mlplat_drift_dataset_drift_share",
        "mlplat_drift_current_rows",
        "mlplat_drift_run_duration_seconds",
        "mlplat_drift_last_run_timestamp_seconds",
        "mlplat_drift_action_info",
    ):
        assert f"\n{name}{{" in text, name
    assert 'mlplat_drift_feature_status{feature="x0",model="m",version="3"} 2.0' in text
    assert 'feature="prediction"' in text
    assert all(line.startswith(("#", "mlplat_drift_")) for line in text.splitlines())


def test_serve_mode_answers_scrapes_while_lingering() -> None:
    port = free_port()
    thread = threading.Thread(target=serve, args=(_registry(), "127.0.0.1", port, 1.5), daemon=True)
    thread.start()
    body = b""
    for _ in range(50):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as response:
                body = response.read()
                break
        except OSError:
            time.sleep(0.05)
    assert b"mlplat_drift_dataset_status" in body
    thread.join(timeout=10)
    assert not thread.is_alive()
