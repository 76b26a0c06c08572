"""The reference profile: everything a drift run needs from the reference, computed once (at training time).

Per numeric feature: decile edges, bin counts and the *sorted* finite reference values, so the KS test stays
exact (a bounded subsample can be kept instead with `max_ks_values`; the report then says `ks_exact: false`).
Per categorical feature: the category counts. Saved as one uncompressed NPZ file (`numpy.load` reads it): a
`meta` JSON document plus one array per numeric feature. A local file's arrays are memory-mapped in place (no
copy), others are read lazily, so a run holds one reference column at a time.
"""

from __future__ import annotations

import io
import itertools
import json
import struct
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, Field, FiniteFloat, NonNegativeInt, ValidationError, model_validator

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
from runtime.drift.storage import private_file

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
    with private_file(path) as handle:
        write_profile(profile, handle)


def profile_bytes(profile: ReferenceProfile) -> bytes:
    """The NPZ file's bytes (for object stores and MLflow artifacts)."""
    buffer = io.BytesIO()
    write_profile(profile, buffer)
    return buffer.getvalue()


# A profile's meta document is small (counts, edges); more than this uncompressed is refused (zip bombs).
MAX_META_BYTES = 64 << 20
# Room for a .npy header (numpy pads it to a multiple of 64 bytes; a 1-D header is well under 256).
NPY_HEADER_BYTES = 4096


class _NumericMeta(BaseModel):
    name: str
    kind: Literal["numeric"]
    n_rows: NonNegativeInt
    edges: list[FiniteFloat]
    counts: list[NonNegativeInt]
    n_missing: NonNegativeInt
    n_infinite: NonNegativeInt
    n_values: NonNegativeInt
    ks_exact: bool

    @model_validator(mode="after")
    def _consistent(self) -> _NumericMeta:
        if self.n_missing + self.n_infinite + self.n_values != self.n_rows:
            raise ValueError("n_missing + n_infinite + n_values must equal n_rows")
        if len(self.counts) != len(self.edges) + 1:
            raise ValueError(f"{len(self.edges)} edges need {len(self.edges) + 1} counts, not {len(self.counts)}")
        if any(high <= low for low, high in itertools.pairwise(self.edges)):
            raise ValueError("edges must increase strictly")
        if sum(self.counts) != self.n_values:
            raise ValueError("the bin counts must add up to n_values")
        return self


class _CategoricalMeta(BaseModel):
    name: str
    kind: Literal["categorical"]
    n_rows: NonNegativeInt
    counts: dict[str, NonNegativeInt]
    n_missing: NonNegativeInt
    notes: list[str] = []

    @model_validator(mode="after")
    def _consistent(self) -> _CategoricalMeta:
        if sum(self.counts.values()) + self.n_missing != self.n_rows:
            raise ValueError("the category counts plus n_missing must equal n_rows")
        return self


class _UnusableMeta(BaseModel):
    name: str
    kind: Kind
    n_rows: NonNegativeInt
    problem: str


class _ProfileMeta(BaseModel):
    schema_: Literal["mlplat.drift-profile/v1"] = Field(alias="schema")
    n_rows: NonNegativeInt
    prediction_column: str | None = None
    source: str = ""
    features: list[dict[str, Any]]


def _invalid(error: ValidationError, prefix: str = "") -> DriftInputError:
    problems = "; ".join(
        f"{prefix}{'.'.join(str(part) for part in item['loc'])}: {item['msg']}" if item["loc"] else item["msg"]
        for item in error.errors()[:5]
    )
    return DriftInputError(f"the reference profile is invalid: {problems}")


def _feature_meta(entry: dict[str, Any], index: int) -> _NumericMeta | _CategoricalMeta | _UnusableMeta:
    model: type[_NumericMeta | _CategoricalMeta | _UnusableMeta]
    if "problem" in entry:
        model = _UnusableMeta
    elif entry.get("kind") == "numeric":
        model = _NumericMeta
    else:
        model = _CategoricalMeta
    try:
        return model.model_validate(entry)
    except ValidationError as error:
        raise _invalid(error, f"features.{index}.") from None


