"""An S3 bucket with every control the platform requires: encryption, versioning, no public access, owner-enforced
objects, lifecycle, access logging and a TLS-only bucket policy with room for more deny statements."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True, kw_only=True)
class Lifecycle:
    """Object ages in days; None skips that step."""

    infrequent_access_after: int | None = 30
    glacier_after: int | None = 90
    expire_after: int | None = None
    noncurrent_expire_after: int = 30


@dataclass(frozen=True, kw_only=True)
class SecureBucketArgs:
    bucket_name: str
    kms_key_arn: pulumi.Input[str] | None  # None only for S3 server-access-log targets, which cannot use SSE-KMS
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    access_log_bucket: pulumi.Input[str] | None = None  # target bucket name for server access logs
    access_log_prefix: str = ""
    # Statements added to the bucket policy after the TLS-only deny (they may hold Outputs).
    extra_policy_statements: pulumi.Input[Sequence[Mapping[str, Any]]] = ()
    tags: Mapping[str, str] = field(default_factory=dict)


def tls_only_statement(bucket_arn: str) -> dict[str, Any]:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


class SecureBucket(pulumi.ComponentResource):
    def __init__(self, name: str, args: SecureBucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplat:index:SecureBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = aws.s3.Bucket(
            name, bucket=args.bucket_name, force_destroy=False, tags={**args.tags, "Name": args.bucket_name}, opts=child
        )
        by_default = (
            aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                sse_algorithm="aws:kms", kms_master_key_id=args.kms_key_arn
            )
            if args.kms_key_arn is not None
            else aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                sse_algorithm="AES256"
            )
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-sse",
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=by_default,
                    bucket_key_enabled=args.kms_key_arn is not None,
                )
            ],
            opts=child,
        )
        aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=self.bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=child,
        )
        public_access = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=self.bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle", bucket=self.bucket.id, rules=[_lifecycle_rule(args.lifecycle)], opts=child
        )
        if args.access_log_bucket is not None:
            aws.s3.BucketLogging(
                f"{name}-logging",
                bucket=self.bucket.id,
                target_bucket=args.access_log_bucket,
                target_prefix=args.access_log_prefix or f"{args.bucket_name}/",
                opts=child,
            )
        policy = pulumi.Output.all(self.bucket.arn, pulumi.Output.from_input(args.extra_policy_statements)).apply(
            lambda values: json.dumps(
                {"Version": "2012-10-17", "Statement": [tls_only_statement(values[0]), *values[1]]}, sort_keys=True
            )
        )
        bucket_policy = aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=self.bucket.id,
            policy=policy,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_access]),
        )
        # The name resolves once the policy is in place: a bucket that logs here (BucketLogging) must not be
        # configured before the policy grants logging.s3.amazonaws.com, or S3 answers InvalidTargetBucketForLogging.
        self.name = pulumi.Output.all(self.bucket.bucket, bucket_policy.id).apply(lambda values: str(values[0]))
        self.arn = self.bucket.arn
        self.register_outputs({"name": self.name, "arn": self.arn})


def _lifecycle_rule(lifecycle: Lifecycle) -> aws.s3.BucketLifecycleConfigurationRuleArgs:
    transitions = []
    if lifecycle.infrequent_access_after is not None:
        transitions.append(
            aws.s3.BucketLifecycleConfigurationRuleTransitionArgs(
                days=lifecycle.infrequent_access_after, storage_class="STANDARD_IA"
            )
        )
    if lifecycle.glacier_after is not None:
        transitions.append(
            aws.s3.BucketLifecycleConfigurationRuleTransitionArgs(
                days=lifecycle.glacier_after, storage_class="GLACIER_IR"
            )
        )
    return aws.s3.BucketLifecycleConfigurationRuleArgs(
        id="tiering-and-expiry",
        status="Enabled",
        filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
        transitions=transitions or None,
        expiration=(
            aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=lifecycle.expire_after)
            if lifecycle.expire_after is not None
            else None
        ),
        noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
            noncurrent_days=lifecycle.noncurrent_expire_after
        ),
        abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
            days_after_initiation=7
        ),
    )
