"""The offline-store reader against a real moto S3 server: region pinned, wrong-region access refused."""

import io
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from runtime.offline_store import OfflineStoreReader, ResidencyError, table_prefix
from runtime.residency import ResidencyMap
from tests.runtime.conftest import Server

RESIDENCY = ResidencyMap.from_dict(
    {
        "jurisdictions": {"eu": {"regions": ["eu-west-1", "eu-central-1"]}, "us": {"regions": ["us-east-1"]}},
        "tenants": {
            "acme-eu": {"jurisdiction": "eu", "home_region": "eu-west-1", "failover_regions": ["eu-central-1"]},
            "globex-us": {"jurisdiction": "us", "home_region": "us-east-1"},
        },
    }
)


def _put_parquet(client: Any, bucket: str, key: str, rows: dict[str, list[Any]]) -> None:
    buffer = io.BytesIO()
    pq.write_table(pa.table(rows), buffer)
    client.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())


@pytest.fixture
def eu_bucket(aws_env: Server) -> str:
    client = boto3.client("s3", region_name="eu-west-1")
    bucket = "mlplat-euw1-features-offline-test"
    client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    prefix = table_prefix("customers", "acme-eu")
    _put_parquet(client, bucket, f"{prefix}part-0.parquet", {"entity_id": ["c-1", "c-2"], "tenure": [3, 14]})
    _put_parquet(client, bucket, f"{prefix}part-1.parquet", {"entity_id": ["c-3"], "tenure": [27]})
    _put_parquet(
        client, bucket, f"{table_prefix('customers', 'bosch-de')}part-0.parquet", {"entity_id": ["x"], "tenure": [1]}
    )
    yield bucket
    for item in client.list_objects_v2(Bucket=bucket).get("Contents", []):
        client.delete_object(Bucket=bucket, Key=item["Key"])
    client.delete_bucket(Bucket=bucket)


def test_reads_only_the_tenants_rows_in_its_region(eu_bucket: str) -> None:
    table = OfflineStoreReader(eu_bucket, "eu-west-1", RESIDENCY).read_table("acme-eu", "customers")
    assert sorted(table.column("entity_id").to_pylist()) == ["c-1", "c-2", "c-3"]


def test_a_reader_pinned_to_another_region_is_refused(eu_bucket: str) -> None:
    # acme-eu may be served in eu-central-1 (its failover), but the bucket itself lives in eu-west-1.
    reader = OfflineStoreReader(
        eu_bucket, "eu-central-1", RESIDENCY, client=boto3.client("s3", region_name="eu-central-1")
    )
    with pytest.raises(ResidencyError, match="is in eu-west-1, but this reader is pinned to eu-central-1"):
        reader.read_table("acme-eu", "customers")


class _NoCalls:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"S3 was called ({name}) for a refused tenant")


@pytest.mark.parametrize(
    ("tenant", "region"), [("globex-us", "eu-west-1"), ("acme-eu", "us-east-1"), ("nobody", "eu-west-1")]
)
def test_a_tenant_the_region_may_not_serve_is_refused_before_any_request(tenant: str, region: str) -> None:
    reader = OfflineStoreReader("any-bucket", region, RESIDENCY, client=_NoCalls())
    with pytest.raises(ResidencyError, match=f"tenant '{tenant}' may not be read in {region}"):
        reader.read_table(tenant, "customers")


@pytest.mark.parametrize(("table", "tenant"), [("a/b", "t"), ("t", "../x"), ("", "t")])
def test_names_cannot_escape_the_tenant_prefix(table: str, tenant: str) -> None:
    with pytest.raises(ValueError, match="no '/'"):
        table_prefix(table, tenant)
