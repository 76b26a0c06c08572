"""Every rule family on the smallest graph that breaks it, and on the same graph fixed (our rules, no checkov)."""

import copy
import json
from typing import Any

import pytest

from policies.engine import evaluate
from policies.rules import RULES
from policies.settings import GpuBounds, PolicySettings
from runtime.residency import ResidencyMap
from tests.policies.test_rules import FLOW, S3_ENDPOINT, VPC, fired, graph

# -- the families added with the policy issue ----------------------------------------------------------------

KEY = "arn:aws:kms:eu-west-1:123456789012:key/k"


def res(type_: str, resource_name: str, **inputs: Any) -> dict[str, Any]:
    return {"type": type_, "name": resource_name, "id": f"{resource_name}-id", "custom": True, "inputs": inputs}


BUCKET = res("aws:s3/bucket:Bucket", "b", bucket="b")
SSE = res(
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "b-sse",
    bucket="b-id",
    rules=[{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY}}],
)
PAB = res(
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "b-pab",
    bucket="b-id",
    blockPublicAcls=True,
    blockPublicPolicy=True,
    ignorePublicAcls=True,
    restrictPublicBuckets=True,
)
TLS = res(
    "aws:s3/bucketPolicy:BucketPolicy",
    "b-policy",
    bucket="b-id",
    policy=json.dumps(
        {
            "Statement": [
                {
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": "*",
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ]
        }
    ),
)
LT = res(
    "aws:ec2/launchTemplate:LaunchTemplate",
    "lt",
    metadataOptions={"httpTokens": "required", "httpPutResponseHopLimit": 1},
    blockDeviceMappings=[{"deviceName": "/dev/xvda", "ebs": {"encrypted": "true", "kmsKeyId": KEY}}],
)
DB = res(
    "aws:rds/instance:Instance",
    "db",
    engine="postgres",
    storageEncrypted=True,
    kmsKeyId=KEY,
    backupRetentionPeriod=7,
    deletionProtection=True,
    parameterGroupName="db-params-id",
)
DB_PARAMS = res(
    "aws:rds/parameterGroup:ParameterGroup", "db-params", parameters=[{"name": "rds.force_ssl", "value": "1"}]
)
REDIS = res(
    "aws:elasticache/replicationGroup:ReplicationGroup",
    "redis",
    atRestEncryptionEnabled=True,
    kmsKeyId=KEY,
    transitEncryptionEnabled=True,
)
EKS = res(
    "aws:eks/cluster:Cluster",
    "eks",
    name="eks",
    enabledClusterLogTypes=["api", "audit", "authenticator"],
    encryptionConfig={"resources": ["secrets"], "provider": {"keyArn": KEY}},
    vpcConfig={"endpointPublicAccess": False, "endpointPrivateAccess": True},
)
EKS_LOGS = res(
    "aws:cloudwatch/logGroup:LogGroup", "eks-logs", name="/aws/eks/eks/cluster", retentionInDays=90, kmsKeyId=KEY
)
REPO = res(
    "aws:ecr/repository:Repository",
    "repo",
    name="serving",
    imageTagMutability="IMMUTABLE",
    imageScanningConfiguration={"scanOnPush": True},
    encryptionConfigurations=[{"encryptionType": "KMS", "kmsKey": KEY}],
)
QUEUE = res("aws:sqs/queue:Queue", "q", kmsMasterKeyId=KEY)
ADMIN = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
IRSA_TRUST = {
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Principal": {"Federated": "arn:aws:iam::1:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/X"},
            "Condition": {
                "StringEquals": {
                    "oidc.eks.eu-west-1.amazonaws.com/id/X:sub": "system:serviceaccount:serving:serving",
                    "oidc.eks.eu-west-1.amazonaws.com/id/X:aud": "sts.amazonaws.com",
                }
            },
        }
    ]
}
ROLE = res("aws:iam/role:Role", "irsa", assumeRolePolicy=json.dumps(IRSA_TRUST))
POOL = res(
    "aws:autoscaling/group:Group",
    "gpu-inference",
    capacityRebalance=True,
    mixedInstancesPolicy={
        "instancesDistribution": {"onDemandBaseCapacity": 1, "onDemandPercentageAboveBaseCapacity": 30},
        "launchTemplate": {
            "overrides": [{"instanceType": "g5.xlarge"}, {"instanceType": "g6.xlarge"}, {"instanceType": "g6e.xlarge"}]
        },
    },
)
NODE_GROUP = res("aws:eks/nodeGroup:NodeGroup", "ng", launchTemplate={"id": "lt-id", "version": "1"})
FEATURES = res("aws:s3/bucket:Bucket", "features", bucket="features", tags={"mlplat/data-class": "features"})

