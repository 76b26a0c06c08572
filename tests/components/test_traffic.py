"""Traffic entry, DNS and registry access as the synthesized stacks declare them (issue 16)."""

from __future__ import annotations

import json
from typing import Any

from components.registry_access import registry_host


def by_name(graph: dict[str, Any], name: str, type_: str | None = None) -> dict[str, Any]:
    return next(r for r in graph["resources"] if r["name"] == name and (type_ is None or r["type"] == type_))


def of_type(graph: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    return [r for r in graph["resources"] if r["type"] == type_]


def test_alb_is_tls_only_logged_and_behind_a_waf(graphs: dict[str, dict[str, Any]]) -> None:
    graph = graphs["eu-west-1"]
    alb = by_name(graph, "euw1-alb", "aws:lb/loadBalancer:LoadBalancer")["inputs"]
    assert alb["loadBalancerType"] == "application" and alb["internal"] is False
    assert alb["dropInvalidHeaderFields"] is True and alb["enableDeletionProtection"] is True
    assert alb["accessLogs"] == {"bucket": "mlplat-euw1-alb-access-logs", "prefix": "alb", "enabled": True}
    https = by_name(graph, "euw1-https")["inputs"]
    assert https["protocol"] == "HTTPS" and https["sslPolicy"].startswith("ELBSecurityPolicy-TLS13-1-2")
    http = by_name(graph, "euw1-http")["inputs"]
    assert http["defaultActions"][0]["redirect"] == {"port": "443", "protocol": "HTTPS", "statusCode": "HTTP_301"}
    acl = by_name(graph, "euw1-waf")["inputs"]
    names = [rule["name"] for rule in acl["rules"]]
    assert names[:3] == [
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "AWSManagedRulesAmazonIpReputationList",
    ]
    per_client = next(r for r in acl["rules"] if r["name"] == "rate-per-client")
    assert per_client["statement"]["rateBasedStatement"]["aggregateKeyType"] == "IP"
    assert by_name(graph, "euw1-waf-alb")["inputs"]["resourceArn"].endswith("loadbalancer/app/euw1-serving/mock")
    policy = json.loads(by_name(graph, "euw1-alb-access-logs-policy")["inputs"]["policy"])
    delivery = next(s for s in policy["Statement"] if s.get("Sid") == "AlbAccessLogs")
    assert delivery["Principal"] == {"AWS": "arn:aws:iam::156460612806:root"}  # ELB's eu-west-1 log account


def test_serving_pods_are_bound_to_the_target_group(graphs: dict[str, dict[str, Any]]) -> None:
    graph = graphs["eu-west-1"]
    binding = by_name(graph, "euw1-serving-tgb")["inputs"]
    assert binding["kind"] == "TargetGroupBinding"
    assert binding["spec"]["serviceRef"] == {"name": "serving", "port": 8080}
    assert binding["spec"]["targetGroupARN"].endswith("targetgroup/euw1-serving/mock")
    group = by_name(graph, "euw1-serving", "aws:lb/targetGroup:TargetGroup")["inputs"]
    assert group["targetType"] == "ip" and group["healthCheck"]["path"] == "/health/ready"
    controller = by_name(graph, "euw1-lbc-irsa", "aws:iam/rolePolicy:RolePolicy")["inputs"]["policy"]
    actions = {a for s in json.loads(controller)["Statement"] for a in s["Action"]}
    assert not {a for a in actions if a.startswith("elasticloadbalancing:Create") or "Delete" in a}


def test_region_and_jurisdiction_names_with_health_checks(graphs: dict[str, dict[str, Any]]) -> None:
    graph = graphs["eu-central-1"]
    region = by_name(graph, "euc1-region-record")["inputs"]
    assert region["name"] == "eu-central-1.ml.example.com" and region["aliases"][0]["evaluateTargetHealth"]
    check = by_name(graph, "euc1-health")["inputs"]
    assert (check["type"], check["fqdn"], check["resourcePath"]) == ("HTTPS", region["name"], "/health/ready")
    certificate = by_name(graph, "euc1-cert")["inputs"]
    assert certificate["validationMethod"] == "DNS"
    assert certificate["subjectAlternativeNames"] == ["eu.ml.example.com"]
    zone = by_name(graphs["global"], "glb-zone")["inputs"]
    assert zone["name"] == "ml.example.com"


def test_every_region_reaches_the_one_registry_by_the_same_name(graphs: dict[str, dict[str, Any]]) -> None:
    primary = graphs["us-east-1"]
    service = by_name(primary, "use1-registry", "aws:ec2/vpcEndpointService:VpcEndpointService")["inputs"]
    assert service["supportedRegions"] == ["ap-southeast-1", "eu-central-1", "eu-west-1", "us-east-1"]
    assert service["allowedPrincipals"] == ["arn:aws:iam::123456789012:root"]
    nlb = by_name(primary, "use1-registry-nlb", "aws:lb/loadBalancer:LoadBalancer")["inputs"]
    assert nlb["loadBalancerType"] == "network" and nlb["internal"] is True
    assert by_name(primary, "use1-registry-name")["inputs"]["name"] == registry_host("us-east-1")
    assert not [r for r in primary["resources"] if r["name"].endswith("-mlflow-nlb")]  # no controller-made NLB
    for stack in ("eu-west-1", "eu-central-1", "ap-southeast-1"):
        graph = graphs[stack]
        endpoint = next(r for r in of_type(graph, "aws:ec2/vpcEndpoint:VpcEndpoint") if r["name"].endswith("-registry"))
        assert endpoint["inputs"]["serviceRegion"] == "us-east-1"
        assert endpoint["inputs"]["vpcEndpointType"] == "Interface"
        record = next(r for r in of_type(graph, "aws:route53/record:Record") if r["name"].endswith("-registry-name"))
        assert record["inputs"]["name"] == registry_host("us-east-1")
        references = [r for r in of_type(graph, "pulumi:pulumi:StackReference")]
        assert {r["inputs"]["name"].rsplit("/", 1)[-1] for r in references} >= {"global", "us-east-1"}


def test_registry_database_backups_replicate_inside_the_us(graphs: dict[str, dict[str, Any]]) -> None:
    graph = graphs["us-east-1"]
    backups = by_name(graph, "use1-registry-backups")
    assert backups["region"] == "us-west-2"
    assert backups["inputs"]["sourceDbInstanceArn"].startswith("arn:aws:rds:us-east-1:")
    assert backups["inputs"]["kmsKeyId"].startswith("arn:aws:kms:us-west-2:")
    assert backups["inputs"]["retentionPeriod"] == 14


def test_model_replication_has_a_15_minute_time_control(graphs: dict[str, dict[str, Any]]) -> None:
    replication = by_name(
        graphs["global"], "glb-models-replication", "aws:s3/bucketReplicationConfig:BucketReplicationConfig"
    )["inputs"]
    for rule in replication["rules"]:
        destination = rule["destination"]
        assert destination["replicationTime"] == {"status": "Enabled", "time": {"minutes": 15}}
        assert destination["metrics"]["status"] == "Enabled"
