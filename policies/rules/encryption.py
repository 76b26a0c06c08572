"""Encryption at rest with customer KMS keys, key rotation, and encryption in transit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mlplat.graph import GraphIndex, as_list, policy_document, statements
from policies.engine import Graph, Resource, StackContext
from policies.rules.registry import RULES, first, inputs_of

BUCKET_TYPES = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
SSE_TYPES = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_CLUSTER = "aws:rds/cluster:Cluster"
REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
FAMILY = "encryption"


def is_true(value: Any) -> bool:
    """Booleans arrive as bools, or as strings where the provider types them so (launch template EBS)."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


def customer_key(value: Any) -> bool:
    """A customer-managed key ARN, id or alias; AWS-managed aliases (`alias/aws/...`) do not count."""
    return isinstance(value, str) and bool(value) and "alias/aws/" not in value


@RULES.resource_rule(
    "aws-cloudwatch-loggroup-kms",
    "mandatory",
    "Log groups hold request data; they are encrypted with a customer-managed key.",
    ["aws:cloudwatch/logGroup:LogGroup"],
    FAMILY,
)
def log_group_kms(resource: Resource, _: StackContext) -> Iterator[str]:
    if not customer_key(inputs_of(resource).get("kmsKeyId")):
        yield "log group is not encrypted with a customer KMS key (kmsKeyId unset)"


@RULES.resource_rule(
    "aws-kms-key-rotation",
    "mandatory",
    "Customer keys rotate yearly and stay in one region, so key material never crosses a jurisdiction.",
    ["aws:kms/key:Key"],
    FAMILY,
)
def kms_rotation(resource: Resource, _: StackContext) -> Iterator[str]:
    inputs = inputs_of(resource)
    if inputs.get("enableKeyRotation") is not True:
        yield "KMS key rotation is off (enableKeyRotation is not true)"
    if inputs.get("multiRegion") is True:
        yield "KMS key is multi-region; replicas would carry key material out of the jurisdiction"


LOGGING_TYPES = ("aws:s3/bucketLogging:BucketLogging", "aws:s3/bucketLoggingV2:BucketLoggingV2")


