"""For each rule family: break a clean synthesized graph, run `mlplat policy --graph`, see exit 1 naming the resource.
Also waivers (tag, config, missing reason) and the SARIF output. Our rules only (`--no-checkov`): checkov has its
own tests in test_checkov.py."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlplat.cli import main
from tests.policies.bad_resources import resource

Graph = dict[str, Any]


def find(graph: Graph, name: str, type_: str | None = None) -> dict[str, Any]:
    return next(r for r in graph["resources"] if r["name"] == name and (type_ is None or r["type"] == type_))


def policy(project_root: Path, tmp_path: Path, graph: Graph, *extra: str) -> tuple[int, dict[str, Any]]:
    path = tmp_path / f"{graph['stack']}.graph.json"
    path.write_text(json.dumps(graph))
    out = tmp_path / "report.json"
    code = main(["--project", str(project_root), "policy", "--graph", str(path), "--no-checkov", "--format", "json",
                 "--out", str(out), *extra])  # fmt: skip
    return code, json.loads(out.read_text())


def break_log_group_key(g: Graph) -> str:
    find(g, "euw1-flow-logs", "aws:cloudwatch/logGroup:LogGroup")["inputs"].pop("kmsKeyId")
    return "euw1-flow-logs"


def break_subnet(g: Graph) -> str:
    find(g, "euw1-private-a")["inputs"]["mapPublicIpOnLaunch"] = True
    return "euw1-private-a"


def break_flow_log(g: Graph) -> str:
    find(g, "euw1-flow-log")["inputs"]["trafficType"] = "REJECT"
    return "euw1-vpc"


def break_tags(g: Graph) -> str:
    find(g, "euw1-vpc")["inputs"]["tags"]["owner"] = ""
    return "euw1-vpc"


def break_iam(g: Graph) -> str:
    find(g, "euw1-flow-logs-write")["inputs"]["policy"] = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    )
    return "euw1-flow-logs-write"


def add_spot_only_inference_pool(g: Graph) -> str:
    g["resources"].append(resource("aws:autoscaling/group:Group", "euw1-gpu-inference", {
        "capacityRebalance": True, "mixedInstancesPolicy": {
            "instancesDistribution": {"onDemandBaseCapacity": 0, "onDemandPercentageAboveBaseCapacity": 0},
            "launchTemplate": {"overrides": [{"instanceType": "g5.xlarge"}, {"instanceType": "g6.xlarge"}]},
        }}))  # fmt: skip
    return "euw1-gpu-inference"


def add_feature_bucket_abroad(g: Graph) -> str:
    bucket = resource("aws:s3/bucket:Bucket", "euw1-features-offline", {"bucket": "euw1-features-offline"})
    bucket["region"] = "us-east-1"
    g["resources"].append(bucket)
    return "euw1-features-offline"


FAMILIES: dict[str, tuple[Callable[[Graph], str], str]] = {
    "encryption": (break_log_group_key, "aws-cloudwatch-loggroup-kms"),
    "exposure": (break_subnet, "aws-ec2-subnet-no-public-ip"),
    "operations": (break_flow_log, "aws-ec2-vpc-flow-logs"),
    "tags": (break_tags, "mlplat-tags-consistent"),
    "iam": (break_iam, "aws-iam-no-wildcard-admin"),
    "capacity": (add_spot_only_inference_pool, "mlplat-gpu-inference-on-demand-floor"),
    "residency": (add_feature_bucket_abroad, "mlplat-residency-store-jurisdiction"),
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_breaking_a_clean_graph_exits_1_naming_the_resource(
    family: str, graphs: dict[str, Graph], project_root: Path, tmp_path: Path
) -> None:
    graph = copy.deepcopy(graphs["eu-west-1"])
    assert policy(project_root, tmp_path, graph)[0] == 0
    breaker, rule = FAMILIES[family]
    name = breaker(graph)
    code, report = policy(project_root, tmp_path, graph)
    assert code == 1
    assert any(v["rule"] == rule and v["resource"]["name"] == name and v["level"] == "mandatory"
               for v in report["violations"]), report["violations"]  # fmt: skip


def test_a_tag_waiver_with_a_reason_waives_and_is_reported(
    graphs: dict[str, Graph], project_root: Path, tmp_path: Path
) -> None:
    graph = copy.deepcopy(graphs["eu-west-1"])
    subnet = find(graph, break_subnet(graph))
    subnet["inputs"]["tags"]["mlplat:waive:aws-ec2-subnet-no-public-ip"] = "bastion subnet until SSM lands"
    code, report = policy(project_root, tmp_path, graph)
    assert code == 0
    (waiver,) = report["waivers"]
    assert waiver["rule"] == "aws-ec2-subnet-no-public-ip"
    assert waiver["resource"]["name"] == "euw1-private-a"
    assert (waiver["reason"], waiver["via"]) == ("bastion subnet until SSM lands", "tag")
    assert report["summary"] == {"mandatory": 0, "advisory": 0, "waived": 1}


def test_a_tag_waiver_without_a_reason_fails(graphs: dict[str, Graph], project_root: Path, tmp_path: Path) -> None:
    graph = copy.deepcopy(graphs["eu-west-1"])
    subnet = find(graph, break_subnet(graph))
    subnet["inputs"]["tags"]["mlplat:waive:aws-ec2-subnet-no-public-ip"] = ""
    code, report = policy(project_root, tmp_path, graph)
    assert code == 1
    rules = {(v["rule"], v["resource"]["name"]) for v in report["violations"]}
    assert {("mlplat-waiver-reason", "euw1-private-a"), ("aws-ec2-subnet-no-public-ip", "euw1-private-a")} <= rules
    assert report["waivers"] == []


def test_config_waivers(graphs: dict[str, Graph], project_copy: Path, project_root: Path, tmp_path: Path) -> None:
    from policies.settings import load_settings, settings_from
    from policies.waivers import apply_waivers

    graph = copy.deepcopy(graphs["eu-west-1"])
    break_subnet(graph)
    from policies.engine import evaluate
    from policies.rules import RULES

    violations = evaluate(graph, RULES, load_settings(project_root))
    entry = {"rule": "aws-ec2-subnet-no-public-ip", "resource": "euw1-private-*", "stack": "eu-*", "reason": "lab"}
    waived_config = settings_from({"waivers": [entry]})
    standing, waived = apply_waivers(violations, [graph], waived_config)
    assert standing == [] and [w.via for w in waived] == ["config"]
    no_reason = settings_from({"waivers": [{"rule": "aws-ec2-subnet-no-public-ip", "resource": "*"}]})
    standing, waived = apply_waivers(violations, [graph], no_reason)
    assert {v.rule for v in standing} == {"aws-ec2-subnet-no-public-ip", "mlplat-waiver-reason"}
    assert any(v.file == "policies/config.yaml" for v in standing)


def test_sarif_output(graphs: dict[str, Graph], project_root: Path, tmp_path: Path) -> None:
    graph = copy.deepcopy(graphs["eu-west-1"])
    break_subnet(graph)
    find(graph, "euw1-public-a")["inputs"]["mapPublicIpOnLaunch"] = True
    find(graph, "euw1-public-a")["inputs"]["tags"]["mlplat:waive:aws-ec2-subnet-no-public-ip"] = "NAT only"
    path = tmp_path / "g.json"
    path.write_text(json.dumps(graph))
    out = tmp_path / "report.sarif"
    code = main(["--project", str(project_root), "policy", "--graph", str(path), "--no-checkov",
                 "--format", "sarif", "--out", str(out)])  # fmt: skip
    assert code == 1
    sarif = json.loads(out.read_text())
    assert sarif["version"] == "2.1.0" and "sarif-schema-2.1.0" in sarif["$schema"]
    (run,) = sarif["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "mlplat-policy"
    rule_ids = [r["id"] for r in driver["rules"]]
    results = {r["locations"][0]["logicalLocations"][0]["name"]: r for r in run["results"]}
    failing = results["euw1-private-a"]
    assert failing["ruleId"] == "aws-ec2-subnet-no-public-ip" and failing["level"] == "error"
    assert rule_ids[failing["ruleIndex"]] == failing["ruleId"]
    assert failing["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "stacks/Pulumi.eu-west-1.yaml"
    assert "suppressions" not in failing
    assert results["euw1-public-a"]["suppressions"] == [
        {"kind": "external", "status": "accepted", "justification": "NAT only"}
    ]


def test_policy_without_the_checkov_venv_says_how_to_make_it(
    graphs: dict[str, Graph], project_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "g.json"
    path.write_text(json.dumps(graphs["global"]))
    assert main(["--project", str(project_copy), "policy", "--graph", str(path)]) == 2
    assert "make setup" in capsys.readouterr().err


def test_sarif_for_checkov_findings_points_at_file_and_line() -> None:
    from mlplat.policy import CheckovSummary, PolicyReport, to_sarif
    from policies.engine import Violation
    from policies.waivers import Waiver

    finding = Violation("CKV_DOCKER_3", "mandatory", "runtime", "dockerfile", "runtime/serving/Dockerfile",
                        "Ensure that a user for the container has been created", source="checkov",
                        file="runtime/serving/Dockerfile", line=1)  # fmt: skip
    skipped = Violation("CKV_AWS_18", "mandatory", "infra", "terraform:aws_s3_bucket", "aws_s3_bucket.logs", "logging",
                        source="checkov", file="infra/bootstrap/state.tf", line=12)  # fmt: skip
    summary = CheckovSummary(1, 1, 1, ("dockerfile runtime/serving/Dockerfile",), {"CKV_DOCKER_3": "user"})
    report = PolicyReport([finding], ["eu-west-1"], [Waiver(skipped, "log bucket", "checkov-skip")], summary)
    runs = {run["tool"]["driver"]["name"]: run for run in to_sarif(report)["runs"]}
    assert set(runs) == {"mlplat-policy", "checkov"}
    results = runs["checkov"]["results"]
    location = results[0]["locations"][0]["physicalLocation"]
    assert location == {"artifactLocation": {"uri": "runtime/serving/Dockerfile"}, "region": {"startLine": 1}}
    assert results[1]["suppressions"][0]["justification"] == "log bucket"
    rules = runs["checkov"]["tool"]["driver"]["rules"]
    assert rules[results[0]["ruleIndex"]]["shortDescription"]["text"] == "user"
    assert runs["mlplat-policy"]["results"] == []
