"""`mlplat residency` on the clean graphs and on graphs edited to break residency in each way the issue names."""

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from components.config import load_deployment
from policies.residency import analyse
from tests.conftest import ROOT


def run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlplat.cli", *args], cwd=ROOT, capture_output=True, text=True, check=False, timeout=300
    )


def write_all(graphs: dict[str, dict[str, Any]], tmp_path: Path) -> list[str]:
    paths = []
    for name, graph in graphs.items():
        path = tmp_path / f"{name}.graph.json"
        path.write_text(json.dumps(graph))
        paths.append(str(path))
    return paths


def test_clean_graphs_pass_and_list_every_tenant(graphs: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    result = run(["residency", "--graph", *write_all(graphs, tmp_path), "--format", "json"])
    assert result.returncode == 0, result.stdout
    report = json.loads(result.stdout)
    assert report["tenants"]["acme-eu"]["stored_in"] == ["eu-central-1", "eu-west-1"]
    assert report["tenants"]["globex-us"]["stored_in"] == ["us-east-1"]
    assert report["tenants"]["initech-sg"]["stored_in"] == ["ap-southeast-1"]
    assert report["breaches"] == []


def test_text_report_names_the_tenants() -> None:
    result = run(["residency"])
    assert result.returncode == 0, result.stderr
    assert "acme-eu        eu            eu-west-1       eu-central-1     eu-central-1, eu-west-1 " in result.stdout
    assert "0 breach(es) - passed" in result.stdout


def _add(graph: dict[str, Any], resource: dict[str, Any]) -> None:
    graph["resources"].append(
        {
            "custom": True,
            "region": graph["region"],
            "provider": f"aws-{graph['region']}",
            "parent": None,
            "id": f"{resource['name']}-id",
            **resource,
        }
    )


def _replication(graphs: dict[str, dict[str, Any]]) -> tuple[str, str]:
    _add(
        graphs["eu-west-1"],
        {
            "type": "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
            "name": "leak",
            "inputs": {
                "bucket": "euw1-features-offline-id",
                "role": "arn:aws:iam::1:role/r",
                "rules": [
                    {"status": "Enabled", "destination": {"bucket": "arn:aws:s3:::mlplat-use1-features-offline"}}
                ],
            },
        },
    )
    return "mlplat-residency-no-replication", "leak"


def _tenant_in_us(graphs: dict[str, dict[str, Any]]) -> tuple[str, str]:
    redis = next(r for r in graphs["us-east-1"]["resources"] if r["type"].endswith("ReplicationGroup"))
    redis["inputs"]["tags"]["mlplat/tenants"] = "acme-eu globex-us"
    return "mlplat-residency-tenant-in-jurisdiction", redis["name"]


def _foreign_grant(graphs: dict[str, dict[str, Any]]) -> tuple[str, str]:
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::mlplat-euw1-features-offline/*"}
        ],
    }
    _add(
        graphs["us-east-1"],
        {
            "type": "aws:iam/rolePolicy:RolePolicy",
            "name": "reads-eu",
            "inputs": {"role": "x", "policy": json.dumps(policy)},
        },
    )
    return "mlplat-residency-no-foreign-grant", "reads-eu"


def _global_datastore(graphs: dict[str, dict[str, Any]]) -> tuple[str, str]:
    _add(
        graphs["eu-west-1"],
        {
            "type": "aws:elasticache/globalReplicationGroup:GlobalReplicationGroup",
            "name": "everywhere",
            "inputs": {"globalReplicationGroupIdSuffix": "x", "primaryReplicationGroupId": "euw1-features"},
        },
    )
    return "mlplat-residency-no-global-datastore", "everywhere"


def _multi_region_key(graphs: dict[str, dict[str, Any]]) -> tuple[str, str]:
    key = next(
        r
        for r in graphs["eu-central-1"]["resources"]
        if r["type"] == "aws:kms/key:Key" and r["inputs"]["tags"].get("mlplat/data-class") == "features"
    )
    key["inputs"]["multiRegion"] = True
    return "mlplat-residency-no-multi-region-key", key["name"]


def _global_table(graphs: dict[str, dict[str, Any]]) -> tuple[str, str]:
    _add(
        graphs["eu-west-1"],
        {
            "type": "aws:dynamodb/table:Table",
            "name": "feature-table",
            "inputs": {"tags": {"mlplat/data-class": "features"}, "replicas": [{"regionName": "us-east-1"}]},
        },
    )
    return "mlplat-residency-no-global-table", "feature-table"


@pytest.mark.parametrize(
    "breakage", [_replication, _tenant_in_us, _foreign_grant, _global_datastore, _multi_region_key, _global_table]
)
def test_each_breach_exits_1_naming_the_resource(
    graphs: dict[str, dict[str, Any]], tmp_path: Path, breakage: Any
) -> None:
    edited = copy.deepcopy(graphs)
    rule, resource = breakage(edited)
    result = run(["residency", "--graph", *write_all(edited, tmp_path), "--format", "json"])
    assert result.returncode == 1, result.stdout
    breaches = json.loads(result.stdout)["breaches"]
    assert any(b["rule"] == rule and b["resource"]["name"] == resource for b in breaches), breaches


def test_model_and_image_paths_are_allowed_and_reported(graphs: dict[str, dict[str, Any]]) -> None:
    edited = copy.deepcopy(graphs)
    policy = {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::mlplat-euw1-*"}]}
    _add(
        edited["eu-central-1"],
        {"type": "aws:iam/rolePolicy:RolePolicy", "name": "eu-reads-eu", "inputs": {"policy": json.dumps(policy)}},
    )
    report = analyse(list(edited.values()), load_deployment(ROOT).residency())
    assert report.breaches == []
    replicas = {"eu-west-1", "eu-central-1", "ap-southeast-1"}
    replication = [p for p in report.paths if p.kind == "replication"]
    models = {p.target_region for p in replication if p.data_class == "models"}
    images = {p.target_region for p in replication if p.data_class == "images"}
    assert models == images == replicas
    assert all(p.allowed and p.source.stack == "global" for p in replication)
    # every other region reaches the one registry (model metadata, global) over a cross-region endpoint
    endpoints = [p for p in report.paths if p.kind == "endpoint"]
    assert {p.source.region for p in endpoints} == replicas
    assert all(p.target_region == "us-east-1" and p.data_class == "models" and p.allowed for p in endpoints)
    assert all("global" in p.reason for p in report.paths)


def test_tenants_are_answered_only_from_their_jurisdiction(graphs: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    result = run(["residency", "--format", "json", "--graph", *write_all(graphs, tmp_path)])
    assert result.returncode == 0, result.stdout + result.stderr
    tenants = json.loads(result.stdout)["tenants"]
    assert tenants["acme-eu"]["answered_from"] == ["eu-central-1", "eu-west-1"]
    assert tenants["acme-eu"]["dns_failover"] is True
    assert tenants["globex-us"]["answered_from"] == ["us-east-1"]
    assert tenants["globex-us"]["dns_failover"] is False
    text = run(["residency", "--graph", *write_all(graphs, tmp_path)]).stdout
    assert "no DNS failover target" in text and "globex-us (us: us-east-1 only)" in text


def test_an_eu_name_answering_from_the_us_is_a_breach(graphs: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    edited = copy.deepcopy(graphs)
    record = next(r for r in edited["eu-west-1"]["resources"] if r["name"] == "euw1-jurisdiction-record")
    record["inputs"]["latencyRoutingPolicies"] = [{"region": "us-east-1"}]
    result = run(["residency", "--format", "json", "--graph", *write_all(edited, tmp_path)])
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert "us-east-1" in report["tenants"]["acme-eu"]["answered_from"]
    assert any("acme-eu" in b["message"] and "us-east-1" in b["message"] for b in report["breaches"])
