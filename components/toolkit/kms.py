"""The one way a customer-managed key lets CloudWatch Logs encrypt log groups with it."""

from __future__ import annotations

from components.kms_key import ServiceGrant
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
