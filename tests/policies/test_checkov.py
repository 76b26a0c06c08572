"""checkov over everything in one run (it costs seconds): the clean graphs, a graph of known-bad resources, small
Dockerfile and Kubernetes fixtures, and the Terraform in infra/."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from mlplat.policy import run_policies
from policies.checkov.adapter import snake_case, terraform_type, to_plan
from policies.checkov.runner import CheckovResult, CheckovTargets, run_checkov
from policies.settings import load_settings
from tests.conftest import ROOT
from tests.policies.bad_resources import BAD

DATA = Path(__file__).resolve().parents[1] / "data" / "checkov"
BAD_STACK = "eu-west-1-bad"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bad_graph(graphs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    graph = copy.deepcopy(graphs["eu-west-1"])
    graph["stack"] = BAD_STACK
    graph["resources"].extend(copy.deepcopy(b[2]) for b in BAD)
    return graph


@pytest.fixture(scope="module")
def scan(graphs: dict[str, dict[str, Any]], bad_graph: dict[str, Any], project_root: Path) -> CheckovResult:
    targets = CheckovTargets(
        graphs=[*graphs.values(), bad_graph],
        terraform_dirs=[project_root / "infra"] if (project_root / "infra").is_dir() else [],
        dockerfiles=[DATA / "bad-dockerfile" / "Dockerfile", DATA / "good-dockerfile" / "Dockerfile"],
        kubernetes_dirs={"k8s-fixture": DATA / "k8s"},
    )
    return run_checkov(project_root, targets, load_settings(project_root))


def failed(scan: CheckovResult, stack: str) -> set[tuple[str, str]]:
    return {(v.rule, v.resource_name) for v in scan.findings if v.stack == stack}


def test_type_tokens_and_attributes_map_to_terraform() -> None:
    assert terraform_type("aws:eks/cluster:Cluster") == "aws_eks_cluster"
    assert terraform_type("aws:ec2/launchTemplate:LaunchTemplate") == "aws_launch_template"
    assert terraform_type("aws:rds/instance:Instance") == "aws_db_instance"
    assert terraform_type("aws:elasticache/replicationGroup:ReplicationGroup") == "aws_elasticache_replication_group"
    assert terraform_type("aws:cloudwatch/logGroup:LogGroup") == "aws_cloudwatch_log_group"
    assert terraform_type("aws:s3/bucketV2:BucketV2") == "aws_s3_bucket"
    assert terraform_type("pulumi:providers:aws") is None
    assert snake_case("ipv6CidrBlocks") == "ipv6_cidr_blocks"
    assert snake_case("kmsMasterKeyId") == "kms_master_key_id"


def test_references_become_plan_expressions(graphs: dict[str, dict[str, Any]]) -> None:
    document = to_plan(graphs["eu-west-1"])
    flow_log = next(
        r for r in document.plan["configuration"]["root_module"]["resources"] if r["type"] == "aws_flow_log"
    )
    assert "aws_vpc.euw1-vpc" in flow_log["expressions"]["vpc_id"]["references"]
    planned = next(
        r for r in document.plan["planned_values"]["root_module"]["resources"] if r["type"] == "aws_flow_log"
    )
    assert planned["values"]["vpc_id"] is None and planned["values"]["traffic_type"] == "ALL"
    assert planned["values"]["tags_all"]["jurisdiction"] == "eu"
    assert document.addresses["aws_vpc.euw1-vpc"] == ("aws:ec2/vpc:Vpc", "euw1-vpc")


def test_clean_graphs_have_no_mandatory_checkov_finding(scan: CheckovResult, graphs: dict[str, Any]) -> None:
    findings = [v for v in scan.findings if v.stack in graphs]
    report = run_policies(graphs.values(), load_settings(ROOT), findings)
    assert [v for v in report.violations if v.level == "mandatory"] == []
    passed_on_graphs = {rule for rule, stack, _ in scan.passed if stack in graphs}
    assert {"CKV2_AWS_11", "CKV2_AWS_12", "CKV_AWS_7", "CKV_AWS_158", "CKV2_AWS_19"} <= passed_on_graphs


@pytest.mark.parametrize(("rule", "check", "resource"), BAD, ids=[f"{b[1]}-{b[2]['name']}" for b in BAD])
def test_a_known_bad_resource_fails_the_matching_check(
    scan: CheckovResult, rule: str, check: str, resource: dict[str, Any]
) -> None:
    assert (check, resource["name"]) in failed(scan, BAD_STACK)


def test_bad_resources_also_break_our_rules(bad_graph: dict[str, Any]) -> None:
    ours = {(v.rule, v.resource_name) for v in run_policies([bad_graph]).violations}
    for rule, _, resource in BAD:
        assert (rule, resource["name"]) in ours


def test_a_tag_waives_a_checkov_finding(scan: CheckovResult, bad_graph: dict[str, Any]) -> None:
    graph = copy.deepcopy(bad_graph)
    bucket = next(r for r in graph["resources"] if r["name"] == "bad-bucket")
    bucket["inputs"]["tags"] = {"mlplat:waive:CKV_AWS_18": "the access-log bucket does not log itself"}
    findings = [v for v in scan.findings if v.stack == BAD_STACK]
    report = run_policies([graph], load_settings(), findings)
    waived = [w for w in report.waivers if w.violation.resource_name == "bad-bucket"]
    assert [(w.violation.rule, w.via) for w in waived] == [("CKV_AWS_18", "tag")]
    assert waived[0].as_json()["source"] == "checkov"
    assert ("CKV_AWS_18", "bad-bucket") not in {(v.rule, v.resource_name) for v in report.violations}


def test_dockerfiles(scan: CheckovResult) -> None:
    bad = {v.rule for v in scan.findings if v.resource_name.endswith("bad-dockerfile/Dockerfile")}
    assert {"CKV_DOCKER_2", "CKV_DOCKER_3", "CKV_DOCKER_7"} <= bad
    good = {v.rule for v in scan.findings if v.resource_name.endswith("good-dockerfile/Dockerfile")}
    assert not good & {"CKV_DOCKER_2", "CKV_DOCKER_3", "CKV_DOCKER_7", "CKV_DOCKER_8"}
    finding = next(v for v in scan.findings if v.rule == "CKV_DOCKER_7")
    assert finding.file == "tests/data/checkov/bad-dockerfile/Dockerfile" and finding.level == "mandatory"


def test_kubernetes_manifests(scan: CheckovResult) -> None:
    k8s = {v.rule for v in scan.findings if v.resource_type.startswith("kubernetes:") and v.stack == "k8s-fixture"}
    assert {"CKV_K8S_16", "CKV_K8S_14", "CKV_K8S_20", "CKV_K8S_8"} <= k8s


def test_our_custom_check_runs(scan: CheckovResult) -> None:
    assert ("CKV_MLPLAT_1", "bad-multi-key") in failed(scan, BAD_STACK)
    assert ("CKV_MLPLAT_1", "bad-key") not in failed(scan, BAD_STACK)


def test_infra_terraform_passes_checkov_and_every_skip_says_why(scan: CheckovResult) -> None:
    assert [v for v in scan.findings if v.stack == "infra"] == []
    assert len([p for p in scan.passed if p[1] == "infra"]) > 50
    skips = [s for s in scan.skips if s.violation.stack == "infra"]
    assert {s.violation.rule for s in skips} >= {"CKV_AWS_18", "CKV_AWS_145"}
    assert all(s.reason and s.via == "checkov-skip" for s in skips)
    assert all(s.violation.file and s.violation.file.startswith("infra/bootstrap/") for s in skips)


def test_discover_finds_infra_dockerfiles_and_yaml_beside_the_graphs(tmp_path: Path) -> None:
    from policies.checkov.runner import discover

    (tmp_path / "infra" / "bootstrap").mkdir(parents=True)
    (tmp_path / "infra" / "bootstrap" / "main.tf").write_text("")
    (tmp_path / "runtime" / "serving").mkdir(parents=True)
    (tmp_path / "runtime" / "serving" / "Dockerfile").write_text("FROM scratch\n")
    graphs = tmp_path / "build" / "graphs"
    (graphs / "eu-west-1" / "k8s").mkdir(parents=True)
    targets = discover(tmp_path, [graphs], ["eu-west-1", "us-east-1"])
    assert targets.terraform_dirs == [tmp_path / "infra"]
    assert targets.dockerfiles == [tmp_path / "runtime" / "serving" / "Dockerfile"]
    assert targets.kubernetes_dirs == {"eu-west-1": graphs / "eu-west-1" / "k8s"}
