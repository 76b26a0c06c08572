"""The local platform end to end (smaller than `make demo`), and testinfra checks of it while it runs."""

from __future__ import annotations

import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import testinfra

from mlplat.cli import main
from mlplat.dev.demo import DemoResult, DemoSize, demo_session, materialize, run_demo
from mlplat.dev.platform import SERVICES, DevPlatform, DevPorts
from mlplat.dev.regions import FailoverClient, RegionReplica, save_regions
from mlplat.processes import ProcessError, free_port, pid_alive, stop_pid
from tests.conftest import ROOT

SMALL = DemoSize(training_rows=4000, entities_per_tenant=150, canary_requests=60, shifted_requests=150)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DevPlatform, DemoResult]]:
    ports = DevPorts(redis=free_port(), moto=free_port(), mlflow=free_port(), serve=free_port())
    platform = DevPlatform(root=ROOT, state=tmp_path_factory.mktemp("dev") / "state", ports=ports)
    pids: dict[str, int | None] = {}
    try:
        result = run_demo(platform, SMALL, step=lambda _: None)
        pids = {name: platform.pid_of(name) for name in SERVICES}
        yield platform, result
    finally:
        platform.down()
    assert not [name for name, pid in pids.items() if pid is not None and pid_alive(pid)], "processes left behind"


def test_drift_alert_rolls_the_champion_back(demo: tuple[DevPlatform, DemoResult]) -> None:
    _, result = demo
    assert result.drift_status == "alert"
    assert {"weekly_active_ratio", "support_tickets_90d"} <= set(result.drifted_features)
    assert result.champion_before_rollback == result.versions["challenger"]
    assert result.champion_after_rollback == result.versions["champion"]


def test_serving_followed_the_alias_without_a_restart(demo: tuple[DevPlatform, DemoResult]) -> None:
    _, result = demo
    assert result.served_after_rollback == {f"champion v{result.versions['champion']}"}
    assert result.serve_pid_unchanged


def test_canary_and_residency(demo: tuple[DevPlatform, DemoResult]) -> None:
    _, result = demo
    assert set(result.canary_split) == {
        f"champion v{result.versions['champion']}",
        f"challenger v{result.versions['challenger']}",
    }
    assert (
        result.canary_split[f"champion v{result.versions['champion']}"]
        > result.canary_split[f"challenger v{result.versions['challenger']}"]
    )
    assert result.refused_status == 451
    assert result.report_html is not None and result.report_html.is_file()


def test_every_service_listens_on_loopback_only(demo: tuple[DevPlatform, DemoResult]) -> None:
    platform, _ = demo
    host = testinfra.get_host("local://")
    for name in SERVICES:
        port = getattr(platform.ports, name)
        assert host.socket(f"tcp://127.0.0.1:{port}").is_listening, name
        assert not host.socket(f"tcp://0.0.0.0:{port}").is_listening, name
        pid = platform.pid_of(name)
        assert pid is not None and host.process.get(pid=pid).pid == pid, name


def test_state_directory_is_private(demo: tuple[DevPlatform, DemoResult]) -> None:
    platform, _ = demo
    for directory in (platform.state, platform.state / "logs", platform.state / "pids", platform.reports_dir):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    assert (platform.state / "logs" / "serve.log").is_file()


def test_status_and_down_of_a_platform_that_is_not_running(tmp_path: Path) -> None:
    platform = DevPlatform(root=ROOT, state=tmp_path / "state")
    assert all(row["pid"] is None for row in platform.status().values())
    assert platform.down() == []


@pytest.fixture
def stand_ins(tmp_path: Path) -> Iterator[tuple[Path, dict[str, int]]]:
    """A state directory whose pidfiles name live processes (stand-ins for services a user started)."""
    state = tmp_path / "state"
    (state / "pids").mkdir(parents=True)
    processes: dict[str, int] = {}
    try:
        yield state, processes
    finally:
        for pid in processes.values():
            stop_pid(pid)


