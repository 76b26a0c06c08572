"""Reads a tenant's offline features from its region's S3 store, refusing anything residency does not allow.

The client is pinned to one region; the bucket's own region is checked before the first read; a tenant the
region may not serve is refused before any request is sent. Offline tables are laid out as
`tables/<table>/tenant=<tenant>/*.parquet`, so a tenant's rows never share a prefix with another tenant's.
"""

from __future__ import annotations

import io
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq

from runtime.residency import ResidencyMap


class ResidencyError(PermissionError):
    """The request would read data outside where residency allows; nothing was read."""


def table_prefix(table: str, tenant: str) -> str:
    if "/" in table or "/" in tenant or not table or not tenant:
        raise ValueError("table and tenant names must be non-empty and contain no '/'")
    return f"tables/{table}/tenant={tenant}/"


def _bucket_region(location: str | None) -> str:
    # GetBucketLocation answers None for us-east-1 and the legacy "EU" for eu-west-1.
    return {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location, location or "us-east-1")


class OfflineStoreReader:
    def __init__(self, bucket: str, region: str, residency: ResidencyMap, client: Any | None = None) -> None:
        self.bucket = bucket
        self.region = region
        self.residency = residency
        self._client = client if client is not None else boto3.client("s3", region_name=region)
        self._bucket_checked = False

    def _check_bucket_region(self) -> None:
        if self._bucket_checked:
            return
        location = self._client.get_bucket_location(Bucket=self.bucket).get("LocationConstraint")
        actual = _bucket_region(location)
        if actual != self.region:
            raise ResidencyError(f"bucket {self.bucket} is in {actual}, but this reader is pinned to {self.region}")
        self._bucket_checked = True

    def read_table(self, tenant: str, table: str) -> pa.Table:
        """Every Parquet file of `table` for `tenant`, concatenated; an empty table if none exists."""
        if not self.residency.may_serve(tenant, self.region):
            raise ResidencyError(f"tenant {tenant!r} may not be read in {self.region}")
        self._check_bucket_region()
        prefix = table_prefix(table, tenant)
        paginator = self._client.get_paginator("list_objects_v2")
        parts = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                if item["Key"].endswith(".parquet"):
                    body = self._client.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read()
                    parts.append(pq.read_table(io.BytesIO(body)))
        return pa.concat_tables(parts) if parts else pa.table({})
