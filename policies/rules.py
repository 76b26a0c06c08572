"""The platform's rules. Each is a pure function registered with an id, a level and a one-line rationale.

Ids follow Pulumi's compliance naming, `aws-<service>-<resource>-<rule>`; platform-wide rules use `mlplat-`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from policies.engine import Graph, Resource, RuleRegistry, StackContext, context_of

RULES = RuleRegistry()

REQUIRED_TAGS = ("owner", "cost-center", "jurisdiction", "stack")
PUBLIC_CIDRS = frozenset({"0.0.0.0/0", "::/0"})


def _inputs(resource: Resource) -> dict:
    return dict(resource.get("inputs") or {})


@RULES.resource_rule(
    "aws-cloudwatch-loggroup-retention",
    "mandatory",
    "Logs that never expire grow cost forever and keep personal data past its purpose.",
    ["aws:cloudwatch/logGroup:LogGroup"],
)
def log_group_retention(resource: Resource, _: StackContext) -> Iterator[str]:
    days = _inputs(resource).get("retentionInDays")
    if not days:
        yield "log group has no retention (retentionInDays unset or 0: logs never expire)"


@RULES.resource_rule(
    "aws-cloudwatch-loggroup-kms",
    "mandatory",
    "Log groups hold request data; they are encrypted with a customer-managed key.",
    ["aws:cloudwatch/logGroup:LogGroup"],
)
def log_group_kms(resource: Resource, _: StackContext) -> Iterator[str]:
    if not _inputs(resource).get("kmsKeyId"):
        yield "log group is not encrypted with a customer KMS key (kmsKeyId unset)"


@RULES.resource_rule(
    "aws-kms-key-rotation",
    "mandatory",
    "Customer keys rotate yearly and stay in one region, so key material never crosses a jurisdiction.",
    ["aws:kms/key:Key"],
)
def kms_rotation(resource: Resource, _: StackContext) -> Iterator[str]:
    inputs = _inputs(resource)
    if inputs.get("enableKeyRotation") is not True:
        yield "KMS key rotation is off (enableKeyRotation is not true)"
    if inputs.get("multiRegion") is True:
        yield "KMS key is multi-region; replicas would carry key material out of the jurisdiction"


@RULES.resource_rule(
    "aws-ec2-securitygroup-no-public-ingress",
    "mandatory",
    "Nothing in the platform takes traffic from the internet directly; load balancers have their own rules.",
    [
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        "aws:ec2/securityGroupRule:SecurityGroupRule",
    ],
)
def no_public_ingress(resource: Resource, _: StackContext) -> Iterator[str]:
    inputs = _inputs(resource)
    rules: list[dict] = []
    if resource["type"] == "aws:ec2/securityGroup:SecurityGroup":
        rules = list(inputs.get("ingress") or [])
    elif resource["type"] == "aws:ec2/securityGroupRule:SecurityGroupRule":
        rules = [inputs] if inputs.get("type") == "ingress" else []
    else:
        rules = [{"cidrBlocks": [inputs.get("cidrIpv4")], "ipv6CidrBlocks": [inputs.get("cidrIpv6")], **inputs}]
    for rule in rules:
        sources = {*(rule.get("cidrBlocks") or []), *(rule.get("ipv6CidrBlocks") or [])}
        public = sorted(str(c) for c in sources & PUBLIC_CIDRS)
        if public:
            ports = f"{rule.get('fromPort', '?')}-{rule.get('toPort', '?')}"
            yield f"ingress from {', '.join(public)} on ports {ports}"


@RULES.resource_rule(
    "aws-ec2-subnet-no-public-ip",
    "mandatory",
    "Instances never get public IPs; egress goes through NAT, ingress through load balancers.",
    ["aws:ec2/subnet:Subnet"],
)
def subnet_no_public_ip(resource: Resource, _: StackContext) -> Iterator[str]:
    if _inputs(resource).get("mapPublicIpOnLaunch") is True:
        yield "subnet assigns public IPs on launch (mapPublicIpOnLaunch is true)"


@RULES.resource_rule(
    "aws-ec2-defaultsecuritygroup-closed",
    "mandatory",
    "The default security group allows nothing, so nothing can rely on it by accident (CIS AWS 5.4).",
    ["aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"],
)
def default_sg_closed(resource: Resource, _: StackContext) -> Iterator[str]:
    inputs = _inputs(resource)
    if inputs.get("ingress") or inputs.get("egress"):
        yield "the default security group has rules; it must be empty"


@RULES.graph_rule(
    "aws-ec2-vpc-flow-logs",
    "mandatory",
    "Every VPC records all its flows, for incident response and residency audits.",
)
def vpc_flow_logs(graph: Graph) -> Iterator[tuple[Resource, str]]:
    logged = {
        _inputs(r).get("vpcId")
        for r in graph["resources"]
        if r["type"] == "aws:ec2/flowLog:FlowLog" and _inputs(r).get("trafficType") == "ALL"
    }
    for vpc in graph["resources"]:
        if vpc["type"] == "aws:ec2/vpc:Vpc" and vpc.get("id") not in logged:
            yield vpc, "VPC has no flow log capturing ALL traffic"


@RULES.graph_rule(
    "aws-ec2-vpc-s3-gateway-endpoint",
    "advisory",
    "S3 traffic stays on the AWS network and feature buckets can require their VPC endpoint.",
)
def vpc_s3_endpoint(graph: Graph) -> Iterator[tuple[Resource, str]]:
    with_endpoint = {
        _inputs(r).get("vpcId")
        for r in graph["resources"]
        if r["type"] == "aws:ec2/vpcEndpoint:VpcEndpoint"
        and str(_inputs(r).get("serviceName", "")).endswith(".s3")
        and _inputs(r).get("vpcEndpointType") == "Gateway"
    }
    for vpc in graph["resources"]:
        if vpc["type"] == "aws:ec2/vpc:Vpc" and vpc.get("id") not in with_endpoint:
            yield vpc, "VPC has no S3 gateway endpoint"


@RULES.graph_rule(
    "mlplat-provider-default-tags",
    "mandatory",
    "Every taggable resource carries owner, cost-center, jurisdiction and stack, through its provider's default tags.",
)
def provider_default_tags(graph: Graph) -> Iterator[tuple[Resource, str]]:
    for provider in graph["resources"]:
        if provider["type"] != "pulumi:providers:aws":
            continue
        default_tags = _inputs(provider).get("defaultTags") or {}
        tags = default_tags.get("tags", {}) if isinstance(default_tags, dict) else {}
        missing = [t for t in REQUIRED_TAGS if not tags.get(t)]
        if missing:
            yield provider, f"provider's default tags lack {', '.join(missing)}"
        elif tags.get("jurisdiction") != graph["jurisdiction"] or tags.get("stack") != graph["stack"]:
            yield provider, "provider's jurisdiction/stack tags do not match the stack"


@RULES.graph_rule(
    "mlplat-tags-consistent",
    "mandatory",
    "A resource's own tags never override the required tags with values that contradict its stack.",
)
def tags_consistent(graph: Graph) -> Iterator[tuple[Resource, str]]:
    for resource in graph["resources"]:
        tags = _inputs(resource).get("tags")
        if not isinstance(tags, dict):
            continue
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
    "mlplat-regional-stack-one-region",
    "mandatory",
    "A regional stack deploys only into its own region; cross-region resources belong to the global stack.",
)
def regional_stack_one_region(graph: Graph) -> Iterator[tuple[Resource, str]]:
    if graph.get("kind", "regional") != "regional":
        return
    for resource in graph["resources"]:
        if str(resource["type"]).startswith("aws:") and resource.get("region") != graph["region"]:
            yield resource, f"resource is in {resource.get('region')}, outside the stack's region {graph['region']}"


# -- EKS and GPU node pools (issue 3) -----------------------------------------------------------------------------
EKS_LOG_TYPES = frozenset({"api", "audit", "authenticator", "controllerManager", "scheduler"})
MIN_SPOT_INSTANCE_TYPES = 3
MIN_SPOT_FAMILIES = 2


def _tag_value(resource: Resource, key: str) -> str | None:
    """A tag from a map (`tags: {k: v}`) or an Auto Scaling group's list (`tags: [{key, value}]`)."""
    tags = _inputs(resource).get("tags")
    if isinstance(tags, dict):
        return tags.get(key)
    for tag in tags or []:
        if isinstance(tag, dict) and tag.get("key") == key:
            return str(tag.get("value"))
    return None


