"""Known-bad resources, as the SDK would send them, each with the rule of ours and the checkov check it breaks."""

from typing import Any

KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/euw1-flow-logs-key"


def resource(type_: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"type": type_, "name": name, "id": f"{name}-id", "custom": True, "region": "eu-west-1",
            "provider": "aws-eu-west-1", "parent": None, "inputs": inputs}  # fmt: skip


# (our rule, checkov check, resource) - one per family where checkov has an equivalent
BAD = [
    ("aws-s3-bucket-sse-kms", "CKV_AWS_145", resource("aws:s3/bucket:Bucket", "bad-bucket", {"bucket": "bad-bucket"})),
    ("aws-rds-instance-not-public", "CKV_AWS_17", resource("aws:rds/instance:Instance", "bad-db", {
        "engine": "postgres", "instanceClass": "db.t4g.medium", "publiclyAccessible": True, "storageEncrypted": False,
        "backupRetentionPeriod": 1, "deletionProtection": False})),
    ("aws-ec2-launchtemplate-imdsv2", "CKV_AWS_79", resource("aws:ec2/launchTemplate:LaunchTemplate", "bad-lt", {
        "metadataOptions": {"httpTokens": "optional"}, "imageId": "ami-1"})),
    ("aws-ecr-repository-immutable-tags", "CKV_AWS_51", resource("aws:ecr/repository:Repository", "bad-repo", {
        "name": "bad-repo", "imageTagMutability": "MUTABLE", "imageScanningConfiguration": {"scanOnPush": False}})),
    ("aws-eks-cluster-endpoint-private", "CKV_AWS_39", resource("aws:eks/cluster:Cluster", "bad-eks", {
        "name": "bad-eks", "roleArn": "arn:aws:iam::123456789012:role/x",
        "vpcConfig": {"subnetIds": ["euw1-private-a-id"], "endpointPublicAccess": True}})),
    ("aws-kms-key-rotation", "CKV_AWS_7", resource("aws:kms/key:Key", "bad-key", {"enableKeyRotation": False})),
    ("aws-elasticache-replicationgroup-tls", "CKV_AWS_30", resource(
        "aws:elasticache/replicationGroup:ReplicationGroup", "bad-redis", {
            "description": "x", "engine": "redis", "atRestEncryptionEnabled": True, "kmsKeyId": KEY_ARN,
            "transitEncryptionEnabled": False})),
    ("aws-ec2-securitygroup-no-public-ingress", "CKV_AWS_24", resource(
        "aws:ec2/securityGroup:SecurityGroup", "bad-sg", {"vpcId": "euw1-vpc-id", "description": "x", "ingress": [
            {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}]})),
    ("aws-iam-no-wildcard-admin", "CKV_AWS_62", resource("aws:iam/rolePolicy:RolePolicy", "bad-policy", {
        "role": "euw1-flow-logs-role-id",
        "policy": '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}'})),
    ("aws-sqs-queue-kms", "CKV_AWS_27", resource("aws:sqs/queue:Queue", "bad-queue", {"name": "bad-queue"})),
    ("aws-kms-key-rotation", "CKV_MLPLAT_1", resource("aws:kms/key:Key", "bad-multi-key", {
        "enableKeyRotation": True, "multiRegion": True})),
]  # fmt: skip
