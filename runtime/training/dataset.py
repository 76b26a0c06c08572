"""The point-in-time training set: each label joined to the feature values as they were at its timestamp.

Residency comes first: every tenant the config names must be readable in the config's region, checked before
any object is listed or read. Features and labels are read from the region's offline store (S3, through
`runtime.offline_store.OfflineStoreReader`, which keeps tenants to their own `tenant=<t>/` prefixes and pins the
bucket's region) or from a local path, and DuckDB's `ASOF JOIN` picks, per label, the entity's latest feature
row whose event time is not after the label's timestamp, so no value written later can leak into the row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from runtime.offline_store import OfflineStoreReader, ResidencyError
from runtime.residency import ResidencyMap
from runtime.training.config import TrainingConfig
from runtime.training.errors import TenantRefused, TrainingConfigError

OFFLINE_TABLE = re.compile(r"^s3://(?P<bucket>[a-z0-9.\-]{3,63})/tables/(?P<table>[^/]+)/?$")
FEATURE_TIME = "feature_time"


@dataclass(frozen=True)
class TrainingSet:
    """The joined rows (one per label in the window) and what they were built from."""

    table: pa.Table
    start: datetime
    end: datetime
    tenants: tuple[str, ...]
    region: str


def refuse_foreign_tenants(residency: ResidencyMap, region: str, tenants: list[str]) -> None:
    """Raise before any read when a tenant's data may not be read in `region` (DESIGN §3, §10)."""
    refused = [tenant for tenant in tenants if not residency.may_hold(tenant, region)]
    if refused:
        raise TenantRefused(
            f"tenant(s) {', '.join(refused)} may not be read in {region} "
            f"(their data lives in {', '.join(_homes(residency, refused))}); nothing was read"
        )


def _homes(residency: ResidencyMap, tenants: list[str]) -> list[str]:
    return [
        f"{t}: {'/'.join(residency.regions_holding(t))}" if t in residency.tenants else f"{t}: unknown tenant"
        for t in tenants
    ]


def _read_local(location: str, tenant_column: str, tenants: list[str]) -> pa.Table:
    path = Path(location)
    if path.is_file():
        table = pq.read_table(path)
    elif path.is_dir():
        parts = [p for t in tenants for p in sorted((path / f"tenant={t}").glob("*.parquet"))]
        if not parts and not any(path.glob("tenant=*")):
            parts = sorted(path.rglob("*.parquet"))  # an unpartitioned directory of files
        if not parts:
            return pa.table({})
        try:
            tables = [_with_tenant(pq.read_table(p), p, tenant_column) for p in parts]
        except (pa.ArrowInvalid, OSError) as error:
            raise TrainingConfigError(f"{location}: cannot read Parquet: {error}") from None
        table = pa.concat_tables(tables, promote_options="default")
    else:
        raise TrainingConfigError(f"{location}: no such file or directory")
    if tenant_column not in table.column_names:
        raise TrainingConfigError(f"{location}: no tenant column {tenant_column!r}")
    return table.filter(pc.is_in(table[tenant_column], pa.array(tenants)))


def _with_tenant(table: pa.Table, path: Path, tenant_column: str) -> pa.Table:
    """A file under `tenant=<t>/` gets the tenant column from its directory when it lacks one."""
    if tenant_column in table.column_names or not path.parent.name.startswith("tenant="):
        return table
    tenant = path.parent.name.removeprefix("tenant=")
    return table.append_column(tenant_column, pa.array([tenant] * table.num_rows, pa.string()))


def _read_offline_store(location: str, config: TrainingConfig, residency: ResidencyMap, client: Any | None) -> pa.Table:
    match = OFFLINE_TABLE.match(location)
    if match is None:
        raise TrainingConfigError(
            f"{location}: an S3 location must be an offline-store table, s3://<bucket>/tables/<table>/"
        )
    reader = OfflineStoreReader(match["bucket"], config.region, residency, client=client)
    tables = []
    try:
        for tenant in config.tenants:
            part = reader.read_table(tenant, match["table"])
            if part.num_rows:
                tables.append(_with_tenant_value(part, tenant, config.data.tenant))
    except ResidencyError as error:
        raise TenantRefused(str(error)) from None
    return pa.concat_tables(tables, promote_options="default") if tables else pa.table({})