def _instances_distribution(resource: Resource) -> dict:
    policy = _inputs(resource).get("mixedInstancesPolicy") or {}
    return dict(policy.get("instancesDistribution") or {})


def _uses_spot(resource: Resource) -> bool:
    """A mixed-instances group buys spot unless everything above the base is on-demand (AWS's default: 100)."""
    if not _inputs(resource).get("mixedInstancesPolicy"):
        return False
    percentage = _instances_distribution(resource).get("onDemandPercentageAboveBaseCapacity", 100)
    return int(percentage) < 100


@RULES.resource_rule(
    "aws-ec2-launchtemplate-imdsv2",
    "mandatory",
    "Nodes answer only IMDSv2 with one hop, so a pod cannot lift the node's credentials (SSRF, CKV_AWS_79/341).",
    ["aws:ec2/launchTemplate:LaunchTemplate"],
)
def launch_template_imdsv2(resource: Resource, _: StackContext) -> Iterator[str]:
    metadata = _inputs(resource).get("metadataOptions") or {}
    if metadata.get("httpTokens") != "required":
        yield "instance metadata does not require IMDSv2 tokens (metadataOptions.httpTokens is not 'required')"
    hops = metadata.get("httpPutResponseHopLimit")
    if hops is None or int(hops) > 1:
        yield f"metadata hop limit is {hops if hops is not None else 'unset'}; 1 keeps it out of pods' reach"


