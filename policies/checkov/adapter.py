"""Turns an `mlplat.graph/v1` graph into a Terraform plan JSON that checkov scans (`--framework terraform_plan`).

pulumi-aws is bridged from the Terraform AWS provider, so a type token maps to a Terraform type
(`aws:eks/cluster:Cluster` -> `aws_eks_cluster`) and camelCase inputs to snake_case attributes. Nested objects
become blocks (lists of one object), the plural names Pulumi gives repeated blocks go back to Terraform's singular
(`rules` -> `rule`), and an input that points at another resource of the graph becomes what a real plan shows:
an unknown value plus `configuration...expressions.<attr>.references`, so checkov's graph checks connect them.
No pulumi import, no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlplat.graph import Graph, GraphIndex, as_list

TERRAFORM_VERSION = "1.15.5"
PROVIDER = "registry.terraform.io/hashicorp/aws"

# Modules whose Terraform types carry no module prefix (aws_vpc, aws_subnet, aws_launch_template, ...).
_UNPREFIXED_MODULES = frozenset({"ec2"})
# Types that do not follow aws_<module>_<snake resource>.
_TYPE_EXCEPTIONS = {
    "aws:rds/instance:Instance": "aws_db_instance",
    "aws:rds/parameterGroup:ParameterGroup": "aws_db_parameter_group",
    "aws:rds/subnetGroup:SubnetGroup": "aws_db_subnet_group",
    "aws:rds/optionGroup:OptionGroup": "aws_db_option_group",
    "aws:rds/snapshot:Snapshot": "aws_db_snapshot",
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": "aws_iam_openid_connect_provider",
    "aws:lb/loadBalancer:LoadBalancer": "aws_lb",
    "aws:alb/loadBalancer:LoadBalancer": "aws_lb",
    "aws:ebs/encryptionByDefault:EncryptionByDefault": "aws_ebs_encryption_by_default",
    "aws:s3/bucketReplicationConfig:BucketReplicationConfig": "aws_s3_bucket_replication_configuration",
    "aws:cloudwatch/eventRule:EventRule": "aws_cloudwatch_event_rule",
    "aws:cloudwatch/eventTarget:EventTarget": "aws_cloudwatch_event_target",
}
# Repeated blocks Pulumi names in the plural; Terraform names each block in the singular.
_BLOCK_RENAMES = {
    "rules": "rule",
    "routes": "route",
    "overrides": "override",
    "parameters": "parameter",
    "encryptionConfigurations": "encryption_configuration",
    "logDeliveryConfigurations": "log_delivery_configuration",
    "inlinePolicies": "inline_policy",
    "taints": "taint",
    "attributes": "attribute",
    "replicas": "replica",
    "globalSecondaryIndexes": "global_secondary_index",
    "defaultActions": "default_action",
    "destinations": "destination",
    "repositoryFilters": "repository_filter",
    "transitions": "transition",
    "filters": "filter",
}
# Attributes that hold JSON documents; the SDK may send them as objects.
_JSON_ATTRIBUTES = frozenset({"policy", "assumeRolePolicy"})


def terraform_type(type_token: str) -> str | None:
    """`aws:s3/bucket:Bucket` -> `aws_s3_bucket`; None for what is not an AWS resource."""
    if type_token in _TYPE_EXCEPTIONS:
        return _TYPE_EXCEPTIONS[type_token]
    parts = type_token.split(":")
    if len(parts) != 3 or parts[0] != "aws" or "/" not in parts[1]:
        return None
    module, resource = parts[1].split("/", 1)
    snake = snake_case(re.sub(r"V2$", "", resource))
    if module in _UNPREFIXED_MODULES or snake.startswith(f"{module}_"):
        return f"aws_{snake}"
    return f"aws_{module}_{snake}"


def snake_case(name: str) -> str:
    """camelCase -> snake_case (`kmsMasterKeyId` -> `kms_master_key_id`, `ipv6CidrBlocks` -> `ipv6_cidr_blocks`)."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def terraform_name(resource_name: str) -> str:
    """A Pulumi name as a Terraform identifier (letters, digits, `_`, `-`; starts with a letter or `_`)."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "_", resource_name)
    return cleaned if re.match(r"^[A-Za-z_]", cleaned) else f"r_{cleaned}"


@dataclass
class PlanDocument:
    """A plan JSON and the way back from a Terraform address to the graph's resource."""

    plan: dict[str, Any]
    addresses: dict[str, tuple[str, str]] = field(default_factory=dict)  # address -> (type token, name)


