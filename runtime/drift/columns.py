"""Turn one Arrow column into what the statistics need: sorted finite numbers or category counts.

Missing values (null or NaN) and infinities are excluded from the statistics and counted, never dropped
silently. Type problems either become a clear `DriftInputError` (text in a numeric column) or a note.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from runtime.drift.errors import DriftInputError
from runtime.drift.statistics import FloatArray, sort_values


class Kind(StrEnum):
    """How a feature is compared: binned deciles + KS, or category counts + chi-squared."""

    NUMERIC = "numeric"
    CATEGORICAL = "categorical"


@dataclass(frozen=True)
class NumericValues:
    """A numeric column's finite values, sorted, and what was excluded from them."""

    sorted_values: FloatArray
    n_rows: int
    n_missing: int
    n_infinite: int


@dataclass(frozen=True)
class CategoricalValues:
    """A categorical column's counts per category (as text) and its number of missing values."""

    counts: dict[str, int]
    n_rows: int
    n_missing: int
    notes: list[str] = field(default_factory=list)


def is_numeric_type(data_type: pa.DataType) -> bool:
    """Integers, floats and decimals are numeric; booleans count as categories."""
    return bool(pa.types.is_integer(data_type) or pa.types.is_floating(data_type) or pa.types.is_decimal(data_type))


def is_text_type(data_type: pa.DataType) -> bool:
    return bool(pa.types.is_string(data_type) or pa.types.is_large_string(data_type))


def is_supported_type(data_type: pa.DataType) -> bool:
    """Types the drift statistics can compare (nested, binary and temporal columns cannot)."""
    return bool(
        is_numeric_type(data_type)
        or is_text_type(data_type)
        or pa.types.is_boolean(data_type)
        or pa.types.is_dictionary(data_type)
        or pa.types.is_null(data_type)
    )


def infer_kind(reference_type: pa.DataType, current_type: pa.DataType | None, declared_categorical: bool) -> Kind:
    """Categorical when declared, or when the reference (or, if the reference is all-null, the current)
    column holds something other than numbers."""
    if declared_categorical:
        return Kind.CATEGORICAL
    deciding = current_type if pa.types.is_null(reference_type) and current_type is not None else reference_type
    if is_numeric_type(deciding) or pa.types.is_null(deciding):
        return Kind.NUMERIC
    return Kind.CATEGORICAL


def _as_float64(column: pa.ChunkedArray, name: str, side: str) -> pa.ChunkedArray:
    if pa.types.is_float64(column.type):
        return column
    if is_numeric_type(column.type) or pa.types.is_null(column.type):
        return column.cast(pa.float64())
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if is_text_type(column.type):
        stripped = pc.utf8_trim_whitespace(column)
        try:
            return stripped.cast(pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            bad = _first_non_numeric(stripped)
            raise DriftInputError(
                f"column {name!r} is numeric but the {side} sample holds text that is not a number "
                f"(for example {bad!r}); declare it with --categorical or fix the data"
            ) from None
    raise DriftInputError(f"column {name!r} in the {side} sample has type {column.type}, which is not numeric")


def _first_non_numeric(column: pa.ChunkedArray) -> str:
    for value in column.drop_null().to_pylist():
        try:
            float(value)
        except ValueError:
            text = str(value)
            return text if len(text) <= 80 else f"{text[:60]}...({len(text)} chars)"
    return "?"


def finite_values(column: pa.ChunkedArray, name: str, side: str) -> tuple[FloatArray, int, int, int]:
    """The finite values (unsorted; may be a read-only view), the row count, missing (null, NaN) and +-inf."""
    values = _as_float64(column, name, side).to_numpy()
    finite = np.isfinite(values)
    n_finite = int(np.count_nonzero(finite))
    n_rows = int(values.size)
    if n_finite == n_rows:
        return values, n_rows, 0, 0
    n_nan = int(np.count_nonzero(np.isnan(values)))
    return values[finite], n_rows, n_nan, n_rows - n_finite - n_nan


def numeric_values(column: pa.ChunkedArray, name: str, side: str) -> NumericValues:
    """Finite values sorted; nulls and NaN counted as missing, +-inf counted as infinite."""
    values, n_rows, n_missing, n_infinite = finite_values(column, name, side)
    return NumericValues(sort_values(values, owned=n_missing + n_infinite > 0), n_rows, n_missing, n_infinite)


def categorical_values(column: pa.ChunkedArray, name: str, side: str) -> CategoricalValues:
    """Counts per category as text; nulls (and NaN in a float column) counted as missing."""
    notes: list[str] = []
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if pa.types.is_floating(column.type):
        column = pc.if_else(pc.is_nan(column), None, column)
    if not is_text_type(column.type):
        if not is_supported_type(column.type):
            raise DriftInputError(f"column {name!r} in the {side} sample has unsupported type {column.type}")
        notes.append(f"{side} values of type {column.type} compared as text")
        column = column.cast(pa.string())
    n_rows = len(column)
    n_missing = column.null_count
    counts: dict[str, int] = {}
    if n_missing < n_rows:
        counted = pc.value_counts(column.drop_null())
        for value, count in zip(counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True):
            counts[str(value)] = int(count)
    return CategoricalValues(counts, n_rows, n_missing, notes)