FAMILY_CASES = [
    ("aws-s3-bucket-sse-kms", [BUCKET, PAB, TLS], SSE, None),
    ("aws-s3-bucket-public-access-block", [BUCKET, SSE, TLS], PAB, None),
    ("aws-s3-bucket-tls-only", [BUCKET, SSE, PAB], TLS, None),
    ("aws-ec2-launchtemplate-imdsv2", [], LT, {"metadataOptions": {"httpTokens": "optional"}}),
    ("aws-ec2-launchtemplate-imdsv2", [], LT, {"metadataOptions": {"httpTokens": "required",
                                                                   "httpPutResponseHopLimit": 3}}),
    ("aws-ec2-launchtemplate-ebs-encrypted", [], LT, {"blockDeviceMappings": [{"ebs": {"encrypted": "false"}}]}),
    ("aws-ec2-launchtemplate-no-public-ip", [], LT, {"networkInterfaces": [{"associatePublicIpAddress": "true"}]}),
    ("aws-eks-nodegroup-imdsv2", [NODE_GROUP], LT, None),
    ("aws-rds-storage-encrypted", [DB_PARAMS], DB, {"storageEncrypted": False}),
    ("aws-rds-backup-retention", [DB_PARAMS], DB, {"backupRetentionPeriod": 1}),
    ("aws-rds-deletion-protection", [DB_PARAMS], DB, {"deletionProtection": False}),
    ("aws-rds-instance-not-public", [DB_PARAMS], DB, {"publiclyAccessible": True}),
    ("aws-rds-parameter-ssl", [DB], DB_PARAMS, {"parameters": [{"name": "rds.force_ssl", "value": "0"}]}),
    ("aws-elasticache-replicationgroup-encrypted", [], REDIS, {"atRestEncryptionEnabled": False}),
    ("aws-elasticache-replicationgroup-tls", [], REDIS, {"transitEncryptionMode": "preferred"}),
    ("aws-eks-cluster-secrets-encryption", [EKS_LOGS], EKS, {"encryptionConfig": None}),
    ("aws-eks-cluster-endpoint-private", [EKS_LOGS], EKS, {"vpcConfig": {"endpointPublicAccess": True,
                                                                         "publicAccessCidrs": ["0.0.0.0/0"]}}),
    ("aws-eks-cluster-control-plane-logging", [EKS_LOGS], EKS, {"enabledClusterLogTypes": ["api"]}),
    ("aws-eks-cluster-control-plane-logging", [EKS], EKS_LOGS, None),
    ("aws-ecr-repository-immutable-tags", [], REPO, {"imageTagMutability": "MUTABLE"}),
    ("aws-ecr-repository-scan-on-push", [], REPO, {"imageScanningConfiguration": {"scanOnPush": False}}),
    ("aws-ecr-repository-kms", [], REPO, {"encryptionConfigurations": [{"encryptionType": "AES256"}]}),
    ("aws-sqs-queue-kms", [], QUEUE, {"kmsMasterKeyId": "alias/aws/sqs"}),
    ("aws-iam-no-wildcard-admin", [], res("aws:iam/policy:Policy", "p", policy=json.dumps(
        {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})),
     {"policy": json.dumps(ADMIN)}),
    ("aws-iam-no-wildcard-admin", [], ROLE, {"managedPolicyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"]}),
    ("aws-iam-role-irsa-pinned", [], ROLE, {"assumeRolePolicy": json.dumps({"Statement": [{
        **IRSA_TRUST["Statement"][0], "Condition": {"StringLike": {"x:sub": "system:serviceaccount:serving:*"}}}]})}),
    ("mlplat-gpu-inference-on-demand-floor", [], POOL, {"mixedInstancesPolicy": {
        "instancesDistribution": {"onDemandBaseCapacity": 0, "onDemandPercentageAboveBaseCapacity": 30},
        "launchTemplate": {"overrides": [{"instanceType": "g5.xlarge"}, {"instanceType": "g6.xlarge"}]}}}),
    ("mlplat-gpu-inference-on-demand-floor", [], POOL, {"mixedInstancesPolicy": {
        "instancesDistribution": {"onDemandBaseCapacity": 1, "onDemandPercentageAboveBaseCapacity": 0},
        "launchTemplate": {"overrides": [{"instanceType": "g5.xlarge"}, {"instanceType": "g6.xlarge"}]}}}),
    ("mlplat-gpu-instance-diversity", [], POOL, {"mixedInstancesPolicy": {
        "instancesDistribution": {"onDemandBaseCapacity": 1, "onDemandPercentageAboveBaseCapacity": 30},
        "launchTemplate": {"overrides": [{"instanceType": "g5.xlarge"}]}}}),
    ("mlplat-gpu-capacity-rebalance", [], POOL, {"capacityRebalance": False}),
    ("mlplat-residency-store-jurisdiction", [], FEATURES, {"region": "us-east-1"}),
    ("mlplat-resource-required-tags", [], res("aws:sqs/queue:Queue", "q2", kmsMasterKeyId=KEY, tags={"owner": ""}),
     None),
]  # fmt: skip