def _stand_in(state: Path, processes: dict[str, int], name: str) -> None:
    process = subprocess.Popen(["sleep", "120"])
    processes[name] = process.pid
    (state / "pids" / f"{name}.pid").write_text(str(process.pid))


def test_up_and_demo_never_stop_what_they_did_not_start(
    stand_ins: tuple[Path, dict[str, int]], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    state, processes = stand_ins
    _stand_in(state, processes, "redis")
    _stand_in(state, processes, "mlflow")
    monkeypatch.setenv("MLPLAT_DEV_STATE", str(state))
    assert main(["--project", str(ROOT), "dev", "up"]) == 2
    assert "already running (redis, mlflow)" in capsys.readouterr().err
    assert main(["--project", str(ROOT), "dev", "demo"]) == 2
    assert "partly running" in capsys.readouterr().err
    assert all(pid_alive(pid) for pid in processes.values()), "a process the user started was stopped"
    platform = DevPlatform(root=ROOT, state=state)
    with pytest.raises(ProcessError, match="partly running"):
        demo_session(platform, SMALL, step=lambda _: None)
    assert all(pid_alive(pid) for pid in processes.values())


def test_demo_runs_on_the_platform_up_started_and_leaves_it_running(demo: tuple[DevPlatform, DemoResult]) -> None:
    """After `mlplat dev up` (here: the platform the first demo left running), `mlplat dev demo` uses it."""
    platform, first = demo
    before = {name: platform.pid_of(name) for name in SERVICES}
    result, stopped = demo_session(platform, SMALL, step=lambda _: None)
    assert stopped == []
    assert {name: platform.pid_of(name) for name in SERVICES} == before
    assert int(result.versions["champion"]) > int(first.versions["challenger"])  # new versions, same registry
    assert result.champion_before_rollback == result.versions["challenger"]
    assert result.champion_after_rollback == result.versions["champion"]
    assert result.serve_pid_unchanged and result.refused_status == 451


# Runs last in this module: it stops the base region's serving process to show failover.
def test_eu_failover_stays_in_the_eu(demo: tuple[DevPlatform, DemoResult]) -> None:
    """`mlplat dev up --regions eu-west-1,eu-central-1` in small: a client following the EU's ordered region list (as
    DNS failover hands it out) keeps getting answers for acme-eu from eu-central-1 once eu-west-1's serving stops,
    while the US tenant is refused 451 in both regions."""
    platform, _ = demo
    replica = RegionReplica(platform, "eu-central-1", redis_port=free_port(), serve_port=free_port())
    save_regions(platform, [replica])
    replica.start_store()
    entities = materialize(platform, SMALL, shifted=False, seed=100, region="eu-central-1", redis_url=replica.redis_url)
    assert sorted(entities) == ["acme-eu", "bosch-de"]  # eu-central-1 holds its own and its failover tenants
    replica.start_serving()
    client = FailoverClient([("eu-west-1", platform.serve_url), ("eu-central-1", replica.serve_url)])
    acme = {"tenant": "acme-eu", "entity_ids": entities["acme-eu"][:3]}
    globex = {"tenant": "globex-us", "entity_ids": ["c-1"]}

    before = client.post("/v1/predict", acme)
    assert (before.region, before.status) == ("eu-west-1", 200)
    for url in (platform.serve_url, replica.serve_url):
        assert httpx.post(f"{url}/v1/predict", json=globex, timeout=10).status_code == 451

    serve_pid = platform.pid_of("serve")
    assert serve_pid is not None
    stop_pid(serve_pid)
    after = client.post("/v1/predict", acme)
    assert (after.region, after.status) == ("eu-central-1", 200)
    assert len(after.body["predictions"]) == 3
    refused = client.post("/v1/predict", globex)
    assert (refused.region, refused.status) == ("eu-central-1", 451)  # refused, never sent outside the EU

    status = platform.down()
    assert "serve@eu-central-1" in status and "redis@eu-central-1" in status
    assert replica.pid_of("serve") is None and replica.pid_of("redis") is None