def _with_tenant_value(table: pa.Table, tenant: str, column: str) -> pa.Table:
    if column in table.column_names:
        return table
    return table.append_column(column, pa.array([tenant] * table.num_rows, pa.string()))


def read_source(location: str, config: TrainingConfig, residency: ResidencyMap, client: Any | None = None) -> pa.Table:
    if location.startswith("s3://"):
        return _read_offline_store(location, config, residency, client)
    return _read_local(location, config.data.tenant, config.tenants)


def _require(table: pa.Table, columns: list[str], what: str, location: str) -> None:
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise TrainingConfigError(f"{location}: the {what} have no column(s) {', '.join(missing)}")


def _utc_timestamps(table: pa.Table, column: str) -> pa.Table:
    values = table[column]
    if pa.types.is_timestamp(values.type):
        cast = values.cast(pa.timestamp("us", tz="UTC")) if values.type.tz else pc.assume_timezone(values, "UTC")
    elif pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        cast = pc.assume_timezone(pc.strptime(values, format="%Y-%m-%dT%H:%M:%S", unit="us"), "UTC")
    else:
        raise TrainingConfigError(f"column {column!r} must be a timestamp, not {values.type}")
    return table.set_column(table.schema.get_field_index(column), column, cast.cast(pa.timestamp("us", tz="UTC")))


def point_in_time_join(
    features: pa.Table, labels: pa.Table, config: TrainingConfig, start: datetime, end: datetime
) -> pa.Table:
    """Labels in [start, end) with, per label, the entity's newest feature row at or before its timestamp.

    A label with no earlier feature row keeps null features (the validation gate's null share sees it)."""
    import duckdb

    data = config.data
    feature_columns = ", ".join(f'f."{name}"' for name in config.features)
    query = f"""
        SELECT l."{data.entity}" AS "{data.entity}", l."{data.tenant}" AS tenant,
               l."{data.label_timestamp}" AS "{data.label_timestamp}", l."{data.label}" AS "{data.label}",
               {feature_columns}, f."{data.timestamp}" AS {FEATURE_TIME}
        FROM (SELECT * FROM labels_in
              WHERE "{data.label_timestamp}" >= $start AND "{data.label_timestamp}" < $end) AS l
        ASOF LEFT JOIN features_in AS f
          ON l."{data.tenant}" = f."{data.tenant}" AND l."{data.entity}" = f."{data.entity}"
         AND l."{data.label_timestamp}" >= f."{data.timestamp}"
        ORDER BY l."{data.label_timestamp}", l."{data.entity}"
    """  # noqa: S608 - column names come from the validated config, values are bound parameters
    with duckdb.connect(":memory:") as connection:
        connection.execute("SET TimeZone = 'UTC'")
        connection.register("features_in", features)
        connection.register("labels_in", labels)
        relation = connection.sql(query, params={"start": start, "end": end})
        if relation is None:
            raise TrainingConfigError("the point-in-time query returned no relation")
        return relation.to_arrow_table()


def build_training_set(
    config: TrainingConfig, residency: ResidencyMap, now: datetime, client: Any | None = None
) -> TrainingSet:
    """Residency check, then read, then the as-of join over the config's window."""
    refuse_foreign_tenants(residency, config.region, config.tenants)
    data = config.data
    features = read_source(data.features, config, residency, client)
    labels = read_source(data.labels, config, residency, client)
    _require(features, [data.entity, data.tenant, data.timestamp, *config.features], "features", data.features)
    _require(labels, [data.entity, data.tenant, data.label_timestamp, data.label], "labels", data.labels)
    features = _utc_timestamps(features, data.timestamp)
    labels = _utc_timestamps(labels, data.label_timestamp)
    start, end = config.window(now)
    table = point_in_time_join(features, labels, config, start, end)
    return TrainingSet(table=table, start=start, end=end, tenants=tuple(config.tenants), region=config.region)