@RULES.graph_rule(
    "aws-eks-nodegroup-imdsv2",
    "mandatory",
    "A managed node group takes its IMDS settings from a launch template; without one it gets the AMI's defaults.",
)
def node_group_imdsv2(graph: Graph) -> Iterator[tuple[Resource, str]]:
    templates = {r.get("id"): r for r in graph["resources"] if r["type"] == "aws:ec2/launchTemplate:LaunchTemplate"}
    for group in graph["resources"]:
        if group["type"] != "aws:eks/nodeGroup:NodeGroup":
            continue
        template_id = (_inputs(group).get("launchTemplate") or {}).get("id")
        if template_id not in templates:
            yield group, "node group has no launch template in this stack, so IMDSv2 is not enforced on its nodes"
        elif list(launch_template_imdsv2(templates[template_id], context_of(graph))):
            yield group, f"node group's launch template {templates[template_id]['name']} does not enforce IMDSv2"


@RULES.resource_rule(
    "aws-eks-cluster-endpoint-private",
    "mandatory",
    "The Kubernetes API is reached from the VPC; a public endpoint is allowed only behind a CIDR allowlist.",
    ["aws:eks/cluster:Cluster"],
)
def eks_endpoint_private(resource: Resource, _: StackContext) -> Iterator[str]:
    vpc = _inputs(resource).get("vpcConfig") or {}
    if vpc.get("endpointPrivateAccess") is not True:
        yield "the private endpoint is off (vpcConfig.endpointPrivateAccess is not true)"
    if vpc.get("endpointPublicAccess", True) is not False:  # EKS's own default is public
        cidrs = [str(c) for c in vpc.get("publicAccessCidrs") or []]
        if not cidrs:
            yield "the public endpoint is on without a CIDR allowlist (publicAccessCidrs)"
        elif any(c.endswith("/0") for c in cidrs):
            yield f"the public endpoint allows the whole internet ({', '.join(c for c in cidrs if c.endswith('/0'))})"


@RULES.resource_rule(
    "aws-eks-cluster-secrets-encryption",
    "mandatory",
    "Kubernetes secrets are envelope-encrypted with a customer key (CKV_AWS_58).",
    ["aws:eks/cluster:Cluster"],
)
def eks_secrets_encryption(resource: Resource, _: StackContext) -> Iterator[str]:
    config = _inputs(resource).get("encryptionConfig") or {}
    if "secrets" not in (config.get("resources") or []) or not (config.get("provider") or {}).get("keyArn"):
        yield "secrets are not encrypted with a KMS key (encryptionConfig)"