@RULES.graph_rule(
    "aws-s3-bucket-sse-kms",
    "mandatory",
    "Every bucket encrypts objects by default with a customer KMS key; only an access-log target may use SSE-S3.",
    FAMILY,
)
def bucket_sse_kms(graph: Graph, _: StackContext) -> Iterator[tuple[Resource, str]]:
    index = GraphIndex.of(graph)
    algorithms: dict[int, set[str]] = {}
    for config in index.of_type(*SSE_TYPES):
        bucket = index.resolve(inputs_of(config).get("bucket"), BUCKET_TYPES)
        if bucket is None:
            continue
        for rule in as_list(inputs_of(config).get("rules")):
            default = first(first(rule).get("applyServerSideEncryptionByDefault"))
            kms = default.get("sseAlgorithm") in ("aws:kms", "aws:kms:dsse") and customer_key(
                default.get("kmsMasterKeyId")
            )
            algorithms.setdefault(id(bucket), set()).add("kms" if kms else str(default.get("sseAlgorithm")))
    # S3 server access logs and load balancer access logs are delivered only to SSE-S3 (AES256) buckets.
    log_targets = {
        id(target)
        for logging in index.of_type(*LOGGING_TYPES)
        if (target := index.resolve(inputs_of(logging).get("targetBucket"), BUCKET_TYPES)) is not None
    } | {
        id(target)
        for balancer in index.of_type("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
        if (target := index.resolve(first(inputs_of(balancer).get("accessLogs")).get("bucket"), BUCKET_TYPES))
        is not None
    }
    for bucket in index.of_type(*BUCKET_TYPES):
        inline = first(first(inputs_of(bucket).get("serverSideEncryptionConfiguration")).get("rule"))
        inline_default = first(inline.get("applyServerSideEncryptionByDefault"))
        if inline_default.get("sseAlgorithm") == "aws:kms" and customer_key(inline_default.get("kmsMasterKeyId")):
            continue
        found = algorithms.get(id(bucket), set())
        if "kms" in found or (id(bucket) in log_targets and "AES256" in found):
            continue
        yield bucket, "bucket has no SSE-KMS default encryption with a customer key"


@RULES.graph_rule(
    "aws-s3-bucket-tls-only",
    "mandatory",
    "Every bucket policy denies requests that do not use TLS (aws:SecureTransport false).",
    FAMILY,
)
def bucket_tls_only(graph: Graph, _: StackContext) -> Iterator[tuple[Resource, str]]:
    index = GraphIndex.of(graph)
    tls_only: set[int] = set()
    for bucket_policy in index.of_type(BUCKET_POLICY):
        bucket = index.resolve(inputs_of(bucket_policy).get("bucket"), BUCKET_TYPES)
        if bucket is not None and any(
            _denies_plain_http(s) for s in statements(policy_document(inputs_of(bucket_policy).get("policy")))
        ):
            tls_only.add(id(bucket))
    for bucket in index.of_type(*BUCKET_TYPES):
        if id(bucket) not in tls_only:
            yield bucket, "no bucket policy denies non-TLS requests (Deny with Bool aws:SecureTransport = false)"


def _denies_plain_http(statement: dict[str, Any]) -> bool:
    if statement.get("Effect") != "Deny":
        return False
    condition = statement.get("Condition") or {}
    value = (condition.get("Bool") or {}).get("aws:SecureTransport")
    return str(value).lower() == "false" or value is False


@RULES.resource_rule(
    "aws-ec2-launchtemplate-ebs-encrypted",
    "mandatory",
    "Node volumes (root and data) are encrypted with a customer KMS key; model weights and pod data sit there.",
    [LAUNCH_TEMPLATE],
    FAMILY,
)
def launch_template_ebs(resource: Resource, _: StackContext) -> Iterator[str]:
    mappings = as_list(inputs_of(resource).get("blockDeviceMappings"))
    if not mappings:
        yield "launch template declares no block device mappings, so the root volume is not known to be encrypted"
    for mapping in mappings:
        ebs = first(first(mapping).get("ebs"))
        device = first(mapping).get("deviceName", "?")
        if not is_true(ebs.get("encrypted")):
            yield f"EBS volume {device} is not encrypted"
        elif not customer_key(ebs.get("kmsKeyId")):
            yield f"EBS volume {device} is encrypted with the AWS-managed key, not a customer key (kmsKeyId unset)"


@RULES.resource_rule(
    "aws-ebs-volume-encrypted",
    "mandatory",
    "Standalone EBS volumes are encrypted with a customer KMS key.",
    ["aws:ebs/volume:Volume"],
    FAMILY,
)
def ebs_volume(resource: Resource, _: StackContext) -> Iterator[str]:
    inputs = inputs_of(resource)
    if not is_true(inputs.get("encrypted")) or not customer_key(inputs.get("kmsKeyId")):
        yield "EBS volume is not encrypted with a customer KMS key (encrypted and kmsKeyId)"


@RULES.resource_rule(
    "aws-rds-storage-encrypted",
    "mandatory",
    "Database storage, snapshots and backups are encrypted with a customer KMS key.",
    [RDS_INSTANCE, RDS_CLUSTER],
    FAMILY,
)
def rds_encrypted(resource: Resource, _: StackContext) -> Iterator[str]:
    inputs = inputs_of(resource)
    if inputs.get("replicateSourceDb"):
        return  # a replica inherits its source's encryption
    if inputs.get("storageEncrypted") is not True:
        yield "storage is not encrypted (storageEncrypted is not true)"
    elif not customer_key(inputs.get("kmsKeyId")):
        yield "storage is encrypted with the AWS-managed key, not a customer key (kmsKeyId unset)"


@RULES.resource_rule(
    "aws-elasticache-replicationgroup-encrypted",
    "mandatory",
    "The online feature store is encrypted at rest with a customer KMS key.",
    [REPLICATION_GROUP, "aws:elasticache/serverlessCache:ServerlessCache"],
    FAMILY,
)
def elasticache_at_rest(resource: Resource, _: StackContext) -> Iterator[str]:
    inputs = inputs_of(resource)
    if resource["type"] == REPLICATION_GROUP and not is_true(inputs.get("atRestEncryptionEnabled")):
        yield "encryption at rest is off (atRestEncryptionEnabled is not true)"
    elif not customer_key(inputs.get("kmsKeyId")):
        yield "encrypted with the AWS-managed key, not a customer key (kmsKeyId unset)"


@RULES.resource_rule(
    "aws-elasticache-replicationgroup-tls",
    "mandatory",
    "Clients reach the online feature store only over TLS; 'preferred' mode still accepts plain text.",
    [REPLICATION_GROUP],
    FAMILY,
)
def elasticache_in_transit(resource: Resource, _: StackContext) -> Iterator[str]:
    inputs = inputs_of(resource)
    if not is_true(inputs.get("transitEncryptionEnabled")):
        yield "in-transit encryption is off (transitEncryptionEnabled is not true)"
    elif inputs.get("transitEncryptionMode") == "preferred":
        yield "transitEncryptionMode is 'preferred': plain-text connections are still accepted"


@RULES.resource_rule(
    "aws-eks-cluster-secrets-encryption",
    "mandatory",
    "Kubernetes secrets are envelope-encrypted with a customer KMS key.",
    ["aws:eks/cluster:Cluster"],
    FAMILY,
)
def eks_secrets(resource: Resource, _: StackContext) -> Iterator[str]:
    config = first(inputs_of(resource).get("encryptionConfig"))
    if "secrets" not in as_list(config.get("resources")) or not customer_key(
        first(config.get("provider")).get("keyArn")
    ):
        yield "secrets are not encrypted with a customer KMS key (encryptionConfig.resources/provider.keyArn)"


@RULES.resource_rule(
    "aws-ecr-repository-kms",
    "mandatory",
    "Container images are encrypted with a customer KMS key.",
    ["aws:ecr/repository:Repository"],
    FAMILY,
)
def ecr_kms(resource: Resource, _: StackContext) -> Iterator[str]:
    configs = [first(c) for c in as_list(inputs_of(resource).get("encryptionConfigurations"))]
    if not any(c.get("encryptionType") == "KMS" and customer_key(c.get("kmsKey")) for c in configs):
        yield "repository is not encrypted with a customer KMS key (encryptionConfigurations: KMS + kmsKey)"


@RULES.resource_rule(
    "aws-sqs-queue-kms",
    "mandatory",
    "Queues (spot interruption events, jobs) are encrypted with a customer KMS key, not SQS-managed SSE.",
    ["aws:sqs/queue:Queue", "aws:sns/topic:Topic"],
    FAMILY,
)
def queue_kms(resource: Resource, _: StackContext) -> Iterator[str]:
    if not customer_key(inputs_of(resource).get("kmsMasterKeyId")):
        yield "not encrypted with a customer KMS key (kmsMasterKeyId unset)"


@RULES.resource_rule(
    "aws-dynamodb-table-kms",
    "mandatory",
    "Tables are encrypted with a customer KMS key.",
    ["aws:dynamodb/table:Table"],
    FAMILY,
)
def dynamodb_kms(resource: Resource, _: StackContext) -> Iterator[str]:
    sse = first(inputs_of(resource).get("serverSideEncryption"))
    if sse.get("enabled") is not True or not customer_key(sse.get("kmsKeyArn")):
        yield "table is not encrypted with a customer KMS key (serverSideEncryption.enabled/kmsKeyArn)"


SSL_PARAMETERS = {
    "postgres": ("rds.force_ssl", "1"),
    "mysql": ("require_secure_transport", "1"),
    "mariadb": ("require_secure_transport", "1"),
}


@RULES.graph_rule(
    "aws-rds-parameter-ssl",
    "mandatory",
    "Databases refuse unencrypted connections via their parameter group (rds.force_ssl, require_secure_transport).",
    FAMILY,
)
def rds_ssl(graph: Graph, _: StackContext) -> Iterator[tuple[Resource, str]]:
    index = GraphIndex.of(graph)
    for database in index.of_type(RDS_INSTANCE, RDS_CLUSTER):
        inputs = inputs_of(database)
        engine = str(inputs.get("engine", ""))
        family = next((f for f in SSL_PARAMETERS if f in engine), None)
        if family is None or inputs.get("replicateSourceDb"):
            continue
        name, wanted = SSL_PARAMETERS[family]
        if database["type"] == RDS_CLUSTER:
            group = index.resolve(
                inputs.get("dbClusterParameterGroupName"), ("aws:rds/clusterParameterGroup:ClusterParameterGroup",)
            )
        else:
            group = index.resolve(inputs.get("parameterGroupName"), ("aws:rds/parameterGroup:ParameterGroup",))
        if group is None:
            yield database, f"no parameter group of this stack sets {name} = {wanted} (default groups allow plain text)"
            continue
        values = {str(p.get("name")): str(p.get("value")).upper() for p in as_list(inputs_of(group).get("parameters"))}
        if values.get(name) not in (wanted, "ON"):
            yield database, f"parameter group {group['name']} does not set {name} = {wanted}"
