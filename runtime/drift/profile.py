"""The reference profile: everything a drift run needs from the reference, computed once (at training time).

Per numeric feature: decile edges, bin counts and the *sorted* finite reference values, so the KS test stays
exact (a bounded subsample can be kept instead with `max_ks_values`; the report then says `ks_exact: false`).
Per categorical feature: the category counts. Saved as one uncompressed NPZ file (`numpy.load` reads it): a
`meta` JSON document plus one array per numeric feature. A local file's arrays are memory-mapped in place (no
copy), others are read lazily, so a run holds one reference column at a time.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa

from runtime.drift.columns import (
    CategoricalValues,
    Kind,
    NumericValues,
    categorical_values,
    infer_kind,
    is_supported_type,
    numeric_values,
)
from runtime.drift.errors import DriftInputError
from runtime.drift.settings import DEFAULT_PROFILE_ARTIFACT as DEFAULT_PROFILE_ARTIFACT  # noqa: PLC0414 - re-exported
from runtime.drift.statistics import FloatArray, bin_counts, decile_edges

PROFILE_SCHEMA = "mlplat.drift-profile/v1"


@dataclass(frozen=True)
class NumericProfile:
    """Decile edges and bin counts of one numeric reference feature, plus a loader for its sorted values."""

    name: str
    edges: FloatArray
    counts: np.ndarray
    n_rows: int
    n_missing: int
    n_infinite: int
    n_values: int
    ks_exact: bool
    load_sorted: Callable[[], FloatArray]

    kind = Kind.NUMERIC


@dataclass(frozen=True)
class CategoricalProfile:
    """Category counts of one categorical reference feature."""

    name: str
    counts: dict[str, int]
    n_rows: int
    n_missing: int
    notes: tuple[str, ...] = ()

    kind = Kind.CATEGORICAL

    @property
    def n_values(self) -> int:
        return self.n_rows - self.n_missing


@dataclass(frozen=True)
class UnusableProfile:
    """A reference column that cannot be compared (unsupported type); reported, never dropped."""

    name: str
    kind: Kind
    n_rows: int
    problem: str


FeatureProfile = NumericProfile | CategoricalProfile | UnusableProfile


@dataclass(frozen=True)
class ReferenceProfile:
    """All features of a reference sample; `prediction_column` names the one reported as the prediction."""

    features: dict[str, FeatureProfile]
    n_rows: int
    prediction_column: str | None
    source: str

    def kinds(self) -> dict[str, Kind]:
        return {name: feature.kind for name, feature in self.features.items()}


def _numeric_profile(name: str, values: NumericValues, max_ks_values: int | None) -> NumericProfile:
    sorted_values = values.sorted_values
    n_values = int(sorted_values.size)
    edges = decile_edges(sorted_values) if n_values else np.empty(0)
    counts = bin_counts(sorted_values, edges) if n_values else np.zeros(1, dtype=np.int64)
    kept = sorted_values
    if max_ks_values is not None and n_values > max_ks_values:
        kept = sorted_values[np.linspace(0, n_values - 1, max_ks_values).round().astype(np.int64)]
    return NumericProfile(
        name=name,
        edges=edges,
        counts=counts,
        n_rows=values.n_rows,
        n_missing=values.n_missing,
        n_infinite=values.n_infinite,
        n_values=n_values,
        ks_exact=kept is sorted_values,
        load_sorted=lambda: kept,
    )


def _categorical_profile(name: str, values: CategoricalValues) -> CategoricalProfile:
    return CategoricalProfile(name, values.counts, values.n_rows, values.n_missing, tuple(values.notes))


def profile_feature(name: str, column: pa.ChunkedArray, kind: Kind, max_ks_values: int | None = None) -> FeatureProfile:
    """One reference feature's profile."""
    if not is_supported_type(column.type):
        return UnusableProfile(name, kind, len(column), f"unsupported column type {column.type}")
    if kind is Kind.NUMERIC:
        return _numeric_profile(name, numeric_values(column, name, "reference"), max_ks_values)
    return _categorical_profile(name, categorical_values(column, name, "reference"))


def build_profile(
    table: pa.Table,
    *,
    categorical: frozenset[str] = frozenset(),
    prediction_column: str | None = None,
    exclude: frozenset[str] = frozenset(),
    max_ks_values: int | None = None,
    source: str = "",
    workers: int = 2,
) -> ReferenceProfile:
    """Profile every column of `table` (but `exclude`), in parallel threads (numpy sorts release the GIL)."""
    if table.num_rows == 0:
        raise DriftInputError(f"the reference sample{f' {source}' if source else ''} is empty (0 rows)")
    if prediction_column is not None and prediction_column not in table.column_names:
        raise DriftInputError(f"prediction column {prediction_column!r} is not in the reference sample")
    names = [name for name in table.column_names if name not in exclude]
    if not names:
        raise DriftInputError("the reference sample has no columns to compare")
    kinds = {name: infer_kind(table.column(name).type, None, name in categorical) for name in names}
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        profiles = list(
            pool.map(lambda name: profile_feature(name, table.column(name), kinds[name], max_ks_values), names)
        )
    return ReferenceProfile({profile.name: profile for profile in profiles}, table.num_rows, prediction_column, source)