@RULES.resource_rule(
    "aws-eks-cluster-logging",
    "mandatory",
    "Every control-plane log type is kept, for audits and incident response (CKV_AWS_37).",
    ["aws:eks/cluster:Cluster"],
)
def eks_logging(resource: Resource, _: StackContext) -> Iterator[str]:
    missing = sorted(EKS_LOG_TYPES - set(_inputs(resource).get("enabledClusterLogTypes") or []))
    if missing:
        yield f"control-plane log types not enabled: {', '.join(missing)}"


@RULES.resource_rule(
    "mlplat-gpu-inference-on-demand-floor",
    "mandatory",
    "Serving never depends on spot alone: an inference pool keeps at least one on-demand node.",
    ["aws:autoscaling/group:Group"],
)
def inference_on_demand_floor(resource: Resource, _: StackContext) -> Iterator[str]:
    if _tag_value(resource, "mlplat/purpose") != "inference":
        return
    base = int(_instances_distribution(resource).get("onDemandBaseCapacity", 0) or 0)
    if _inputs(resource).get("mixedInstancesPolicy") and base < 1:
        yield f"inference pool has on-demand base {base}; at least 1 node must be on-demand"
    if int(_inputs(resource).get("minSize", 0) or 0) < max(base, 1):
        yield f"inference pool's minSize is below its on-demand floor of {max(base, 1)}"


@RULES.resource_rule(
    "aws-autoscaling-group-capacity-rebalance",
    "mandatory",
    "A group that buys spot replaces at-risk instances on a rebalance recommendation, before the 2-minute notice.",
    ["aws:autoscaling/group:Group"],
)
def capacity_rebalance(resource: Resource, _: StackContext) -> Iterator[str]:
    if _uses_spot(resource) and _inputs(resource).get("capacityRebalance") is not True:
        yield "group buys spot without capacity rebalancing (capacityRebalance is not true)"


@RULES.resource_rule(
    "aws-autoscaling-group-instance-diversity",
    "mandatory",
    "Spot capacity comes from many pools: at least 3 instance types from at least 2 families.",
    ["aws:autoscaling/group:Group"],
)
def instance_diversity(resource: Resource, _: StackContext) -> Iterator[str]:
    if not _uses_spot(resource):
        return
    launch_template = (_inputs(resource).get("mixedInstancesPolicy") or {}).get("launchTemplate") or {}
    types = {str(o.get("instanceType")) for o in launch_template.get("overrides") or [] if o.get("instanceType")}
    families = {t.split(".", 1)[0] for t in types}
    if len(types) < MIN_SPOT_INSTANCE_TYPES or len(families) < MIN_SPOT_FAMILIES:
        yield (
            f"group buys spot from {len(types)} instance type(s) in {len(families)} famil(ies); "
            f"needs >= {MIN_SPOT_INSTANCE_TYPES} types from >= {MIN_SPOT_FAMILIES} families"
        )


@RULES.resource_rule(
    "aws-iam-policy-no-admin-wildcard",
    "mandatory",
    "No policy allows every action on every resource; least privilege names actions and resources.",
    ["aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy"],
)
def no_admin_wildcard(resource: Resource, _: StackContext) -> Iterator[str]:
    document = _inputs(resource).get("policy")
    try:
        policy = json.loads(document) if isinstance(document, str) else dict(document or {})
    except json.JSONDecodeError:
        yield "policy is not valid JSON"
        return
    statements = policy.get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        actions = statement.get("Action", [])
        resources = statement.get("Resource", [])
        actions = [actions] if isinstance(actions, str) else actions
        resources = [resources] if isinstance(resources, str) else resources
        if statement.get("Effect") == "Allow" and "*" in resources and ({"*", "*:*"} & set(actions)):
            yield f"statement {statement.get('Sid', '(no Sid)')} allows action * on resource *"


@RULES.resource_rule(
    "aws-sqs-queue-encrypted",
    "mandatory",
    "Queues carry instance and account details; they are encrypted at rest (CKV_AWS_27).",
    ["aws:sqs/queue:Queue"],
)
def sqs_encrypted(resource: Resource, _: StackContext) -> Iterator[str]:
    inputs = _inputs(resource)
    if not inputs.get("kmsMasterKeyId") and inputs.get("sqsManagedSseEnabled") is not True:
        yield "queue is not encrypted (kmsMasterKeyId unset, sqsManagedSseEnabled not true)"
