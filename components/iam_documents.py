"""IAM policy documents for the EKS cluster, its nodes and its controllers. Pure functions returning JSON text.

Every permission statement names its resources; a statement on `"*"` lists only actions that AWS does not let
you scope (Describe*/Get*), or carries a condition that scopes it (e.g. a resource tag).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

Statement = dict[str, Any]


def document(statements: Sequence[Statement]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, sort_keys=True)


def merge_documents(*documents: str) -> str:
    """One policy document holding the statements of several (their Sids must differ: IAM rejects duplicates)."""
    statements = [statement for text in documents for statement in json.loads(text)["Statement"]]
    sids = [s["Sid"] for s in statements if "Sid" in s]
    duplicates = sorted({sid for sid in sids if sids.count(sid) > 1})
    if duplicates:
        raise ValueError(f"policy statements share Sids {duplicates}; give each statement its own")
    return document(statements)


def service_trust(service: str, account_id: str | None = None) -> str:
    """Lets one AWS service assume the role; with `account_id`, only when acting for this account (confused-deputy
    guard, for services that send aws:SourceAccount such as S3 replication). EC2 and EKS do not document passing it
    when they assume node and cluster roles, and a condition they never meet breaks the role: leave it out there."""
    actions = ["sts:AssumeRole", "sts:TagSession"] if service == "eks.amazonaws.com" else "sts:AssumeRole"
    statement: Statement = {"Effect": "Allow", "Principal": {"Service": service}, "Action": actions}
    if account_id is not None:
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": account_id}}
    return document([statement])


def issuer_host(issuer_url: str) -> str:
    """`https://oidc.eks.eu-west-1.amazonaws.com/id/ABC` -> `oidc.eks.eu-west-1.amazonaws.com/id/ABC`."""
    return issuer_url.removeprefix("https://")


def irsa_trust(oidc_provider_arn: str, issuer_url: str, namespace: str, service_account: str) -> str:
    """IAM Roles for Service Accounts: exactly one Kubernetes service account may assume the role, for STS."""
    host = issuer_host(issuer_url)
    return document(
        [
            {
                "Effect": "Allow",
                "Principal": {"Federated": oidc_provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{host}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                        f"{host}:aud": "sts.amazonaws.com",
                    }
                },
            }
        ]
    )


def kms_use(key_arns: Sequence[str], actions: Sequence[str]) -> Statement:
    return {"Sid": "UseKey", "Effect": "Allow", "Action": list(actions), "Resource": list(key_arns)}


def cluster_encryption(key_arn: str) -> str:
    """What the EKS service role needs to envelope-encrypt Kubernetes secrets with the cluster's key."""
    return document(
        [kms_use([key_arn], ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey", "kms:CreateGrant"])]
    )


def node_termination_handler(queue_arn: str, queue_key_arn: str, asg_arns: Sequence[str]) -> str:
    """aws-node-termination-handler in queue mode: read and delete its queue's messages, complete the lifecycle
    actions of the pools it drains, and look up which instance and group a message is about."""
    return document(
        [
            {
                "Sid": "ConsumeQueue",
                "Effect": "Allow",
                "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage"],
                "Resource": [queue_arn],
            },
            kms_use([queue_key_arn], ["kms:Decrypt"]),
            {
                "Sid": "CompleteLifecycleActions",
                "Effect": "Allow",
                "Action": ["autoscaling:CompleteLifecycleAction"],
                "Resource": list(asg_arns),
            },
            {
                "Sid": "DescribeOnly",
                "Effect": "Allow",
                "Action": [
                    "autoscaling:DescribeAutoScalingInstances",
                    "autoscaling:DescribeTags",
                    "ec2:DescribeInstances",
                ],
                "Resource": "*",
            },
        ]
    )


def cluster_autoscaler(cluster_name: str) -> str:
    """cluster-autoscaler with auto-discovery: it may resize and terminate only in groups tagged as owned by
    this cluster (the GPU pools carry the tag, EKS puts it on managed node groups)."""
    owned: Mapping[str, Any] = {"StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned"}}
    return document(
        [
            {
                "Sid": "ScaleOwnedGroups",
                "Effect": "Allow",
                "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
                "Resource": "*",
                "Condition": owned,
            },
            {
                "Sid": "DescribeOnly",
                "Effect": "Allow",
                "Action": [
                    "autoscaling:DescribeAutoScalingGroups",
                    "autoscaling:DescribeAutoScalingInstances",
                    "autoscaling:DescribeLaunchConfigurations",
                    "autoscaling:DescribeScalingActivities",
                    "autoscaling:DescribeTags",
                    "ec2:DescribeImages",
                    "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplateVersions",
                    "ec2:GetInstanceTypesFromInstanceRequirements",
                    "eks:DescribeNodegroup",
                ],
                "Resource": "*",
            },
        ]
    )


def ebs_csi_key_use(key_arn: str) -> str:
    """The EBS CSI driver's managed policy covers AWS-managed keys only; volumes on the platform key need this."""
    return document(
        [
            kms_use(
                [key_arn], ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
            ),
            {
                "Sid": "GrantsForVolumes",
                "Effect": "Allow",
                "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
                "Resource": [key_arn],
                "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
            },
        ]
    )