def _read_npy_header(handle: BinaryIO) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    version = np.lib.format.read_magic(handle)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(handle)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(handle)
    raise ValueError(f"unsupported .npy version {version}")


def _read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, dtype: str, length: int | None) -> np.ndarray:
    """A 1-D array member of `dtype`, its header checked (and its length, when given) before anything is read."""
    with archive.open(member) as handle:
        shape, fortran, found = _read_npy_header(handle)  # type: ignore[arg-type]
        if fortran or found != np.dtype(dtype) or len(shape) != 1 or (length is not None and shape[0] != length):
            raise DriftInputError(
                f"the reference profile's {member.filename} holds {found} {shape}, expected {dtype} "
                f"({'?' if length is None else length},)"
            )
        data = handle.read(shape[0] * np.dtype(dtype).itemsize)
    if len(data) != shape[0] * np.dtype(dtype).itemsize:
        raise DriftInputError(f"the reference profile's {member.filename} is truncated")
    return np.frombuffer(data, dtype=dtype)


def _checked_sorted(values: FloatArray, name: str) -> FloatArray:
    """Sorted finite values, or a `DriftInputError` (a profile's arrays are data from outside)."""
    if values.size and not (np.isfinite(values).all() and (values[1:] >= values[:-1]).all()):
        raise DriftInputError(f"the reference profile's values of {name!r} are not sorted finite numbers")
    return values


def _mapped(path: Path, member: zipfile.ZipInfo, length: int) -> Callable[[], FloatArray] | None:
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
        shape, fortran, dtype = _read_npy_header(handle)
        offset = handle.tell()
    if fortran or dtype != np.float64 or shape != (length,):
        return None
    if offset + 8 * length > path.stat().st_size:
        raise DriftInputError(f"the reference profile's {member.filename} is truncated")
    if length == 0:
        return lambda: np.empty(0)
    return lambda: np.memmap(path, dtype=np.float64, mode="r", offset=offset, shape=(length,))


def _loader(source: Path | bytes, member: zipfile.ZipInfo, length: int, name: str) -> Callable[[], FloatArray]:
    """The sorted values of one numeric feature: memory-mapped from a local uncompressed file, else read
    from the archive when first needed; checked (shape, dtype, sorted and finite) either way."""
    if isinstance(source, Path):
        mapped = _mapped(source, member, length)
        if mapped is not None:
            return lambda: _checked_sorted(mapped(), name)

    def read() -> FloatArray:
        with zipfile.ZipFile(source if isinstance(source, Path) else io.BytesIO(source)) as archive:
            return _checked_sorted(_read_member(archive, member, "<f8", length).astype(np.float64), name)

    return read


def _feature(
    meta: _NumericMeta | _CategoricalMeta | _UnusableMeta, loader: Callable[[], FloatArray] | None
) -> FeatureProfile:
    if isinstance(meta, _UnusableMeta):
        return UnusableProfile(meta.name, meta.kind, meta.n_rows, meta.problem)
    if isinstance(meta, _NumericMeta):
        assert loader is not None
        return NumericProfile(
            name=meta.name,
            edges=np.asarray(meta.edges, dtype=np.float64),
            counts=np.asarray(meta.counts, dtype=np.int64),
            n_rows=meta.n_rows,
            n_missing=meta.n_missing,
            n_infinite=meta.n_infinite,
            n_values=meta.n_values,
            ks_exact=meta.ks_exact,
            load_sorted=loader,
        )
    return CategoricalProfile(meta.name, dict(meta.counts), meta.n_rows, meta.n_missing, tuple(meta.notes))


