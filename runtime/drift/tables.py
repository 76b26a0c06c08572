"""Load a sample as an Arrow table from Parquet or CSV: a file, a directory of parts, local or S3."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from runtime.drift import storage
from runtime.drift.errors import DriftInputError

PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv", ".csv.gz")
DATA_SUFFIXES = PARQUET_SUFFIXES + CSV_SUFFIXES
# pyarrow reads CSV in blocks and cannot parse a field longer than a block: start at 16 MiB, retry larger.
CSV_BLOCK_BYTES = 16 << 20
MAX_CSV_BLOCK_BYTES = 1 << 30


def is_block_too_small(error: Exception) -> bool:
    """pyarrow's CSV error for a field (or row) that straddles two blocks."""
    return isinstance(error, pa.ArrowInvalid) and "straddl" in str(error)


def file_format(uri: str) -> str:
    lower = uri.lower()
    if lower.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if lower.endswith(CSV_SUFFIXES):
        return "csv"
    raise DriftInputError(f"{uri}: unknown format; use a .parquet or .csv file (or a directory of them)")


def _read_csv(source: Path | io.BytesIO) -> pa.Table:
    block = CSV_BLOCK_BYTES
    while True:
        if isinstance(source, io.BytesIO):
            source.seek(0)
        try:
            return pacsv.read_csv(source, read_options=pacsv.ReadOptions(block_size=block))
        except pa.ArrowInvalid as error:
            if not is_block_too_small(error) or block >= MAX_CSV_BLOCK_BYTES:
                raise
            block = min(block * 8, MAX_CSV_BLOCK_BYTES)


def _read_local(path: Path, fmt: str) -> pa.Table:
    if fmt == "parquet":
        return pq.read_table(path)
    return _read_csv(path)


def _read_one(uri: str) -> pa.Table:
    fmt = file_format(uri)
    try:
        if storage.is_s3(uri):
            data = io.BytesIO(storage.read_bytes(uri))
            table = pq.read_table(data) if fmt == "parquet" else _read_csv(data)
        else:
            table = _read_local(Path(uri), fmt)
    except DriftInputError:
        raise
    except FileNotFoundError:
        raise DriftInputError(f"{uri}: no such file") from None
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as error:
        raise DriftInputError(f"{uri}: cannot read it as {fmt}: {error}") from None
    names = table.column_names
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise DriftInputError(f"{uri}: duplicate columns {', '.join(duplicates)}")
    return table


def data_files(uri: str) -> list[str]:
    """The data files a URI names: itself, or the .parquet/.csv files under it (`_`/`.` parts skipped)."""
    if storage.is_s3(uri):
        if uri.lower().endswith(DATA_SUFFIXES) and not storage.exists_dir(uri):
            return [uri]
    elif Path(uri).is_file():
        return [uri]
    elif not Path(uri).exists():
        raise DriftInputError(f"{uri}: no such file or directory")
    files = [
        found
        for found in storage.list_files(uri)
        if found.lower().endswith(DATA_SUFFIXES)
        and not any(part.startswith(("_", ".")) for part in found[len(uri) :].split("/") if part)
    ]
    if not files:
        raise DriftInputError(f"{uri}: no .parquet or .csv files there")
    return files


def concat(tables: list[pa.Table], source: str) -> pa.Table:
    """One table from parts whose schemas may differ a little (a column missing in a part becomes null)."""
    if len(tables) == 1:
        return tables[0]
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise DriftInputError(f"{source}: the parts have incompatible schemas: {error}") from None


def read_table(uri: str) -> pa.Table:
    """A whole sample; a clear `DriftInputError` for anything missing, unreadable or of an unknown format."""
    return concat([_read_one(found) for found in data_files(uri)], uri)
