"""The alert rules for real: written as a Prometheus rule file, checked with `promtool check rules`, and every
alert unit-tested with `promtool test rules` (firing and not firing, severity labels); the Alertmanager config
checked with `amtool check-config` and its severity routing with `amtool config routes test`."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.alert_rules import PAGE, TICKET, Receivers, Thresholds, alertmanager_config, rule_file, rule_groups
from mlplat.processes import require_binary

RULES = {rule["alert"]: rule for group in rule_groups(Thresholds()) for rule in group["rules"]}
SERVING = '{namespace="mlplat",endpoint="/invocations",variant="champion"'

# alert -> (input series when it must fire, when it must not, evaluation time, labels the alert carries)
CASES: dict[str, tuple[list[dict[str, str]], list[dict[str, str]], str, dict[str, str]]] = {
    "MlplatServingErrorRateHigh": (
        [{"series": f'mlplat_requests_total{SERVING},status="200"}}', "values": "0+90x30"},
         {"series": f'mlplat_requests_total{SERVING},status="500"}}', "values": "0+10x30"}],  # 10 %
        [{"series": f'mlplat_requests_total{SERVING},status="200"}}', "values": "0+98x30"},
         {"series": f'mlplat_requests_total{SERVING},status="500"}}', "values": "0+2x30"}],  # 2 %
        "20m", {"severity": PAGE, "namespace": "mlplat"},
    ),
    "MlplatServingLatencyP99High": (
        [{"series": f'mlplat_request_duration_seconds_bucket{SERVING},le="{le}"}}', "values": values}
         for le, values in (("1", "0+10x30"), ("2.5", "0+20x30"), ("10", "0+100x30"), ("+Inf", "0+100x30"))],
        [{"series": f'mlplat_request_duration_seconds_bucket{SERVING},le="{le}"}}', "values": values}
         for le, values in (("0.1", "0+99x30"), ("1", "0+100x30"), ("+Inf", "0+100x30"))],
        "20m", {"severity": PAGE, "endpoint": "/invocations"},
    ),
    "MlplatModelUnavailable": (
        [{"series": 'mlplat_model_info{variant="champion",model="churn",version="3",source="registry"}',
          "values": "0x30"}],
        [{"series": 'mlplat_model_info{variant="champion",model="churn",version="3",source="registry"}',
          "values": "1x30"}],
        "20m", {"severity": PAGE},
    ),
    "MlplatDataDriftPsiHigh": (
        [{"series": 'mlplat_drift_feature_psi{model="churn",feature="tenure"}', "values": "0.31x10"}],
        [{"series": 'mlplat_drift_feature_psi{model="churn",feature="tenure"}', "values": "0.2x10"}],
        "5m", {"severity": TICKET, "model": "churn", "feature": "tenure"},
    ),
    "MlplatModelAccuracyDrop": (
        [{"series": 'mlplat_model_performance_drop_ratio{model="churn",version="3",variant="champion",'
                    'metric="accuracy"}', "values": "0.08x10"}],
        [{"series": 'mlplat_model_performance_drop_ratio{model="churn",version="3",variant="champion",'
                    'metric="accuracy"}', "values": "0.02x10"}],
        "5m", {"severity": TICKET, "model": "churn", "version": "3", "variant": "champion"},
    ),
    "MlplatDriftJobStale": (
        [{"series": 'mlplat_drift_last_run_timestamp_seconds{model="churn"}', "values": "0x300"}],
        [{"series": 'mlplat_drift_last_run_timestamp_seconds{model="churn"}', "values": "0+60x300"}],
        "4h", {"severity": TICKET, "model": "churn"},
    ),
    "MlplatGpuUtilisationLow": (
        [{"series": 'DCGM_FI_DEV_GPU_UTIL{gpu="0"}', "values": "10x100"}],
        [{"series": 'DCGM_FI_DEV_GPU_UTIL{gpu="0"}', "values": "80x100"}],
        "90m", {"severity": TICKET},
    ),
    "MlplatSpotInterruptionRateHigh": (
        [{"series": f'kube_node_spec_taint{{node="n{i}",key="aws-node-termination-handler/spot-itn"}}',
          "values": "1x10"} for i in range(4)],
        [{"series": f'kube_node_spec_taint{{node="n{i}",key="aws-node-termination-handler/spot-itn"}}',
          "values": "1x10"} for i in range(3)],
        "5m", {"severity": TICKET},
    ),
}  # fmt: skip


def _promtool() -> str:
    return require_binary("promtool", "install it with `sudo apt-get install prometheus` (make setup does)")


@pytest.fixture(scope="module")
def rules_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rules") / "mlplat-rules.yml"
    path.write_text(yaml.safe_dump(rule_file(Thresholds()), sort_keys=False))
    return path


def test_rule_file_passes_promtool_check(rules_path: Path) -> None:
    result = subprocess.run(
        [_promtool(), "check", "rules", str(rules_path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(RULES)} rules found" in result.stdout


def test_every_alert_has_a_unit_test_and_the_seeds_severities() -> None:
    assert set(CASES) == set(RULES)
    pages = {name for name, rule in RULES.items() if rule["labels"]["severity"] == PAGE}
    assert pages == {"MlplatServingErrorRateHigh", "MlplatServingLatencyP99High", "MlplatModelUnavailable"}
    assert RULES["MlplatDataDriftPsiHigh"]["labels"]["severity"] == TICKET
    assert RULES["MlplatModelAccuracyDrop"]["labels"]["severity"] == TICKET


def _test(name: str, series: list[dict[str, str]], at: str, fires: bool) -> dict[str, Any]:
    rule = RULES[name]
    expected = {**CASES[name][3], "platform": "mlplat", "severity": rule["labels"]["severity"]}
    alerts = [{"exp_labels": expected, "exp_annotations": rule["annotations"]}] if fires else []
    return {
        "interval": "1m",
        "input_series": series,
        "alert_rule_test": [{"eval_time": at, "alertname": name, "exp_alerts": alerts}],
    }


def test_every_alert_fires_and_stays_quiet_under_promtool(rules_path: Path, tmp_path: Path) -> None:
    tests = []
    for name, (firing, quiet, at, _) in CASES.items():
        tests += [_test(name, firing, at, fires=True), _test(name, quiet, at, fires=False)]
    spec = tmp_path / "mlplat-rules.test.yml"
    spec.write_text(yaml.safe_dump({"rule_files": [str(rules_path)], "evaluation_interval": "1m", "tests": tests}))
    result = subprocess.run([_promtool(), "test", "rules", str(spec)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_alertmanager_routes_pages_to_pagerduty_and_everything_to_slack(tmp_path: Path) -> None:
    amtool = require_binary("amtool", "install it with `sudo apt-get install prometheus-alertmanager`")
    config = alertmanager_config(Receivers(secret="alerts"))
    text = yaml.safe_dump(config)
    assert "hooks.slack.com" not in text and "/etc/alertmanager/secrets/alerts/" in text  # by reference only
    path = tmp_path / "alertmanager.yml"
    path.write_text(text)
    checked = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    def receivers(*labels: str) -> set[str]:
        result = subprocess.run([amtool, "config", "routes", "test", f"--config.file={path}", *labels],
                                capture_output=True, text=True, check=True)  # fmt: skip
        return set(result.stdout.strip().split(","))

    assert receivers(f"severity={PAGE}", "alertname=MlplatServingErrorRateHigh") == {"pagerduty", "slack"}
    assert receivers(f"severity={TICKET}", "alertname=MlplatDataDriftPsiHigh") == {"slack"}
