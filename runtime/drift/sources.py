"""The current sample as a stream of record batches: the files under a directory or S3 prefix (or one file),
their common layout checked from metadata before any data is read, then read a batch at a time."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from runtime.drift import storage
from runtime.drift.columns import is_numeric_type, is_text_type
from runtime.drift.errors import DriftInputError
from runtime.drift.tables import CSV_BLOCK_BYTES, MAX_CSV_BLOCK_BYTES, data_files, file_format, is_block_too_small

DEFAULT_BATCH_ROWS = 131_072


class CsvBlockTooSmall(Exception):
    """A CSV field is larger than the block size: the caller starts over with bigger blocks."""


@dataclass(frozen=True)
class Layout:
    """The columns every file must have (in report order), their types, and the row count when known."""

    files: list[str]
    names: list[str]
    types: dict[str, pa.DataType]
    # Columns a file may lack (the prediction log's metadata, added over time): read as nulls there.
    optional: frozenset[str]
    n_rows: int | None


def _family(data_type: pa.DataType) -> str:
    if is_numeric_type(data_type):
        return "numeric"
    if is_text_type(data_type):
        return "text"
    if pa.types.is_dictionary(data_type):
        return _family(data_type.value_type)
    return str(data_type)


def _open(uri: str) -> Any:
    """A local path; for S3, Parquet is read by ranged GETs (footer, then column chunks), CSV whole."""
    if not storage.is_s3(uri):
        return uri
    if file_format(uri) == "parquet":
        return storage.S3RangeReader(uri)
    return io.BytesIO(storage.read_bytes(uri))


def _csv_reader(uri: str, block_bytes: int) -> pacsv.CSVStreamingReader:
    return pacsv.open_csv(_open(uri), read_options=pacsv.ReadOptions(block_size=block_bytes))


def _schema_and_rows(uri: str, block_bytes: int) -> tuple[pa.Schema, int | None]:
    try:
        if file_format(uri) == "parquet":
            metadata = pq.read_metadata(_open(uri))
            return metadata.schema.to_arrow_schema(), metadata.num_rows
        return _csv_reader(uri, block_bytes).schema, None
    except DriftInputError:
        raise
    except FileNotFoundError:
        raise DriftInputError(f"{uri}: no such file") from None
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as error:
        if is_block_too_small(error):
            raise CsvBlockTooSmall from None
        raise DriftInputError(f"{uri}: cannot read it as {file_format(uri)}: {error}") from None


def layout(uri: str, optional: frozenset[str] = frozenset(), csv_block_bytes: int = CSV_BLOCK_BYTES) -> Layout:
    """The files under `uri` and the layout they share (see `layout_of`)."""
    return layout_of(data_files(uri), optional, csv_block_bytes)


def layout_of(
    files: list[str],
    optional: frozenset[str] = frozenset(),
    csv_block_bytes: int = CSV_BLOCK_BYTES,
    *,
    any_columns: bool = False,
) -> Layout:
    """The layout `files` share, from their metadata; a `DriftInputError` naming the first file that differs
    (other columns, or a column whose kind of type changes: numbers in one file, text in another).

    `any_columns` lets files differ in their columns (each missing one read as null), as the job needs: a
    window can span two model versions with different features, and only one version's rows are kept."""
    if not files:
        raise DriftInputError("no data files to read")
    names: list[str] = []
    types: dict[str, pa.DataType] = {}
    required: set[str] | None = None
    first = files[0]
    n_rows: int | None = 0
    for found in files:
        schema, rows = _schema_and_rows(found, csv_block_bytes)
        n_rows = None if rows is None or n_rows is None else n_rows + rows
        here = [field.name for field in schema]
        duplicates = sorted({name for name in here if here.count(name) > 1})
        if duplicates:
            raise DriftInputError(f"{found}: duplicate columns {', '.join(duplicates)}")
        mandatory = set() if any_columns else set(here) - optional
        if required is None:
            required = mandatory
        elif mandatory != required:
            missing, extra = sorted(required - mandatory), sorted(mandatory - required)
            raise DriftInputError(
                f"{found}: its columns differ from {first}'s"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; extra {', '.join(extra)}" if extra else "")
            )
        for field in schema:
            known = types.get(field.name)
            if known is None or pa.types.is_null(known):
                if known is None:
                    names.append(field.name)
                types[field.name] = field.type
            elif not pa.types.is_null(field.type) and _family(field.type) != _family(known):
                raise DriftInputError(
                    f"{found}: column {field.name!r} has type {field.type} here but {known} in earlier files"
                )
    return Layout(files, names, types, frozenset(names) if any_columns else optional, n_rows)


def _conform(table: pa.Table, plan: Layout) -> pa.Table:
    """The batch with the layout's columns in its order; an optional column the file lacks is null."""
    present = set(table.column_names)
    columns = [
        table.column(name) if name in present else pa.nulls(table.num_rows, plan.types[name]) for name in plan.names
    ]
    return pa.table(columns, names=plan.names)


def file_batches(
    uri: str, plan: Layout, batch_rows: int = DEFAULT_BATCH_ROWS, csv_block_bytes: int = CSV_BLOCK_BYTES
) -> Iterator[pa.Table]:
    """One file's rows, `batch_rows` at a time (Parquet) or a CSV block at a time; errors name the file."""
    try:
        if file_format(uri) == "parquet":
            parquet = pq.ParquetFile(_open(uri))
            # decoding columns in threads pays off only for files bigger than a batch
            threads = parquet.metadata.num_rows > batch_rows
            for batch in parquet.iter_batches(batch_size=batch_rows, use_threads=threads):
                yield _conform(pa.Table.from_batches([batch]), plan)
        else:
            for batch in _csv_reader(uri, csv_block_bytes):
                yield _conform(pa.Table.from_batches([batch]), plan)
    except DriftInputError as error:
        raise DriftInputError(f"{uri}: {error}") from None
    except FileNotFoundError:
        raise DriftInputError(f"{uri}: no such file") from None
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as error:
        if is_block_too_small(error):
            raise CsvBlockTooSmall from None
        raise DriftInputError(f"{uri}: cannot read it as {file_format(uri)}: {error}") from None


def stream(
    plan: Layout, batch_rows: int = DEFAULT_BATCH_ROWS, csv_block_bytes: int = CSV_BLOCK_BYTES
) -> Iterator[pa.Table]:
    """Every file's batches in order."""
    for found in plan.files:
        yield from file_batches(found, plan, batch_rows, csv_block_bytes)


def next_block_bytes(block_bytes: int) -> int:
    """The CSV block size to retry with; an error once it would pass the cap."""
    if block_bytes >= MAX_CSV_BLOCK_BYTES:
        raise DriftInputError(f"a CSV field is larger than {MAX_CSV_BLOCK_BYTES >> 20} MiB")
    return min(block_bytes * 8, MAX_CSV_BLOCK_BYTES)