def _read_meta(archive: zipfile.ZipFile) -> dict[str, Any]:
    member = next((info for info in archive.infolist() if info.filename == "meta.npy"), None)
    if member is None:
        raise DriftInputError("the reference profile has no meta document")
    if member.file_size > MAX_META_BYTES + NPY_HEADER_BYTES:
        raise DriftInputError(
            f"the reference profile's meta document is {member.file_size} bytes uncompressed, "
            f"more than {MAX_META_BYTES >> 20} MiB"
        )
    meta = json.loads(_read_member(archive, member, "|u1", None).tobytes().decode())
    if not isinstance(meta, dict):
        raise DriftInputError("the reference profile's meta document is not a JSON object")
    return meta


def load_profile(source: Path | bytes) -> ReferenceProfile:
    """Read a profile written by `save_profile`, validated (shapes, counts, sizes before decompressing);
    numeric reference values are read when first needed."""
    if isinstance(source, Path) and not source.is_file():
        raise DriftInputError(f"cannot read the reference profile {source}: no such file")
    where = "" if isinstance(source, bytes) else f" {source}"
    try:
        with zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source) as archive:
            meta = _read_meta(archive)
            members = {info.filename: info for info in archive.infolist()}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise DriftInputError(f"cannot read the reference profile{where}: {error}") from None
    if meta.get("schema") != PROFILE_SCHEMA:
        raise DriftInputError(f"the reference profile has schema {meta.get('schema')!r}, expected {PROFILE_SCHEMA}")
    try:
        header = _ProfileMeta.model_validate(meta)
    except ValidationError as error:
        raise _invalid(error) from None
    entries = [_feature_meta(entry, index) for index, entry in enumerate(header.features)]
    names = [entry.name for entry in entries]
    if len(set(names)) != len(names):
        raise DriftInputError("the reference profile names a feature twice")
    if header.prediction_column is not None and header.prediction_column not in names:
        raise DriftInputError(
            f"the reference profile's prediction column {header.prediction_column!r} is not a feature"
        )
    expected = {"meta.npy"}
    features: dict[str, FeatureProfile] = {}
    for index, entry in enumerate(entries):
        if entry.n_rows != header.n_rows:
            raise DriftInputError(
                f"the reference profile's feature {entry.name!r} has {entry.n_rows} rows, not {header.n_rows}"
            )
        loader = None
        if isinstance(entry, _NumericMeta):
            key, loader = _numeric_loader(source, members, entry, index)
            expected.add(key)
        features[entry.name] = _feature(entry, loader)
    unexpected = sorted(set(members) - expected)
    if unexpected:
        raise DriftInputError(f"the reference profile has unexpected members: {', '.join(unexpected[:5])}")
    return ReferenceProfile(features, header.n_rows, header.prediction_column, header.source)


def _numeric_loader(
    source: Path | bytes, members: dict[str, zipfile.ZipInfo], entry: _NumericMeta, index: int
) -> tuple[str, Callable[[], FloatArray]]:
    """The member holding a numeric feature's sorted values, its declared size checked, and its loader."""
    key = f"sorted_{index}.npy"
    member = members.get(key)
    length = entry.n_values
    if member is None:
        raise DriftInputError(f"the reference profile lacks the values of {entry.name!r} ({key})")
    if member.file_size > 8 * length + NPY_HEADER_BYTES:
        raise DriftInputError(
            f"the reference profile's {key} is {member.file_size} bytes uncompressed, "
            f"more than {entry.n_values} values need"
        )
    if not entry.ks_exact:
        length = _stored_length(source, member)
        if not 2 <= length <= entry.n_values:
            raise DriftInputError(f"the reference profile's {key} holds {length} values of {entry.n_values}")
    return key, _loader(source, member, length, entry.name)


def _stored_length(source: Path | bytes, member: zipfile.ZipInfo) -> int:
    """The length a member's .npy header declares (for subsampled values, whose count the meta does not hold)."""
    with (
        zipfile.ZipFile(source if isinstance(source, Path) else io.BytesIO(source)) as archive,
        archive.open(member) as handle,
    ):
        shape, _, _ = _read_npy_header(handle)  # type: ignore[arg-type]
    if len(shape) != 1:
        raise DriftInputError(f"the reference profile's {member.filename} is not one-dimensional")
    return int(shape[0])
