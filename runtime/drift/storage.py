"""Read and write bytes at a local path or an `s3://bucket/key` URI (boto3 honours AWS_ENDPOINT_URL)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from runtime.drift.errors import DriftInputError

S3_SCHEME = "s3"


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str


def is_s3(uri: str) -> bool:
    return uri.startswith(f"{S3_SCHEME}://")


def parse_s3(uri: str) -> S3Location:
    parsed = urlparse(uri)
    if parsed.scheme != S3_SCHEME or not parsed.netloc:
        raise DriftInputError(f"not an s3://bucket/key URI: {uri!r}")
    return S3Location(parsed.netloc, parsed.path.lstrip("/"))


def join(base: str, *parts: str) -> str:
    """`base/part/...` for both local paths and S3 URIs."""
    return "/".join([base.rstrip("/"), *(part.strip("/") for part in parts)])


@cache
def s3_client() -> Any:
    import boto3

    return boto3.client("s3")


def read_bytes(uri: str) -> bytes:
    """The whole object or file; a clear `DriftInputError` when it does not exist or cannot be read."""
    if is_s3(uri):
        location = parse_s3(uri)
        try:
            response = s3_client().get_object(Bucket=location.bucket, Key=location.key)
            return bytes(response["Body"].read())
        except Exception as error:
            raise DriftInputError(f"cannot read {uri}: {error}") from None
    try:
        return Path(uri).read_bytes()
    except OSError as error:
        raise DriftInputError(f"cannot read {uri}: {error.strerror or error}") from None


def write_bytes(uri: str, data: bytes, content_type: str = "application/octet-stream") -> None:
    if is_s3(uri):
        location = parse_s3(uri)
        s3_client().put_object(Bucket=location.bucket, Key=location.key, Body=data, ContentType=content_type)
        return
    path = Path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def list_files(uri: str) -> list[str]:
    """Every file under a local directory or S3 prefix (recursively), sorted; [] when there is none."""
    if is_s3(uri):
        location = parse_s3(uri)
        prefix = location.key.rstrip("/") + "/" if location.key else ""
        paginator = s3_client().get_paginator("list_objects_v2")
        keys: list[str] = []
        try:
            for page in paginator.paginate(Bucket=location.bucket, Prefix=prefix):
                keys += [item["Key"] for item in page.get("Contents", [])]
        except Exception as error:
            raise DriftInputError(f"cannot list {uri}: {error}") from None
        return sorted(f"{S3_SCHEME}://{location.bucket}/{key}" for key in keys)
    root = Path(uri)
    if not root.is_dir():
        return []
    return sorted(str(path) for path in root.rglob("*") if path.is_file())


def exists_dir(uri: str) -> bool:
    """A local directory, or an S3 prefix with at least one object under it."""
    if is_s3(uri):
        return bool(list_files(uri))
    return Path(uri).is_dir()
