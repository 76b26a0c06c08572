"""Operational hardening: IMDSv2, control-plane and flow logging with retention, backups, ECR tags and scanning."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator

from mlplat.graph import GraphIndex, as_list
from policies.engine import Graph, Resource, StackContext
from policies.rules.encryption import LAUNCH_TEMPLATE, RDS_CLUSTER, RDS_INSTANCE
from policies.rules.registry import RULES, first, inputs_of

LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
ECR_REPOSITORY = "aws:ecr/repository:Repository"
CONTROL_PLANE_LOGS = ("api", "audit", "authenticator")
MIN_BACKUP_DAYS = 7
FAMILY = "operations"


def _imds_problem(metadata: dict[str, object]) -> str | None:
    if metadata.get("httpTokens") != "required":
        return "IMDSv2 is not required (metadataOptions.httpTokens is not 'required')"
    hop_limit = metadata.get("httpPutResponseHopLimit")
    if isinstance(hop_limit, int | float) and hop_limit > 2:
        return f"metadataOptions.httpPutResponseHopLimit is {hop_limit}; containers could reach the node's credentials"
    return None


@RULES.resource_rule(
    "aws-ec2-launchtemplate-imdsv2",
    "mandatory",
    "Every node requires IMDSv2 (session tokens) with a hop limit of at most 2, so SSRF cannot read node credentials.",
    [LAUNCH_TEMPLATE, "aws:ec2/instance:Instance"],
    FAMILY,
)
def launch_template_imdsv2(resource: Resource, _: StackContext) -> Iterator[str]:
    problem = _imds_problem(first(inputs_of(resource).get("metadataOptions")))
    if problem:
        yield problem


@RULES.graph_rule(
    "aws-eks-nodegroup-imdsv2",
    "mandatory",
    "A managed node group without a launch template allows IMDSv1; every node group uses one that requires IMDSv2.",
    FAMILY,
)
def node_group_imdsv2(graph: Graph, _: StackContext) -> Iterator[tuple[Resource, str]]:
    index = GraphIndex.of(graph)
    for group in index.of_type(NODE_GROUP):
        spec = first(inputs_of(group).get("launchTemplate"))
        template = index.resolve(spec.get("id") or spec.get("name"), (LAUNCH_TEMPLATE,))
        if template is None:
            yield group, "node group has no launch template of this stack, so IMDSv1 stays allowed"
        elif _imds_problem(first(inputs_of(template).get("metadataOptions"))):
            yield group, f"node group's launch template {template['name']} does not require IMDSv2"


@RULES.resource_rule(
    "aws-cloudwatch-loggroup-retention",
    "mandatory",
    "Logs that never expire grow cost forever and keep personal data past its purpose.",
    [LOG_GROUP],
    FAMILY,
)
def log_group_retention(resource: Resource, _: StackContext) -> Iterator[str]:
    if not inputs_of(resource).get("retentionInDays"):
        yield "log group has no retention (retentionInDays unset or 0: logs never expire)"


@RULES.graph_rule(
    "aws-ec2-vpc-flow-logs",
    "mandatory",
    "Every VPC records all its flows, for incident response and residency audits.",
    FAMILY,
)
def vpc_flow_logs(graph: Graph, _: StackContext) -> Iterator[tuple[Resource, str]]:
    index = GraphIndex.of(graph)
    logged = {
        id(vpc)
        for flow in index.of_type("aws:ec2/flowLog:FlowLog")
        if inputs_of(flow).get("trafficType") == "ALL"
        and (vpc := index.resolve(inputs_of(flow).get("vpcId"), ("aws:ec2/vpc:Vpc",))) is not None
    }
    for vpc in index.of_type("aws:ec2/vpc:Vpc"):
        if id(vpc) not in logged:
            yield vpc, "VPC has no flow log capturing ALL traffic"


@RULES.graph_rule(
    "aws-ec2-vpc-s3-gateway-endpoint",
    "advisory",
    "S3 traffic stays on the AWS network and feature buckets can require their VPC endpoint.",
    FAMILY,
)
def vpc_s3_endpoint(graph: Graph, _: StackContext) -> Iterator[tuple[Resource, str]]:
    index = GraphIndex.of(graph)
    with_endpoint = {
        id(vpc)
        for endpoint in index.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
        if str(inputs_of(endpoint).get("serviceName", "")).endswith(".s3")
        and inputs_of(endpoint).get("vpcEndpointType") == "Gateway"
        and (vpc := index.resolve(inputs_of(endpoint).get("vpcId"))) is not None
    }
    for vpc in index.of_type("aws:ec2/vpc:Vpc"):
        if id(vpc) not in with_endpoint:
            yield vpc, "VPC has no S3 gateway endpoint"


@RULES.graph_rule(
    "aws-eks-cluster-control-plane-logging",
    "mandatory",
    "The control plane logs api, audit and authenticator to a log group the stack owns, with retention and a key.",
    FAMILY,
)
def eks_logging(graph: Graph, _: StackContext) -> Iterator[tuple[Resource, str]]:
    index = GraphIndex.of(graph)
    log_groups = {str(inputs_of(g).get("name")): g for g in index.of_type(LOG_GROUP)}
    for cluster in index.of_type(EKS_CLUSTER):
        enabled = set(as_list(inputs_of(cluster).get("enabledClusterLogTypes")))
        missing = [t for t in CONTROL_PLANE_LOGS if t not in enabled]
        if missing:
            yield cluster, f"control-plane log types {', '.join(missing)} are not enabled (enabledClusterLogTypes)"
        name = inputs_of(cluster).get("name") or cluster["name"]
        if f"/aws/eks/{name}/cluster" not in log_groups:
            yield (
                cluster,
                (f"no log group /aws/eks/{name}/cluster in the stack: EKS would create one that never expires"),
            )


@RULES.resource_rule(
    "aws-rds-backup-retention",
    "mandatory",
    "Databases keep at least 7 days of automated backups (the MLflow registry is not rebuildable).",
    [RDS_INSTANCE, RDS_CLUSTER],
    FAMILY,
)
def rds_backups(resource: Resource, _: StackContext) -> Iterator[str]:
    inputs = inputs_of(resource)
    if inputs.get("replicateSourceDb"):
        return
    days = inputs.get("backupRetentionPeriod")
    if not isinstance(days, int | float) or days < MIN_BACKUP_DAYS:
        yield f"backupRetentionPeriod is {days}; at least {MIN_BACKUP_DAYS} days are required"
    if inputs.get("skipFinalSnapshot") is True:
        yield "skipFinalSnapshot is true: deleting the database would lose its data"


@RULES.resource_rule(
    "aws-rds-deletion-protection",
    "mandatory",
    "Databases cannot be deleted by one mistaken update.",
    [RDS_INSTANCE, RDS_CLUSTER],
    FAMILY,
)
def rds_deletion_protection(resource: Resource, _: StackContext) -> Iterator[str]:
    if inputs_of(resource).get("deletionProtection") is not True:
        yield "deletionProtection is not true"


@RULES.resource_rule(
    "aws-ecr-repository-immutable-tags",
    "mandatory",
    "An image tag names one image forever, so a model version always runs the code it was tested with.",
    [ECR_REPOSITORY],
    FAMILY,
)
def ecr_immutable(resource: Resource, _: StackContext) -> Iterator[str]:
    if not str(inputs_of(resource).get("imageTagMutability", "MUTABLE")).startswith("IMMUTABLE"):
        yield "image tags are mutable (imageTagMutability is not IMMUTABLE)"


@RULES.graph_rule(
    "aws-ecr-repository-scan-on-push",
    "mandatory",
    "Every image is scanned on push, by the repository or by a registry scanning rule that covers it.",
    FAMILY,
)
def ecr_scan(graph: Graph, _: StackContext) -> Iterator[tuple[Resource, str]]:
    index = GraphIndex.of(graph)
    filters: list[str] = []
    for config in index.of_type("aws:ecr/registryScanningConfiguration:RegistryScanningConfiguration"):
        for rule in as_list(inputs_of(config).get("rules")):
            if first(rule).get("scanFrequency") in ("SCAN_ON_PUSH", "CONTINUOUS_SCAN"):
                filters.extend(str(first(f).get("filter", "")) for f in as_list(first(rule).get("repositoryFilters")))
    for repository in index.of_type(ECR_REPOSITORY):
        if first(inputs_of(repository).get("imageScanningConfiguration")).get("scanOnPush") is True:
            continue
        name = str(inputs_of(repository).get("name") or repository["name"])
        if not any(fnmatch.fnmatchcase(name, f) for f in filters):
            yield (
                repository,
                "images are not scanned on push (imageScanningConfiguration.scanOnPush or a registry rule)",
            )
