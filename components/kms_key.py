"""A customer-managed KMS key with rotation, an alias and a key policy naming exactly the services that use it."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import pulumi
import pulumi_aws as aws

if TYPE_CHECKING:
    from components.toolkit.env import RegionEnv


@dataclass(frozen=True, kw_only=True)
class ServiceGrant:
    """Lets an AWS service principal use the key, limited by an optional condition block."""

    principal: str  # e.g. logs.eu-west-1.amazonaws.com
    # "AWS" for IAM principals, e.g. "*" scoped by kms:ViaService and kms:CallerAccount (how aws/ebs is written)
    principal_type: Literal["Service", "AWS"] = "Service"
    actions: Sequence[str] = ("kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*")
    condition: pulumi.Input[Mapping[str, object]] | None = None  # may hold Outputs (e.g. a log group ARN)


@dataclass(frozen=True, kw_only=True)
class KmsKeyArgs:
    description: str
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str] = "aws"
    service_grants: Sequence[ServiceGrant] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    deletion_window_in_days: int = 30
    rotation_period_in_days: int = 365

    @classmethod
    def for_env(
        cls,
        env: RegionEnv,
        *,
        description: str,
        service_grants: Sequence[ServiceGrant] = (),
        tags: Mapping[str, str] | None = None,
    ) -> KmsKeyArgs:
        """A key in the component's environment; `tags` are added to the environment's."""
        return cls(
            description=description,
            account_id=env.account_id,
            partition=env.partition,
            service_grants=service_grants,
            tags=env.tagged(**(tags or {})),
        )


def key_policy(account_id: str, partition: str, grants: Sequence[ServiceGrant]) -> str:
    """The key policy: the account administers the key through IAM; each service gets only its grant."""
    statements: list[dict[str, object]] = [
        {
            "Sid": "AccountAdministersThroughIam",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    for index, grant in enumerate(grants):
        statement: dict[str, object] = {
            "Sid": f"Service{index}",
            "Effect": "Allow",
            "Principal": {grant.principal_type: grant.principal},
            "Action": list(grant.actions),
            "Resource": "*",
        }
        if grant.condition:
            statement["Condition"] = grant.condition
        statements.append(statement)
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)


class KmsKey(pulumi.ComponentResource):
    """A symmetric key, rotated yearly, never multi-region (multi-region keys would carry data across borders)."""

    def __init__(self, name: str, args: KmsKeyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplat:index:KmsKey", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        conditions = pulumi.Output.all(*[pulumi.Output.from_input(g.condition or {}) for g in args.service_grants])
        policy = pulumi.Output.all(args.account_id, args.partition, conditions).apply(
            lambda values: key_policy(
                values[0],
                values[1],
                [
                    ServiceGrant(principal=g.principal, principal_type=g.principal_type, actions=g.actions, condition=c)
                    for g, c in zip(args.service_grants, values[2], strict=True)
                ],
            )
        )
        self.key = aws.kms.Key(
            name,
            description=args.description,
            enable_key_rotation=True,
            rotation_period_in_days=args.rotation_period_in_days,
            deletion_window_in_days=args.deletion_window_in_days,
            multi_region=False,
            policy=policy,
            tags={**args.tags, "Name": name},
            opts=child,
        )
        aws.kms.Alias(f"{name}-alias", name=f"alias/mlplat/{name}", target_key_id=self.key.key_id, opts=child)
        self.arn = self.key.arn
        self.register_outputs({"arn": self.arn})