@pytest.mark.parametrize(("rule", "others", "subject", "breakage"), FAMILY_CASES, ids=[c[0] for c in FAMILY_CASES])
def test_family_rule_fires_on_the_broken_resource_only(
    rule: str, others: list[dict[str, Any]], subject: dict[str, Any], breakage: dict[str, Any] | None
) -> None:
    """The compliant set passes the rule; breaking `subject` (or leaving it out, when breakage is None) fails it."""
    if breakage is None:
        good, bad = [*others, subject], others
        bad_names = {o["name"] for o in others} | {subject["name"]}
    else:
        broken = copy.deepcopy(subject)
        region = breakage.pop("region", None) if "region" in breakage else None
        broken["inputs"].update(breakage)
        if region:
            broken["region"] = region
        good, bad = [*others, subject], [*others, broken]
        bad_names = {subject["name"]}
    if rule == "mlplat-resource-required-tags":
        good = [dict(subject, inputs={**subject["inputs"], "tags": {}})]
        bad = [subject]
    assert not [r for r in fired(graph(VPC, FLOW, S3_ENDPOINT, *good)) if r[0] == rule]
    hits = {name for r, name in fired(graph(VPC, FLOW, S3_ENDPOINT, *bad)) if r == rule}
    assert hits and hits <= bad_names | {o["name"] for o in others}


def test_internet_facing_load_balancer_group_may_take_web_traffic_only() -> None:
    sg = res("aws:ec2/securityGroup:SecurityGroup", "alb-sg", ingress=[
        {"fromPort": 443, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]}])  # fmt: skip
    alb = res("aws:lb/loadBalancer:LoadBalancer", "alb", internal=False, securityGroups=["alb-sg-id"])
    rule = "aws-ec2-securitygroup-no-public-ingress"
    assert (rule, "alb-sg") in fired(graph(VPC, FLOW, S3_ENDPOINT, sg))
    assert (rule, "alb-sg") not in fired(graph(VPC, FLOW, S3_ENDPOINT, sg, alb))
    ssh = copy.deepcopy(sg)
    ssh["inputs"]["ingress"][0].update(fromPort=22, toPort=22)
    assert (rule, "alb-sg") in fired(graph(VPC, FLOW, S3_ENDPOINT, ssh, alb))


