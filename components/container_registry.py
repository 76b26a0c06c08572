"""ECR for the platform's images (global stack, primary region): immutable, scanned, encrypted, replicated to
every regional stack's region, pullable only by the platform's node and workload roles."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.toolkit import ROLE_TAG, RegionEnv

REPOSITORY_PREFIX = "mlplat"
PULLER_TAG = ROLE_TAG
PULLER_ROLES = ("node", "workload")
PULL_ACTIONS = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]


@dataclass(frozen=True, kw_only=True)
class ContainerRegistryArgs:
    env: RegionEnv  # the primary region
    repositories: Sequence[str]
    replica_regions: Sequence[str]
    kms_key_arn: pulumi.Input[str]
    keep_tagged_images: int = 30
    expire_untagged_after_days: int = 7


def lifecycle_policy(keep_tagged: int, untagged_days: int) -> str:
    """Untagged layers expire after `untagged_days`; of tagged releases only the newest `keep_tagged` stay."""
    return json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": f"expire untagged images after {untagged_days} days",
                    "selection": {
                        "tagStatus": "untagged",
                        "countType": "sinceImagePushed",
                        "countUnit": "days",
                        "countNumber": untagged_days,
                    },
                    "action": {"type": "expire"},
                },
                {
                    "rulePriority": 2,
                    "description": f"keep the newest {keep_tagged} tagged releases",
                    "selection": {"tagStatus": "tagged", "tagPatternList": ["*"], "countType": "imageCountMoreThan",
                                  "countNumber": keep_tagged},
                    "action": {"type": "expire"},
                },
            ]
        },
        sort_keys=True,
    )  # fmt: skip


def pull_policy(account_id: str) -> str:
    """Only roles of this account tagged `mlplat-role: node|workload` may pull; everyone else is denied."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "PlatformRolesPull",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                    "Action": PULL_ACTIONS,
                    "Condition": {"StringEquals": {f"aws:PrincipalTag/{PULLER_TAG}": list(PULLER_ROLES)}},
                },
                {
                    "Sid": "NobodyElsePulls",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                    "Condition": {"StringNotEquals": {f"aws:PrincipalTag/{PULLER_TAG}": list(PULLER_ROLES)}},
                },
            ],
        },
        sort_keys=True,
    )


class ContainerRegistry(pulumi.ComponentResource):
    def __init__(self, name: str, args: ContainerRegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplat:index:ContainerRegistry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = args.env.tagged(**{"mlplat/data-class": "images"})
        self.repository_urls: dict[str, pulumi.Output[str]] = {}
        for repository in args.repositories:
            repo = aws.ecr.Repository(
                f"{name}-{repository}",
                name=f"{REPOSITORY_PREFIX}/{repository}",
                image_tag_mutability="IMMUTABLE",
                image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
                encryption_configurations=[
                    aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS", kms_key=args.kms_key_arn)
                ],
                force_delete=False,
                tags={**tags, "Name": f"{REPOSITORY_PREFIX}/{repository}"},
                opts=child,
            )
            aws.ecr.LifecyclePolicy(
                f"{name}-{repository}-lifecycle",
                repository=repo.name,
                policy=lifecycle_policy(args.keep_tagged_images, args.expire_untagged_after_days),
                opts=child,
            )
            aws.ecr.RepositoryPolicy(
                f"{name}-{repository}-policy",
                repository=repo.name,
                policy=pulumi.Output.from_input(args.env.account_id).apply(pull_policy),
                opts=child,
            )
            self.repository_urls[repository] = repo.repository_url
        # Enhanced scanning (Amazon Inspector) re-scans continuously as new CVEs are published.
        aws.ecr.RegistryScanningConfiguration(
            f"{name}-scanning",
            scan_type="ENHANCED",
            rules=[
                aws.ecr.RegistryScanningConfigurationRuleArgs(
                    scan_frequency="CONTINUOUS_SCAN",
                    repository_filters=[
                        aws.ecr.RegistryScanningConfigurationRuleRepositoryFilterArgs(
                            filter=f"{REPOSITORY_PREFIX}/*", filter_type="WILDCARD"
                        )
                    ],
                )
            ],
            opts=child,
        )
        if args.replica_regions:
            aws.ecr.ReplicationConfiguration(
                f"{name}-replication",
                replication_configuration=aws.ecr.ReplicationConfigurationReplicationConfigurationArgs(
                    rules=[
                        aws.ecr.ReplicationConfigurationReplicationConfigurationRuleArgs(
                            destinations=[
                                aws.ecr.ReplicationConfigurationReplicationConfigurationRuleDestinationArgs(
                                    region=region, registry_id=args.env.account_id
                                )
                                for region in args.replica_regions
                            ],
                            repository_filters=[
                                aws.ecr.ReplicationConfigurationReplicationConfigurationRuleRepositoryFilterArgs(
                                    filter=f"{REPOSITORY_PREFIX}/", filter_type="PREFIX_MATCH"
                                )
                            ],
                        )
                    ]
                ),
                opts=child,
            )
        self.register_outputs({"repository_urls": self.repository_urls})
