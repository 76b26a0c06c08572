"""Tags (owner, cost-center, jurisdiction, stack on every taggable resource), stack placement and waiver hygiene."""

from __future__ import annotations

from collections.abc import Iterator

from policies.engine import Graph, Resource, StackContext
from policies.rules.registry import REQUIRED_TAGS, RULES, WAIVER_TAG_PREFIX, inputs_of

FAMILY = "tags"

# Taggable types that components often create without a `tags` input (they still get the provider's default tags).
TAGGABLE_TYPES = frozenset(
    {
        "aws:s3/bucket:Bucket",
        "aws:ec2/vpc:Vpc",
        "aws:ec2/subnet:Subnet",
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:ec2/launchTemplate:LaunchTemplate",
        "aws:eks/cluster:Cluster",
        "aws:eks/nodeGroup:NodeGroup",
        "aws:rds/instance:Instance",
        "aws:rds/cluster:Cluster",
        "aws:elasticache/replicationGroup:ReplicationGroup",
        "aws:ecr/repository:Repository",
        "aws:kms/key:Key",
        "aws:sqs/queue:Queue",
        "aws:iam/role:Role",
        "aws:iam/policy:Policy",
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:dynamodb/table:Table",
        "aws:lb/loadBalancer:LoadBalancer",
    }
)


@RULES.graph_rule(
    "mlplat-provider-default-tags",
    "mandatory",
    "Every taggable resource carries owner, cost-center, jurisdiction and stack, through its provider's default tags.",
    FAMILY,
)
def provider_default_tags(graph: Graph, _: StackContext) -> Iterator[tuple[Resource, str]]:
    for provider in graph["resources"]:
        if provider["type"] != "pulumi:providers:aws":
            continue
        default_tags = inputs_of(provider).get("defaultTags") or {}
        tags = default_tags.get("tags", {}) if isinstance(default_tags, dict) else {}
        missing = [t for t in REQUIRED_TAGS if not tags.get(t)]
        if missing:
            yield provider, f"provider's default tags lack {', '.join(missing)}"
        elif tags.get("jurisdiction") != graph["jurisdiction"] or tags.get("stack") != graph["stack"]:
            yield provider, "provider's jurisdiction/stack tags do not match the stack"


@RULES.graph_rule(
    "mlplat-resource-required-tags",
    "mandatory",
    "Cost and residency reports group by owner, cost-center, jurisdiction and stack; a resource without them is lost.",
    FAMILY,
)
def resource_required_tags(graph: Graph, context: StackContext) -> Iterator[tuple[Resource, str]]:
    for resource in graph["resources"]:
        if not resource.is_cloud:
            continue
        if "tags" not in inputs_of(resource) and resource["type"] not in TAGGABLE_TYPES:
            continue
        tags = context.effective_tags(resource)
        missing = [t for t in REQUIRED_TAGS if not tags.get(t)]
        if missing:
            yield resource, f"resource lacks the required tag(s) {', '.join(missing)} (own and provider default tags)"


@RULES.graph_rule(
    "mlplat-tags-consistent",
    "mandatory",
    "A resource's own tags never override the required tags with values that contradict its stack.",
    FAMILY,
)
def tags_consistent(graph: Graph, _: StackContext) -> Iterator[tuple[Resource, str]]:
    for resource in graph["resources"]:
        tags = resource.tags
        if "jurisdiction" in tags and tags["jurisdiction"] != graph["jurisdiction"]:
            yield (
                resource,
                f"jurisdiction tag {tags['jurisdiction']!r} contradicts the stack's {graph['jurisdiction']!r}",
            )
        if "stack" in tags and tags["stack"] != graph["stack"]:
            yield resource, f"stack tag {tags['stack']!r} contradicts the stack {graph['stack']!r}"
        for key in REQUIRED_TAGS:
            if key in tags and not tags[key]:
                yield resource, f"required tag {key!r} is empty"


@RULES.graph_rule(
    "mlplat-waiver-reason",
    "mandatory",
    "A waiver must say why: a `mlplat:waive:<rule>` tag with an empty value waives nothing and is itself a finding.",
    FAMILY,
    waivable=False,
)
def waiver_has_reason(graph: Graph, _: StackContext) -> Iterator[tuple[Resource, str]]:
    for resource in graph["resources"]:
        for key, value in resource.tags.items():
            if key.startswith(WAIVER_TAG_PREFIX) and not value.strip():
                yield resource, f"waiver tag {key!r} has no reason"