def to_plan(document: Graph | Mapping[str, Any]) -> PlanDocument:
    graph = Graph.of(document)
    index = GraphIndex.of(graph)
    addresses: dict[str, tuple[str, str]] = {}
    address_of: dict[int, str] = {}
    taken: set[str] = set()
    for resource in index.resources:
        mapped = terraform_type(resource.type)
        if mapped is None:
            continue
        name = terraform_name(resource.name)
        while f"{mapped}.{name}" in taken:
            name += "_"
        address = f"{mapped}.{name}"
        taken.add(address)
        addresses[address] = resource.key
        address_of[id(resource)] = address

    providers = graph.providers
    planned: list[dict[str, Any]] = []
    configured: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    for resource in index.resources:
        found = address_of.get(id(resource))
        if found is None:
            continue
        address = found
        tf_type, tf_name = address.split(".", 1)

        def reference(value: Any) -> str | None:
            target = index.resolve(value)
            if target is None or target is resource or id(target) not in address_of:  # noqa: B023
                return None
            attribute = "arn" if isinstance(value, str) and value.startswith("arn:") else "id"
            return f"{address_of[id(target)]}.{attribute}"

        values, expressions = _convert(dict(resource.inputs), reference, tf_type)
        default_tags = (providers.get(resource.provider or "") or {}).get("defaultTags") or {}
        if "tags" in values or default_tags:
            inherited = default_tags.get("tags", {}) if isinstance(default_tags, Mapping) else {}
            own = values.get("tags") if isinstance(values.get("tags"), dict) else {}
            values["tags_all"] = {**inherited, **(own or {})}
        planned.append(
            {
                "address": address,
                "mode": "managed",
                "type": tf_type,
                "name": tf_name,
                "provider_name": PROVIDER,
                "schema_version": 0,
                "values": values,
            }
        )
        configured.append(
            {
                "address": address,
                "mode": "managed",
                "type": tf_type,
                "name": tf_name,
                "provider_config_key": "aws",
                "expressions": expressions,
            }
        )
        changes.append(
            {
                "address": address,
                "mode": "managed",
                "type": tf_type,
                "name": tf_name,
                "provider_name": PROVIDER,
                "change": {"actions": ["create"], "before": None, "after": values, "after_unknown": {}},
            }
        )
    plan = {
        "format_version": "1.2",
        "terraform_version": TERRAFORM_VERSION,
        "planned_values": {"root_module": {"resources": planned}},
        "resource_changes": changes,
        "configuration": {
            "provider_config": {
                "aws": {
                    "name": "aws",
                    "full_name": PROVIDER,
                    "expressions": {"region": {"constant_value": graph.region}},
                }
            },
            "root_module": {"resources": configured},
        },
    }
    return PlanDocument(plan, addresses)


def _convert(inputs: dict[str, Any], reference: Any, tf_type: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Inputs -> (planned values, configuration expressions) for one object level."""
    values: dict[str, Any] = {}
    expressions: dict[str, Any] = {}
    for key, raw in inputs.items():
        if key.startswith("__"):
            continue
        attribute = _attribute_name(key, raw, tf_type)
        value = json.dumps(raw) if key in _JSON_ATTRIBUTES and isinstance(raw, dict) else raw
        if key == "tags" and isinstance(value, dict):
            values[attribute] = {str(k): str(v) for k, v in value.items()}
        elif isinstance(value, dict) or (isinstance(value, list) and any(isinstance(v, dict) for v in value)):
            blocks = [_convert(v, reference, tf_type) for v in as_list(value) if isinstance(v, dict)]
            values[attribute] = [v for v, _ in blocks]
            if any(e for _, e in blocks):
                expressions[attribute] = [e for _, e in blocks]
        elif isinstance(value, list):
            values[attribute] = value
            refs = [r for r in (reference(v) for v in value) if r]
            if refs:
                expressions[attribute] = {"references": _with_bases(refs)}
        elif ref := reference(value):
            values[attribute] = None  # known after apply, as Terraform plans show it
            expressions[attribute] = {"references": _with_bases([ref])}
        else:
            values[attribute] = value
    return values, expressions


def _attribute_name(key: str, value: Any, tf_type: str) -> str:
    if isinstance(value, list) and any(isinstance(v, dict) for v in value):
        if key in _BLOCK_RENAMES:
            return _BLOCK_RENAMES[key]
        if key == "tags" and tf_type == "aws_autoscaling_group":
            return "tag"
    return snake_case(key)


def _with_bases(references: list[str]) -> list[str]:
    """Terraform lists both `aws_vpc.x.id` and `aws_vpc.x`."""
    out: list[str] = []
    for ref in references:
        out.extend([ref, ref.rsplit(".", 1)[0]])
    return out
