"""S3 buckets and their per-setting resources (encryption, versioning, lifecycle, logging, replication, policy)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlplat.verify.mappings.base import (
    MAPPINGS,
    Emulation,
    Outputs,
    emulation,
    tag_list,
)
from mlplat.verify.policy_documents import check_resource_policy
from mlplat.verify.step import Step


def _bucket_name(step: Step) -> str:
    return str(step.get("bucket")).removeprefix("arn:aws:s3:::")


def _read_bucket(step: Step, out: Outputs) -> None:
    location = step.call("s3", "GetBucketLocation", Bucket=out["bucket"]).get("LocationConstraint") or "us-east-1"
    step.expect("region", step.region, location)
    if step.inputs.get("tags"):
        step.expect_tags(step.call("s3", "GetBucketTagging", Bucket=out["bucket"]).get("TagSet"))


@emulation(
    "aws:s3/bucket:Bucket",
    _read_bucket,
    forceDestroy="the provider empties the bucket before DeleteBucket; no API counterpart",
)
def _bucket(step: Step) -> Outputs:
    bucket = step.get("bucket") or step.name
    step.get("forceDestroy")
    location = {} if step.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": step.region}}
    step.call(
        "s3",
        "CreateBucket",
        Bucket=bucket,
        **location,
        **step.params(
            "s3", "CreateBucket", ["objectLockEnabled"], renames={"objectLockEnabled": "ObjectLockEnabledForBucket"}
        ),
    )
    if step.inputs.get("tags"):
        step.call("s3", "PutBucketTagging", Bucket=bucket, Tagging={"TagSet": tag_list(step)})
    return {"id": bucket, "bucket": bucket, "arn": f"arn:aws:s3:::{bucket}"}


def _bucket_setting(
    type_token: str,
    put: str,
    get: str,
    member: str,
    inputs_to_member: Callable[[Step], Any],
    strip: Callable[[Any], Any] | None = None,
    **provider_only: str,
) -> None:
    """A `Bucket<Setting>` resource: one Put call with one configuration member, read back with the matching Get."""

    def create(step: Step) -> Outputs:
        bucket = _bucket_name(step)
        configuration = inputs_to_member(step)
        step.call("s3", put, Bucket=bucket, **{member: configuration})
        return {"id": bucket, "bucket": bucket, "declared": configuration}

    def read(step: Step, out: Outputs) -> None:
        observed = step.call("s3", get, Bucket=out["bucket"])
        declared = out["declared"]
        answer = observed.get(member) if member in observed else observed  # some Get calls answer the members flat
        step.expect(member, strip(declared) if strip else declared, answer)

    MAPPINGS[type_token] = Emulation(create, read, provider_only)


def _shaped(operation: str, member: str, key: str, inner: str | None = None) -> Callable[[Step], Any]:
    """The configuration member from inputs: `{inner: inputs[key]}` (or `inputs[key]` itself) shaped by the model."""

    def build(step: Step) -> Any:
        value = step.get(key)
        shaped = step.params_from("s3", operation, {member: {inner: value} if inner else value})
        return shaped.get(member)

    return build


def _public_access_block(step: Step) -> Any:
    keys = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    return step.params_from("s3", "PutPublicAccessBlock", {"PublicAccessBlockConfiguration": step.take(*keys)})[
        "PublicAccessBlockConfiguration"
    ]


def _logging(step: Step) -> Any:
    enabled = step.take("targetBucket", "targetPrefix", "targetGrants", "targetObjectKeyFormat")
    return step.params_from("s3", "PutBucketLogging", {"BucketLoggingStatus": {"LoggingEnabled": enabled}})[
        "BucketLoggingStatus"
    ]


def _replication(step: Step) -> Any:
    values = {"role": step.get("role"), "rules": step.get("rules")}
    return step.params_from("s3", "PutBucketReplication", {"ReplicationConfiguration": values})[
        "ReplicationConfiguration"
    ]


def _policy_input(step: Step) -> Any:
    document = str(step.get("policy"))
    check_resource_policy("s3:PutBucketPolicy", "MalformedPolicy", document, bucket=_bucket_name(step))
    return document


_bucket_setting(
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "PutBucketEncryption",
    "GetBucketEncryption",
    "ServerSideEncryptionConfiguration",
    _shaped("PutBucketEncryption", "ServerSideEncryptionConfiguration", "rules", "rules"),
    expectedBucketOwner="a request guard, not configuration",
)
_bucket_setting(
    "aws:s3/bucketVersioning:BucketVersioning",
    "PutBucketVersioning",
    "GetBucketVersioning",
    "VersioningConfiguration",
    _shaped("PutBucketVersioning", "VersioningConfiguration", "versioningConfiguration"),
    mfa="the MFA device answer of one request",
)
_bucket_setting(
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "PutPublicAccessBlock",
    "GetPublicAccessBlock",
    "PublicAccessBlockConfiguration",
    _public_access_block,
)
_bucket_setting(
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    "PutBucketOwnershipControls",
    "GetBucketOwnershipControls",
    "OwnershipControls",
    _shaped("PutBucketOwnershipControls", "OwnershipControls", "rule", "rules"),
)
_bucket_setting(
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "PutBucketLifecycleConfiguration",
    "GetBucketLifecycleConfiguration",
    "LifecycleConfiguration",
    _shaped("PutBucketLifecycleConfiguration", "LifecycleConfiguration", "rules", "rules"),
    transitionDefaultMinimumObjectSize="a header of the Put call the provider sets only when given",
)
_bucket_setting(
    "aws:s3/bucketLogging:BucketLogging", "PutBucketLogging", "GetBucketLogging", "BucketLoggingStatus", _logging
)


def _replication_as_moto_answers(configuration: Any) -> Any:
    """moto's GetBucketReplication answers ID, priority, status, destination and role as put, but a fixed
    `DeleteMarkerReplication: Disabled` and empty filter and no source selection (moto/s3/responses.py); those three
    are not compared."""
    rules = [
        {k: v for k, v in r.items() if k not in ("DeleteMarkerReplication", "Filter", "SourceSelectionCriteria")}
        for r in configuration.get("Rules", [])
    ]
    return {**configuration, "Rules": rules}


_bucket_setting(
    "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
    "PutBucketReplication",
    "GetBucketReplication",
    "ReplicationConfiguration",
    _replication,
    _replication_as_moto_answers,
    token="an Object Lock token of one request",
)
_bucket_setting("aws:s3/bucketPolicy:BucketPolicy", "PutBucketPolicy", "GetBucketPolicy", "Policy", _policy_input)