def _meta(profile: ReferenceProfile) -> dict[str, Any]:
    features: list[dict[str, Any]] = []
    for feature in profile.features.values():
        entry: dict[str, Any] = {"name": feature.name, "kind": str(feature.kind), "n_rows": feature.n_rows}
        if isinstance(feature, NumericProfile):
            entry |= {
                "edges": feature.edges.tolist(),
                "counts": feature.counts.tolist(),
                "n_missing": feature.n_missing,
                "n_infinite": feature.n_infinite,
                "n_values": feature.n_values,
                "ks_exact": feature.ks_exact,
            }
        elif isinstance(feature, CategoricalProfile):
            entry |= {"counts": feature.counts, "n_missing": feature.n_missing, "notes": list(feature.notes)}
        else:
            entry |= {"problem": feature.problem}
        features.append(entry)
    return {
        "schema": PROFILE_SCHEMA,
        "n_rows": profile.n_rows,
        "prediction_column": profile.prediction_column,
        "source": profile.source,
        "features": features,
    }


def _arrays(profile: ReferenceProfile) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {"meta": np.frombuffer(json.dumps(_meta(profile)).encode(), dtype=np.uint8)}
    for index, feature in enumerate(profile.features.values()):
        if isinstance(feature, NumericProfile):
            arrays[f"sorted_{index}"] = feature.load_sorted()
    return arrays


def write_profile(profile: ReferenceProfile, handle: BinaryIO) -> None:
    """Write the profile as one uncompressed NPZ file: a `meta` JSON document and `sorted_<i>` arrays."""
    np.savez(handle, allow_pickle=False, **_arrays(profile))


def save_profile(profile: ReferenceProfile, path: Path) -> None:
    """Write the profile to a local file (parents created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        write_profile(profile, handle)


def profile_bytes(profile: ReferenceProfile) -> bytes:
    """The NPZ file's bytes (for object stores and MLflow artifacts)."""
    buffer = io.BytesIO()
    write_profile(profile, buffer)
    return buffer.getvalue()


def _lazy(archive: Any, key: str) -> Callable[[], FloatArray]:
    return lambda: np.asarray(archive[key], dtype=np.float64)


def _mapped(path: Path, member: zipfile.ZipInfo) -> Callable[[], FloatArray] | None:
    """A zero-copy loader for an uncompressed NPZ member: memory-map its array data in place (the member's
    local header, then the .npy header, then the raw values); None when the member is not mappable."""
    if member.compress_type != zipfile.ZIP_STORED:
        return None
    with path.open("rb") as handle:
        handle.seek(member.header_offset)
        local = handle.read(30)
        if local[:4] != b"PK\x03\x04":
            return None
        name_length, extra_length = struct.unpack("<HH", local[26:30])
        start = member.header_offset + 30 + name_length + extra_length
        handle.seek(start)
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
        else:
            return None
        offset = handle.tell()
    if fortran or dtype != np.float64 or len(shape) != 1:
        return None
    if shape[0] == 0:
        return lambda: np.empty(0)
    return lambda: np.memmap(path, dtype=np.float64, mode="r", offset=offset, shape=shape)


def _loaders(source: Path | bytes, archive: Any) -> dict[str, Callable[[], FloatArray]]:
    """One loader per `sorted_<i>` array: memory-mapped from a local file, else read from the archive."""
    loaders = {key: _lazy(archive, key) for key in archive.files if key.startswith("sorted_")}
    if isinstance(source, Path):
        with zipfile.ZipFile(source) as listing:
            for member in listing.infolist():
                key = member.filename.removesuffix(".npy")
                mapped = _mapped(source, member) if key in loaders else None
                if mapped is not None:
                    loaders[key] = mapped
    return loaders


def _feature_from_meta(
    entry: Mapping[str, Any], index: int, loaders: Mapping[str, Callable[[], FloatArray]]
) -> FeatureProfile:
    kind = Kind(entry["kind"])
    if "problem" in entry:
        return UnusableProfile(entry["name"], kind, int(entry["n_rows"]), str(entry["problem"]))
    if kind is Kind.NUMERIC:
        return NumericProfile(
            name=entry["name"],
            edges=np.asarray(entry["edges"], dtype=np.float64),
            counts=np.asarray(entry["counts"], dtype=np.int64),
            n_rows=int(entry["n_rows"]),
            n_missing=int(entry["n_missing"]),
            n_infinite=int(entry["n_infinite"]),
            n_values=int(entry["n_values"]),
            ks_exact=bool(entry["ks_exact"]),
            load_sorted=loaders[f"sorted_{index}"],
        )
    counts = {str(key): int(value) for key, value in entry["counts"].items()}
    return CategoricalProfile(
        entry["name"], counts, int(entry["n_rows"]), int(entry["n_missing"]), tuple(entry.get("notes", ()))
    )


def load_profile(source: Path | bytes) -> ReferenceProfile:
    """Read a profile written by `save_profile`; numeric reference values are read when first needed."""
    if isinstance(source, Path) and not source.is_file():
        raise DriftInputError(f"cannot read the reference profile {source}: no such file")
    try:
        archive = np.load(io.BytesIO(source) if isinstance(source, bytes) else source, allow_pickle=False)
        meta = json.loads(bytes(archive["meta"]).decode())
    except (OSError, ValueError, KeyError) as error:
        where = "" if isinstance(source, bytes) else f" {source}"
        raise DriftInputError(f"cannot read the reference profile{where}: {error}") from None
    if meta.get("schema") != PROFILE_SCHEMA:
        raise DriftInputError(f"the reference profile has schema {meta.get('schema')!r}, expected {PROFILE_SCHEMA}")
    try:
        loaders = _loaders(source, archive)
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise DriftInputError(f"cannot read the reference profile: {error}") from None
    features = {
        entry["name"]: _feature_from_meta(entry, index, loaders) for index, entry in enumerate(meta["features"])
    }
    return ReferenceProfile(features, int(meta["n_rows"]), meta.get("prediction_column"), str(meta["source"]))
