"""Model artifacts (global stack): the primary MLflow artifact bucket and a read replica in every regional stack's
region, so serving loads models from its own region. Models are global by design; features never come here."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.iam_documents import document, service_trust
from components.kms_key import KmsKey, KmsKeyArgs
from components.naming import model_bucket_name, region_code
from components.secure_bucket import Lifecycle, SecureBucket, SecureBucketArgs
from components.toolkit import RegionEnv

MODELS_LIFECYCLE = Lifecycle(
    infrequent_access_after=90, glacier_after=None, expire_after=None, noncurrent_expire_after=90
)

REPLICATION_MINUTES = 15  # the only value S3 Replication Time Control accepts


@dataclass(frozen=True, kw_only=True)
class ModelArtifactsArgs:
    env: RegionEnv  # the primary region
    primary_key_arn: pulumi.Input[str]
    replica_providers: Mapping[str, aws.Provider]  # region -> that region's provider


class ModelArtifacts(pulumi.ComponentResource):
    def __init__(self, name: str, args: ModelArtifactsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplat:index:ModelArtifacts", name, None, opts)
        env = args.env
        tags = env.tagged(**{"mlplat/data-class": "models"})
        self.primary = SecureBucket(
            f"{name}-models",
            SecureBucketArgs(
                bucket_name=model_bucket_name(env.region),
                kms_key_arn=args.primary_key_arn,
                lifecycle=MODELS_LIFECYCLE,
                tags=tags,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.replica_buckets: dict[str, pulumi.Output[str]] = {}
        replica_targets: list[tuple[str, SecureBucket, KmsKey]] = []
        for region, provider in sorted(args.replica_providers.items()):
            code = region_code(region)
            in_region = pulumi.ResourceOptions(parent=self, provider=provider)
            key = KmsKey(
                f"{name}-models-{code}-key",
                KmsKeyArgs.for_env(
                    env.in_region(region),
                    description=f"mlplat model artifacts replica in {region}",
                    tags={"mlplat/data-class": "models"},
                ),
                opts=in_region,
            )
            replica = SecureBucket(
                f"{name}-models-{code}",
                SecureBucketArgs(
                    bucket_name=model_bucket_name(region), kms_key_arn=key.arn, lifecycle=MODELS_LIFECYCLE, tags=tags
                ),
                opts=in_region,
            )
            replica_targets.append((region, replica, key))
            self.replica_buckets[region] = replica.name
        if replica_targets:
            self._replication(name, args, replica_targets)
        self.register_outputs({"primary_bucket": self.primary.name, "replica_buckets": self.replica_buckets})

    def _replication(
        self, name: str, args: ModelArtifactsArgs, targets: list[tuple[str, SecureBucket, KmsKey]]
    ) -> None:
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-models-replication",
            description="S3 replication of model artifacts to the regional read buckets",
            assume_role_policy=pulumi.Output.from_input(args.env.account_id).apply(
                functools.partial(service_trust, "s3.amazonaws.com")
            ),
            tags=dict(args.env.tags),
            opts=child,
        )
        policy = pulumi.Output.all(
            self.primary.arn,
            args.primary_key_arn,
            [t[1].arn for t in targets],
            [t[2].arn for t in targets],
        ).apply(lambda v: replication_policy(args.env.region, v[0], v[1], v[2], v[3]))
        aws.iam.RolePolicy(f"{name}-models-replication", role=role.id, policy=policy, opts=child)
        aws.s3.BucketReplicationConfig(
            f"{name}-models-replication",
            bucket=self.primary.bucket.id,
            role=role.arn,
            rules=[
                aws.s3.BucketReplicationConfigRuleArgs(
                    id=f"to-{region}",
                    priority=index,
                    status="Enabled",
                    filter=aws.s3.BucketReplicationConfigRuleFilterArgs(prefix=""),
                    delete_marker_replication=aws.s3.BucketReplicationConfigRuleDeleteMarkerReplicationArgs(
                        status="Enabled"
                    ),
                    source_selection_criteria=aws.s3.BucketReplicationConfigRuleSourceSelectionCriteriaArgs(
                        sse_kms_encrypted_objects=aws.s3.BucketReplicationConfigRuleSourceSelectionCriteriaSseKmsEncryptedObjectsArgs(
                            status="Enabled"
                        )
                    ),
                    destination=aws.s3.BucketReplicationConfigRuleDestinationArgs(
                        bucket=bucket.arn,
                        storage_class="STANDARD",
                        encryption_configuration=aws.s3.BucketReplicationConfigRuleDestinationEncryptionConfigurationArgs(
                            replica_kms_key_id=key.arn
                        ),
                        # S3 Replication Time Control: 99.99 % of objects within 15 minutes (the registry's RPO
                        # for artifacts); its metrics alarm on replication that falls behind (docs/dr.md).
                        replication_time=aws.s3.BucketReplicationConfigRuleDestinationReplicationTimeArgs(
                            status="Enabled",
                            time=aws.s3.BucketReplicationConfigRuleDestinationReplicationTimeTimeArgs(
                                minutes=REPLICATION_MINUTES
                            ),
                        ),
                        metrics=aws.s3.BucketReplicationConfigRuleDestinationMetricsArgs(
                            status="Enabled",
                            event_threshold=aws.s3.BucketReplicationConfigRuleDestinationMetricsEventThresholdArgs(
                                minutes=REPLICATION_MINUTES
                            ),
                        ),
                    ),
                )
                for index, (region, bucket, key) in enumerate(targets)
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.primary, *[t[1] for t in targets]]),
        )


def replication_policy(
    source_region: str, source_arn: str, source_key: str, target_arns: list[str], target_keys: list[str]
) -> str:
    """Exactly what S3 replication needs: read the source versions, write the replicas, use each bucket's key."""
    return document(
        [
            {
                "Sid": "ReadSourceConfiguration",
                "Effect": "Allow",
                "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
                "Resource": source_arn,
            },
            {
                "Sid": "ReadSourceVersions",
                "Effect": "Allow",
                "Action": ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"],
                "Resource": f"{source_arn}/*",
            },
            {
                "Sid": "WriteReplicas",
                "Effect": "Allow",
                "Action": ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"],
                "Resource": [f"{arn}/*" for arn in target_arns],
            },
            {
                "Sid": "DecryptSource",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": source_key,
                "Condition": {"StringLike": {"kms:ViaService": f"s3.{source_region}.amazonaws.com"}},
            },
            {"Sid": "EncryptReplicas", "Effect": "Allow", "Action": "kms:Encrypt", "Resource": list(target_keys)},
        ]
    )