def test_cross_jurisdiction_replication_and_grants() -> None:
    settings = PolicySettings(ResidencyMap({"eu": ["eu-west-1", "eu-central-1"], "us": ["us-east-1"]}))
    us_bucket = dict(res("aws:s3/bucket:Bucket", "us-copy", bucket="us-copy"), region="us-east-1")
    eu_bucket = dict(res("aws:s3/bucket:Bucket", "eu-copy", bucket="eu-copy"), region="eu-central-1")

    def replication(target: str) -> dict[str, Any]:
        return res("aws:s3/bucketReplicationConfig:BucketReplicationConfig", "repl", bucket="features-id",
                   rules=[{"destination": {"bucket": f"arn:aws:s3:::{target}"}}])  # fmt: skip

    rule = "mlplat-residency-no-cross-jurisdiction-replication"
    crossing = graph(VPC, FLOW, S3_ENDPOINT, FEATURES, us_bucket, replication("us-copy"))
    assert (rule, "repl") in {(v.rule, v.resource_name) for v in evaluate(crossing, RULES, settings)}
    staying = graph(VPC, FLOW, S3_ENDPOINT, FEATURES, eu_bucket, replication("eu-copy"))
    assert rule not in {v.rule for v in evaluate(staying, RULES, settings)}
    table = res("aws:dynamodb/table:Table", "t", replicas=[{"regionName": "us-east-1"}])
    assert (rule, "t") in {(v.rule, v.resource_name) for v in evaluate(graph(table), RULES, settings)}
    open_policy = res("aws:s3/bucketPolicy:BucketPolicy", "open", bucket="features-id", policy=json.dumps(
        {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}]}))  # fmt: skip
    grants = {(v.rule, v.resource_name) for v in evaluate(graph(FEATURES, open_policy), RULES, settings)}
    assert ("mlplat-residency-no-cross-jurisdiction-grants", "open") in grants


def test_feature_data_never_in_the_global_stack() -> None:
    g = graph(FEATURES)
    g["kind"] = "global"
    assert ("mlplat-residency-store-jurisdiction", "features") in fired(g)
    models = res("aws:s3/bucket:Bucket", "models", bucket="models", tags={"mlplat/data-class": "models"})
    g = graph(dict(models, region="eu-west-1"))
    g["kind"] = "global"
    assert ("mlplat-residency-store-jurisdiction", "models") not in fired(g)


def test_gpu_bounds_come_from_settings() -> None:
    strict = PolicySettings(gpu=GpuBounds(on_demand_percentage_min=40))
    violations = {v.rule for v in evaluate(graph(POOL), RULES, strict)}
    assert "mlplat-gpu-inference-on-demand-floor" in violations
    assert "mlplat-gpu-inference-on-demand-floor" not in {v.rule for v in evaluate(graph(POOL), RULES)}


def test_a_waiver_tag_without_a_reason_is_a_violation() -> None:
    sn = res("aws:ec2/subnet:Subnet", "sn", tags={"mlplat:waive:aws-ec2-subnet-no-public-ip": " "})
    assert ("mlplat-waiver-reason", "sn") in fired(graph(VPC, FLOW, S3_ENDPOINT, sn))


def test_every_rule_has_a_family() -> None:
    families = {rule.family for rule in RULES}
    assert {"encryption", "exposure", "operations", "tags", "iam", "capacity", "residency"} <= families


def test_every_rule_is_in_the_docs_table() -> None:
    from pathlib import Path

    table = (Path(__file__).resolve().parents[2] / "docs" / "policy.md").read_text()
    for rule in RULES:
        assert f"| `{rule.id}` | {rule.family} | {rule.level} |" in table, rule.id


def test_an_access_log_target_may_use_sse_s3_but_not_nothing() -> None:
    logs = res("aws:s3/bucket:Bucket", "logs", bucket="logs")
    sse_s3 = res(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "logs-sse",
        bucket="logs-id",
        rules=[{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}],
    )
    logging = res("aws:s3/bucketLogging:BucketLogging", "b-logging", bucket="b-id", targetBucket="logs")
    rule = "aws-s3-bucket-sse-kms"
    assert (rule, "logs") not in fired(graph(BUCKET, SSE, PAB, TLS, logs, sse_s3, logging))
    assert (rule, "logs") in fired(graph(BUCKET, SSE, PAB, TLS, logs, sse_s3))
    assert (rule, "logs") in fired(graph(BUCKET, SSE, PAB, TLS, logs, logging))


def test_a_serving_pool_is_an_inference_pool() -> None:
    labelled = copy.deepcopy(POOL)
    labelled["name"] = "gpu-a"
    labelled["inputs"]["tags"] = [{"key": "mlplat/pool", "value": "serving", "propagateAtLaunch": True}]
    labelled["inputs"]["mixedInstancesPolicy"]["instancesDistribution"]["onDemandBaseCapacity"] = 0
    assert ("mlplat-gpu-inference-on-demand-floor", "gpu-a") in fired(graph(labelled))
    training = copy.deepcopy(labelled)
    training["inputs"]["tags"] = [{"key": "mlplat/pool", "value": "training", "propagateAtLaunch": True}]
    assert ("mlplat-gpu-inference-on-demand-floor", "gpu-a") not in fired(graph(training))
