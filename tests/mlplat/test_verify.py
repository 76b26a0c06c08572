"""`mlplat verify`: the clean stacks replay and read back as declared; API-invalid edits are refused by name."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from mlplat.cli import main
from mlplat.verify.not_emulated import MISSING_OPERATIONS, moto_implements
from mlplat.verify.references import ReferenceTable, key_of, mock_outputs
from mlplat.verify.step import differences
from tests.mlplat.conftest import VerifiedAccount


@pytest.mark.slow
@pytest.mark.timeout(900)  # the whole platform replayed and audited; minutes on a loaded machine
def test_every_stack_replays_and_reads_back_as_declared(verified_account: VerifiedAccount) -> None:
    report = verified_account.verify
    assert report.ok, report.render("text")
    for stack in report.stacks:
        assert stack.failures == []
        if stack.stack != "global":
            assert stack.coverage >= 0.8, (stack.stack, stack.coverage)
            eks = [r for r in stack.results if r.type.startswith("aws:eks/") and r.status == "not-emulated"]
            assert all(r.error.startswith("moto implements no eks:") for r in eks)
    assert "coverage" in report.render("text")
    verified_types = {r.type for s in report.stacks for r in s.results if r.status == "verified"}
    for required in ("aws:ec2/vpc:Vpc", "aws:ec2/natGateway:NatGateway", "aws:ec2/vpcEndpoint:VpcEndpoint", "aws:kms/key:Key",
                     "aws:s3/bucketReplicationConfig:BucketReplicationConfig", "aws:s3/bucketLogging:BucketLogging",
                     "aws:iam/openIdConnectProvider:OpenIdConnectProvider", "aws:ecr/replicationConfiguration:ReplicationConfiguration",
                     "aws:elasticache/replicationGroup:ReplicationGroup", "aws:rds/instance:Instance", "aws:eks/cluster:Cluster",
                     "aws:eks/nodeGroup:NodeGroup", "aws:autoscaling/group:Group", "aws:ec2/launchTemplate:LaunchTemplate",
                     "aws:sqs/queue:Queue", "aws:cloudwatch/eventRule:EventRule", "aws:secretsmanager/secret:Secret",
                     "aws:glue/catalogDatabase:CatalogDatabase"):  # fmt: skip
        assert required in verified_types, required


def test_types_counted_as_not_emulated_are_really_missing_from_moto() -> None:
    for service, operation in MISSING_OPERATIONS.values():
        assert not moto_implements(service, operation), f"moto now has {service}:{operation}: add a mapping"
    assert moto_implements("ec2", "CreateVpc")


def _closure(graph: dict[str, Any], name: str, type_token: str) -> dict[str, Any]:
    """The named resource and every resource it references, transitively: a small graph that still deploys."""
    aws = [r for r in graph["resources"] if str(r["type"]).startswith("aws:")]
    table = ReferenceTable()
    for resource in aws:
        table.add(key_of(resource), mock_outputs(graph["stack"], resource))
    by_key = {key_of(r): r for r in aws}
    wanted, todo = set(), [f"{type_token}::{name}"]
    while todo:
        key = todo.pop()
        if key in wanted or key not in by_key:
            continue
        wanted.add(key)
        todo.extend(table.references(by_key[key].get("inputs") or {}, key))
    small = copy.deepcopy(graph)
    small["resources"] = [r for r in small["resources"] if key_of(r) in wanted]
    return small


def _edit(graph: dict[str, Any], type_token: str, name: str, **inputs: Any) -> dict[str, Any]:
    for resource in graph["resources"]:
        if resource["type"] == type_token and resource["name"] == name:
            resource["inputs"].update(inputs)
            return graph
    raise AssertionError(f"{type_token} {name} not in the graph")


def _verify_cli(tmp_path: Path, graph: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    path = tmp_path / f"{graph['stack']}.graph.json"
    path.write_text(json.dumps(graph))
    code = main(["--project", str(Path(__file__).resolve().parents[2]), "verify", "--graph", str(path)])
    return code, capsys.readouterr().out


INVALID: dict[str, tuple[str, str, dict[str, Any], str]] = {
    "subnet-cidr-outside-vpc": ("aws:ec2/subnet:Subnet", "euw1-private-a", {"cidrBlock": "192.168.0.0/24"}, "ec2:CreateSubnet: InvalidSubnet.Range"),
    "malformed-iam-policy": ("aws:iam/rolePolicy:RolePolicy", "euw1-eks-cluster-encryption", {"policy": '{"Statement": [{"Effect": "Allow"}]}'}, "iam:PutRolePolicy: MalformedPolicyDocument"),
    "malformed-bucket-policy": ("aws:s3/bucketPolicy:BucketPolicy", "euw1-access-logs-policy", {"policy": '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::someone-else/*"}]}'}, "s3:PutBucketPolicy: MalformedPolicy: Policy has invalid resource"),
    "unknown-instance-type": ("aws:eks/nodeGroup:NodeGroup", "euw1-eks-system", {"instanceTypes": ["m6i.large", "m99x.huge"]}, "ec2:DescribeInstanceTypes: InvalidInstanceType"),
    "unknown-engine-version": ("aws:rds/instance:Instance", "use1-db", {"engineVersion": "16.99"}, "rds:CreateDBInstance: InvalidParameterCombination: Cannot find version 16.99"),
    "reference-to-nothing": ("aws:ec2/subnet:Subnet", "euw1-private-a", {"vpcId": "euw1-ghost-vpc-id"}, "reference: euw1-ghost-vpc-id: no resource in the graphs creates it"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(INVALID))
def test_an_api_invalid_graph_exits_1_naming_resource_operation_and_error(
    case: str, regional_graphs: dict[str, dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    type_token, name, inputs, error = INVALID[case]
    graph = next(g for g in regional_graphs.values() if any(r["name"] == name for r in g["resources"]))
    small = _edit(_closure(graph, name, type_token), type_token, name, **inputs)
    code, out = _verify_cli(tmp_path, small, capsys)
    assert code == 1, out
    refused = [line for line in out.splitlines() if line.strip().startswith("REFUSED")]
    assert any(f" {name}: {error}" in line for line in refused), out
    assert len(refused) == 1, out  # only the edited resource; what depends on it is reported as blocked


def test_the_unedited_small_graph_passes(
    regional_graphs: dict[str, dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    graph = regional_graphs.get("eu-west-1") or next(iter(regional_graphs.values()))
    code, out = _verify_cli(tmp_path, _closure(graph, "euw1-private-a", "aws:ec2/subnet:Subnet"), capsys)
    assert code == 0, out
    assert "coverage 100%" in out


def test_verify_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    root = str(Path(__file__).resolve().parents[2])
    assert main(["--project", root, "verify", "no-such-stack"]) == 2
    assert main(["--project", root, "verify", "eu-west-1", "--graph", "x.json"]) == 2


def test_read_back_comparison() -> None:
    assert differences({"A": 1, "B": [{"C": "x"}]}, {"a": "1", "b": [{"C": "x", "D": 2}]}) == []
    assert differences({"Policy": '{"Version": "2012-10-17"}'}, {"Policy": {"Version": "2012-10-17"}}) == []
    assert differences({"CidrBlock": "10.0.0.0/16"}, {"CidrBlock": "10.1.0.0/16"})
    assert differences({"Rules": [{"ID": "a"}]}, {"Rules": [{"ID": "b"}]})
    assert differences({"Missing": True}, {})
