"""Promotion fixtures: the promotion history in a moto S3 bucket (session-wide AWS settings pointing at moto)."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from tests.runtime.conftest import Server

HISTORY_BUCKET = "mlplat-models-test"


@pytest.fixture(scope="session")
def history_root(moto_server: Server) -> Iterator[str]:
    """`s3://bucket/promotion-history` on the moto server; boto3 and MLflow reach moto for the whole session."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in {
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "eu-west-1", "AWS_ENDPOINT_URL": moto_server.url,
        }.items():  # fmt: skip
            patch.setenv(key, value)
        patch.delenv("AWS_PROFILE", raising=False)
        boto3.client("s3").create_bucket(
            Bucket=HISTORY_BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        yield f"s3://{HISTORY_BUCKET}/promotion-history"
