"""The CrossGuard pack's validators, called the way the Pulumi engine calls them (never importing the pack)."""

from __future__ import annotations

import json
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policies.crossguard import policies
from policies.rules import RULES

PROVIDER = PolicyProviderResource(
    "pulumi:providers:aws",
    {"region": "eu-west-1", "defaultTags": json.dumps({"tags": {"owner": "o", "cost-center": "c",
                                                                "jurisdiction": "eu", "stack": "eu-west-1"}})},
    "urn:pulumi:eu-west-1::mlplat::pulumi:providers:aws::aws-eu-west-1",
    "aws-eu-west-1",
)  # fmt: skip
OPTS = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])
POLICIES = {p.name: p for p in policies()}


def urn(type_: str, name: str) -> str:
    return f"urn:pulumi:eu-west-1::mlplat::{type_}::{name}"


def validate_resource(rule: str, type_: str, name: str, props: dict[str, Any]) -> list[str]:
    messages: list[str] = []
    policy = POLICIES[rule]
    assert isinstance(policy, ResourceValidationPolicy)
    args = ResourceValidationArgs(type_, props, urn(type_, name), name, OPTS, PROVIDER, {})
    policy.validate(args, lambda message, _urn=None: messages.append(message))
    return messages


def policy_resource(type_: str, name: str, props: dict[str, Any], deps: dict[str, list[Any]] | None = None) -> Any:
    return PolicyResource(type_, props, urn(type_, name), name, OPTS, PROVIDER, None, [], deps or {})


def test_every_rule_is_a_policy_with_its_level() -> None:
    assert set(POLICIES) == {r.id for r in RULES}
    for rule in RULES:
        expected = EnforcementLevel.MANDATORY if rule.level == "mandatory" else EnforcementLevel.ADVISORY
        assert POLICIES[rule.id].enforcement_level == expected
        assert isinstance(POLICIES[rule.id], ResourceValidationPolicy if rule.check else StackValidationPolicy)


def test_resource_policy_reports_and_passes() -> None:
    lt = "aws:ec2/launchTemplate:LaunchTemplate"
    assert validate_resource("aws-ec2-launchtemplate-imdsv2", lt, "lt", {"metadataOptions": {"httpTokens": "optional"}})
    assert not validate_resource(
        "aws-ec2-launchtemplate-imdsv2", lt, "lt", {"metadataOptions": {"httpTokens": "required"}}
    )
    assert not validate_resource("aws-ec2-launchtemplate-imdsv2", "aws:s3/bucket:Bucket", "b", {})


def test_a_tag_waiver_silences_the_policy() -> None:
    props = {"mapPublicIpOnLaunch": True, "tags": {"mlplat:waive:aws-ec2-subnet-no-public-ip": "NAT subnet"}}
    assert not validate_resource("aws-ec2-subnet-no-public-ip", "aws:ec2/subnet:Subnet", "sn", props)
    props["tags"] = {}
    assert validate_resource("aws-ec2-subnet-no-public-ip", "aws:ec2/subnet:Subnet", "sn", props)


def test_stack_policy_resolves_dependencies_without_ids() -> None:
    """In a preview the flow log's vpcId is unknown; its property dependency still ties it to the VPC."""
    vpc = policy_resource("aws:ec2/vpc:Vpc", "vpc", {"cidrBlock": "10.0.0.0/16"})
    flow = policy_resource("aws:ec2/flowLog:FlowLog", "fl", {"trafficType": "ALL"}, {"vpcId": [vpc]})
    policy = POLICIES["aws-ec2-vpc-flow-logs"]
    assert isinstance(policy, StackValidationPolicy)
    reported: list[tuple[str, str | None]] = []
    policy.validate(StackValidationArgs([vpc, flow], {}), lambda m, u=None: reported.append((m, u)))
    assert reported == []
    policy.validate(StackValidationArgs([vpc], {}), lambda m, u=None: reported.append((m, u)))
    assert reported == [("vpc: VPC has no flow log capturing ALL traffic", urn("aws:ec2/vpc:Vpc", "vpc"))]


def test_stack_policy_reads_jurisdiction_from_default_tags_and_config() -> None:
    bucket = policy_resource("aws:s3/bucket:Bucket", "features", {"region": "us-east-1"})
    policy = POLICIES["mlplat-residency-store-jurisdiction"]
    assert isinstance(policy, StackValidationPolicy)
    reported: list[str] = []
    config = {"jurisdictions": {"eu": ["eu-west-1"], "us": ["us-east-1"]}}
    policy.validate(StackValidationArgs([bucket], config), lambda m, u=None: reported.append(m))
    assert reported and "outside the stack's jurisdiction eu" in reported[0]


def _as_policy_resources(graph: dict[str, Any]) -> tuple[list[Any], dict[str, PolicyProviderResource]]:
    """A synthesized graph as the engine hands it to a pack: provider inputs JSON-encoded, ids unknown."""
    providers = {
        r["name"]: PolicyProviderResource(
            r["type"],
            {k: json.dumps(v) if isinstance(v, dict) else v for k, v in r["inputs"].items()},
            urn(r["type"], r["name"]),
            r["name"],
        )
        for r in graph["resources"]
        if r["type"].startswith("pulumi:providers:")
    }
    resources = [
        PolicyResource(
            r["type"],
            r["inputs"],
            urn(r["type"], r["name"]),
            r["name"],
            OPTS,
            providers.get(r["provider"]),
            None,
            [],
            {},
        )
        for r in graph["resources"]
        if r.get("custom", True)
    ]
    return resources, providers


def _crossguard_findings(graph: dict[str, Any]) -> set[tuple[str, str]]:
    resources, _ = _as_policy_resources(graph)
    found: set[tuple[str, str]] = set()
    for policy in POLICIES.values():
        if isinstance(policy, StackValidationPolicy):
            policy.validate(StackValidationArgs(resources, {}),
                            lambda m, u=None, n=policy.name: found.add((n, str(u).rsplit("::", 1)[-1])))  # fmt: skip
            continue
        assert isinstance(policy, ResourceValidationPolicy)
        for resource in resources:
            args = ResourceValidationArgs(resource.resource_type, resource.props, resource.urn, resource.name, OPTS,
                                          resource.provider, {})  # fmt: skip
            policy.validate(args, lambda m, u=None, n=policy.name, r=resource.name: found.add((n, r)))
    return found


def test_the_pack_and_mlplat_policy_agree_on_a_synthesized_graph(graphs: dict[str, Any]) -> None:
    import copy

    from policies.engine import evaluate
    from policies.settings import load_settings

    graph = copy.deepcopy(graphs["eu-west-1"])
    assert _crossguard_findings(graph) == set()
    for resource in graph["resources"]:
        if resource["name"] == "euw1-private-a":
            resource["inputs"]["mapPublicIpOnLaunch"] = True
        if resource["type"] == "aws:cloudwatch/logGroup:LogGroup":
            resource["inputs"].pop("kmsKeyId")
        if resource["type"] == "aws:ec2/flowLog:FlowLog":
            resource["inputs"]["trafficType"] = "REJECT"
    offline = {(v.rule, v.resource_name) for v in evaluate(graph, RULES, load_settings())}
    assert offline == _crossguard_findings(graph)
    assert {r for r, _ in offline} == {
        "aws-ec2-subnet-no-public-ip",
        "aws-cloudwatch-loggroup-kms",
        "aws-ec2-vpc-flow-logs",
    }
