"""The one way a customer-managed key lets CloudWatch Logs encrypt log groups with it, and a log group under a key
of its own."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.kms_key import KmsKey, KmsKeyArgs, ServiceGrant
from components.toolkit.env import RegionEnv


def logs_grant(env: RegionEnv, log_group: str) -> ServiceGrant:
    """Lets CloudWatch Logs of this region use the key, only for the log group `log_group` (a name, or a pattern
    ending in `*` for every group under a prefix). The condition is the encryption context CloudWatch Logs sends
    (AWS docs, "Encrypt log data in CloudWatch Logs using AWS KMS")."""
    operator = "ArnLike" if log_group.endswith("*") else "ArnEquals"
    return ServiceGrant(
        principal=f"logs.{env.region}.amazonaws.com",
        condition=env.log_group_arn(log_group).apply(
            lambda arn: {operator: {"kms:EncryptionContext:aws:logs:arn": arn}}
        ),
    )


def encrypted_log_group(
    resource_name: str,
    *,
    log_group: str,
    env: RegionEnv,
    retention_days: int,
    description: str,
    opts: pulumi.ResourceOptions,
) -> aws.cloudwatch.LogGroup:
    """Log group `log_group` (resource `resource_name`) encrypted with a key of its own (`<resource_name>-key`)
    that only CloudWatch Logs may use, and only for this group."""
    key = KmsKey(
        f"{resource_name}-key",
        KmsKeyArgs.for_env(env, description=description, service_grants=[logs_grant(env, log_group)]),
        opts=opts,
    )
    return aws.cloudwatch.LogGroup(
        resource_name,
        name=log_group,
        retention_in_days=retention_days,
        kms_key_id=key.arn,
        tags=env.tagged(Name=resource_name),
        opts=opts,
    )
