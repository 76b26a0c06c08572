"""Reading samples: Parquet and CSV, single files and directories of parts, local and S3 (moto)."""

from __future__ import annotations

import io
from pathlib import Path

import boto3
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from runtime.drift import storage
from runtime.drift.cli import main
from runtime.drift.errors import DriftInputError
from runtime.drift.tables import read_table
from tests.runtime.conftest import Server
from tests.runtime.drift.samples import mixed_table

pytestmark = pytest.mark.slow


def _parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def test_directory_of_parts_skips_hidden_folders_and_unifies_schemas(tmp_path: Path) -> None:
    pq.write_table(pa.table({"x": [1.0, 2.0]}), tmp_path / "part-0.parquet")
    (tmp_path / "sub").mkdir()
    pq.write_table(pa.table({"x": [3.0], "y": ["a"]}), tmp_path / "sub" / "part-1.parquet")
    (tmp_path / "_drift").mkdir()
    pq.write_table(pa.table({"z": [9]}), tmp_path / "_drift" / "report.parquet")
    table = read_table(str(tmp_path))
    assert table.num_rows == 3 and table.column_names == ["x", "y"]
    assert table.column("y").null_count == 2


def test_s3_samples_are_read_through_boto3(aws_env: Server, tmp_path: Path) -> None:
    s3 = boto3.client("s3")
    storage.s3_client.cache_clear()
    s3.create_bucket(Bucket="samples", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket="samples", Key="ref/part-0.parquet", Body=_parquet_bytes(mixed_table(1, 2000)))
    s3.put_object(Bucket="samples", Key="ref/part-1.parquet", Body=_parquet_bytes(mixed_table(3, 1000)))
    csv = io.BytesIO()
    pacsv.write_csv(mixed_table(2, 1500), csv)
    s3.put_object(Bucket="samples", Key="cur.csv", Body=csv.getvalue())
    assert read_table("s3://samples/ref").num_rows == 3000
    out = tmp_path / "r.json"
    assert main(["run", "--reference", "s3://samples/ref", "--current", "s3://samples/cur.csv", "--out", str(out)]) == 0
    assert main(["profile", "--reference", "s3://samples/ref", "--out", "s3://samples/profile.npz"]) == 0
    assert main(["run", "--reference-profile", "s3://samples/profile.npz", "--current", "s3://samples/cur.csv"]) == 0
    with pytest.raises(DriftInputError, match=r"cannot read s3://samples/nope\.parquet"):
        read_table("s3://samples/nope.parquet")
    storage.s3_client.cache_clear()
