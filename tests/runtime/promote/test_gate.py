"""`mlplat-promote gate` against a real MLflow server: good, bad, slow and incompatible candidates."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow import MlflowClient

from runtime.promote.cli import main
from runtime.promotion_history import HistoryStore
from tests.runtime.conftest import Server
from tests.runtime.promote.models import FEATURES, RandomScores, Slow, dataset, fit, register

pytestmark = pytest.mark.slow
MODEL = "gate-churn"


@dataclass(frozen=True)
class Versions:
    champion: str
    good: str
    bad: str
    slow: str
    incompatible: str


@pytest.fixture(scope="module")
def versions(mlflow_server: Server) -> Versions:
    train, holdout = dataset(3000, seed=1), dataset(1500, seed=2)
    champion_model = fit(train)
    champion = register(mlflow_server.url, MODEL, champion_model, holdout)
    MlflowClient(mlflow_server.url).set_registered_model_alias(MODEL, "champion", champion)
    return Versions(
        champion=champion,
        good=register(mlflow_server.url, MODEL, fit(dataset(3000, seed=3)), holdout),
        bad=register(mlflow_server.url, MODEL, RandomScores(), holdout),
        slow=register(mlflow_server.url, MODEL, Slow(champion_model), holdout),
        incompatible=register(mlflow_server.url, MODEL, fit(train, FEATURES[:-1]), holdout, features=FEATURES[:-1]),
    )


def _gate(server: Server, history: str, version: str, tmp_path: Path, *extra: str) -> tuple[int, dict, str]:
    out, markdown = tmp_path / f"gate-{version}.json", tmp_path / f"gate-{version}.md"
    code = main([
        "--tracking-uri", server.url, "--history-uri", history, "gate", "--model", MODEL, "--version", version,
        "--out", str(out), "--markdown", str(markdown), *extra,
    ])  # fmt: skip
    return code, json.loads(out.read_text()), markdown.read_text()


def _tags(server: Server, version: str) -> dict[str, str]:
    return dict(MlflowClient(server.url).get_model_version(MODEL, version).tags)


def _challenger(server: Server) -> str | None:
    try:
        return str(MlflowClient(server.url).get_model_version_by_alias(MODEL, "challenger").version)
    except Exception:
        return None


def test_random_scores_fail_auc_and_regression_and_get_no_alias(
    mlflow_server: Server, history_root: str, versions: Versions, tmp_path: Path
) -> None:
    code, report, markdown = _gate(mlflow_server, history_root, versions.bad, tmp_path)
    assert code == 1 and report["passed"] is False
    assert {"metric.roc_auc.min", "metric.roc_auc.regression", "metric.accuracy.min"} <= set(report["failed"])
    assert report["champion"] == {"version": versions.champion}
    assert report["metrics"]["candidate"]["roc_auc"] < 0.6 < report["metrics"]["champion"]["roc_auc"]
    tags = _tags(mlflow_server, versions.bad)
    assert tags["gate"] == "failed" and "metric.roc_auc.min" in tags["mlplat.gate.failed"]
    assert _challenger(mlflow_server) != versions.bad
    assert "❌" in markdown and "`metric.roc_auc.min`" in markdown
    event = [e for e in HistoryStore(history_root).events(MODEL) if e["version"] == versions.bad][-1]
    assert event["event"] == "gate" and event["passed"] is False and event["failed"]


def test_slow_model_fails_the_latency_gate(
    mlflow_server: Server, history_root: str, versions: Versions, tmp_path: Path
) -> None:
    code, report, _ = _gate(mlflow_server, history_root, versions.slow, tmp_path, "--no-alias")
    assert code == 1
    assert report["failed"] == ["latency.p99_ms"]  # as accurate as the champion, only slow
    latency = next(c for c in report["checks"] if c["name"] == "latency.p99_ms")
    assert latency["observed"] > 100 and "stopped after" in latency["detail"]


def test_incompatible_signature_fails(
    mlflow_server: Server, history_root: str, versions: Versions, tmp_path: Path
) -> None:
    code, report, _ = _gate(mlflow_server, history_root, versions.incompatible, tmp_path)
    assert code == 1 and "signature" in report["failed"]
    signature = next(c for c in report["checks"] if c["name"] == "signature")
    assert f"input `{FEATURES[-1]}`" in signature["detail"] and "gone" in signature["detail"]


def test_good_model_passes_and_becomes_challenger(
    mlflow_server: Server, history_root: str, versions: Versions, tmp_path: Path
) -> None:
    code, report, markdown = _gate(mlflow_server, history_root, versions.good, tmp_path)
    assert code == 0, report["failed"]
    names = {check["name"] for check in report["checks"]}
    assert {"validation", "drift_profile", "metric.roc_auc.min", "metric.roc_auc.regression", "latency.p99_ms",
            "size_mb", "signature", "slice.tenant.disparate_impact"} <= names  # fmt: skip
    assert any(name.startswith("slice.tenant=acme-eu.") for name in names)
    assert _tags(mlflow_server, versions.good)["gate"] == "passed"
    assert _challenger(mlflow_server) == versions.good
    assert "passed" in markdown.splitlines()[0]
    kinds = [(e["event"], e["version"]) for e in HistoryStore(history_root).events(MODEL)]
    assert ("gate", versions.good) in kinds and ("alias", versions.good) in kinds


def test_first_version_gets_only_absolute_gates(mlflow_server: Server, history_root: str, tmp_path: Path) -> None:
    version = register(mlflow_server.url, "gate-first", fit(dataset(2000, seed=5)), dataset(600, seed=6))
    out = tmp_path / "first.json"
    code = main(["--tracking-uri", mlflow_server.url, "--history-uri", history_root, "gate", "--model", "gate-first",
                 "--version", version, "--out", str(out)])  # fmt: skip
    report = json.loads(out.read_text())
    assert code == 0 and report["champion"] is None
    assert any("no champion yet" in note for note in report["notes"])
    assert not any(c["name"].endswith("regression") or c["name"] == "signature" for c in report["checks"])


def test_missing_validation_result_fails_and_bad_gates_file_is_a_usage_error(
    mlflow_server: Server, history_root: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    version = register(mlflow_server.url, "gate-unvalidated", fit(dataset(2000, seed=7)), dataset(600, seed=8),
                       validation_passed=False, profile=False)  # fmt: skip
    out = tmp_path / "r.json"
    argv = ["--tracking-uri", mlflow_server.url, "--history-uri", history_root, "gate", "--model", "gate-unvalidated",
            "--version", version, "--out", str(out)]  # fmt: skip
    assert main(argv) == 1
    assert {"validation", "drift_profile"} <= set(json.loads(out.read_text())["failed"])
    gates = tmp_path / "gates.yaml"
    gates.write_text("metrics: {roc_auc: {min: high}}\n")
    assert main([*argv, "--gates", str(gates)]) == 2
    assert "gates.yaml: field `metrics.roc_auc.min`" in capsys.readouterr().err
