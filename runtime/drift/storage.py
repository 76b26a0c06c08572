"""Read and write bytes at a local path or an `s3://bucket/key` URI (boto3 honours AWS_ENDPOINT_URL)."""

from __future__ import annotations

import contextlib
import io
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from runtime.drift.errors import DriftInputError

S3_SCHEME = "s3"
# Reports and profiles describe production traffic: only the job's user may read them.
PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


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


def make_private_dirs(path: Path) -> None:
    """Create `path` and its missing parents with mode 0700 (`mkdir(parents=True)` would use the umask)."""
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=PRIVATE_DIR_MODE)


@contextlib.contextmanager
def private_file(path: Path) -> Iterator[Any]:
    """A local file opened for writing with mode 0600 (also when it existed), parents created 0700; a clear
    `DriftInputError` when it cannot be written (a directory, a full disk, no permission)."""
    try:
        make_private_dirs(path.parent)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
        with os.fdopen(descriptor, "wb") as handle:
            if stat.S_ISREG(os.fstat(descriptor).st_mode):
                os.fchmod(descriptor, PRIVATE_FILE_MODE)
            yield handle
    except OSError as error:
        raise DriftInputError(f"cannot write {path}: {error.strerror or error}") from None


class S3RangeReader(io.RawIOBase):
    """A seekable read-only file over one S3 object, each read a ranged GET: Parquet readers fetch the footer
    and the column chunks they need, so a large object is never held whole."""

    def __init__(self, uri: str) -> None:
        super().__init__()
        self.uri = uri
        self._location = parse_s3(uri)
        try:
            head = s3_client().head_object(Bucket=self._location.bucket, Key=self._location.key)
        except Exception as error:
            raise DriftInputError(f"cannot read {uri}: {error}") from None
        self.size = int(head["ContentLength"])
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        wanted = min(len(buffer), self.size - self._position)
        if wanted <= 0:
            return 0
        byte_range = f"bytes={self._position}-{self._position + wanted - 1}"
        try:
            response = s3_client().get_object(Bucket=self._location.bucket, Key=self._location.key, Range=byte_range)
            data = response["Body"].read()
        except Exception as error:
            raise DriftInputError(f"cannot read {self.uri}: {error}") from None
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)


def write_bytes(uri: str, data: bytes, content_type: str = "application/octet-stream") -> None:
    """Write an object or a private local file; a clear `DriftInputError` when it cannot be written."""
    if is_s3(uri):
        location = parse_s3(uri)
        if not location.key or location.key.endswith("/"):
            raise DriftInputError(f"not an s3://bucket/key URI for an object: {uri!r}")
        try:
            s3_client().put_object(Bucket=location.bucket, Key=location.key, Body=data, ContentType=content_type)
        except Exception as error:
            raise DriftInputError(f"cannot write {uri}: {error}") from None
        return
    with private_file(Path(uri)) as handle:
        handle.write(data)


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
