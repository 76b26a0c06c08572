"""MLflow's scoring protocol, fast path: plain numeric rows in the common JSON formats become batchable.

Anything else (CSV, Parquet, `params`, nulls, strings, tensors, unknown keys) is left to MLflow's own scoring
code (`mlflow.pyfunc.scoring_server.invocations`), so every answer matches `mlflow models serve` by
construction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import orjson

from runtime.serving.errors import InvalidJson, UnsupportedMediaType

CONTENT_TYPE_JSON = "application/json"
FORMAT_KEYS = frozenset(("dataframe_split", "dataframe_records", "instances", "inputs"))
_FLOAT_TYPES: dict[str, type[np.generic]] = {"double": np.float64, "float": np.float32}
_INT_TYPES: dict[str, type[np.generic]] = {"long": np.int64, "integer": np.int32}
# JSON integers a column can hold without OverflowError when the frame is built (a 400-digit integer cannot):
# integer columns take their dtype's range; float columns any integer below the dtype's largest power of two
_INT_BOUNDS: dict[type[np.generic], tuple[int, int]] = {
    np.int64: (-(1 << 63), (1 << 63) - 1),
    np.int32: (-(1 << 31), (1 << 31) - 1),
    np.float64: (-(1 << 1023), 1 << 1023),
    np.float32: (-(1 << 127), 1 << 127),
}

Row = Sequence[Any]
_COLUMN_INDEXES: dict[tuple[str, ...], Any] = {}  # pandas Index per column tuple, built once (not per batch)


@dataclass(frozen=True)
class InputSpec:
    """A model's column schema when every column is a required numeric scalar (the batchable case)."""

    columns: tuple[str, ...]
    dtypes: tuple[type[np.generic], ...]
    integer: tuple[bool, ...]

    @property
    def uniform_dtype(self) -> type[np.generic] | None:
        first = self.dtypes[0]
        return first if all(dtype is first for dtype in self.dtypes) else None

    @classmethod
    def from_schema(cls, schema: Any) -> InputSpec | None:
        """The spec of an MLflow `Schema`, or None when it is absent, tensor-based or not purely numeric."""
        if schema is None or schema.is_tensor_spec() or not schema.has_input_names():
            return None
        columns: list[str] = []
        dtypes: list[type[np.generic]] = []
        integer: list[bool] = []
        for spec in schema.inputs:
            type_name = getattr(getattr(spec, "type", None), "name", None)
            if getattr(spec, "optional", False) or type_name is None:
                return None
            if type_name in _FLOAT_TYPES:
                dtypes.append(_FLOAT_TYPES[type_name])
                integer.append(False)
            elif type_name in _INT_TYPES:
                dtypes.append(_INT_TYPES[type_name])
                integer.append(True)
            else:
                return None
            columns.append(str(spec.name))
        if not columns:
            return None
        return cls(tuple(columns), tuple(dtypes), tuple(integer))

    def _column_index(self) -> Any:
        import pandas as pd

        index = _COLUMN_INDEXES.get(self.columns)
        if index is None:
            index = _COLUMN_INDEXES[self.columns] = pd.Index(list(self.columns))
        return index

    @cached_property
    def _checks(self) -> tuple[tuple[bool, int, int], ...]:
        return tuple((integer, *_INT_BOUNDS[dtype]) for integer, dtype in zip(self.integer, self.dtypes, strict=True))

    def valid_row(self, row: Row) -> bool:
        """True when the row has one value per column and each is a number of the column's kind and range.

        Anything else (bool, None, strings, lists, integers the column's dtype cannot hold) is left to MLflow's
        own code, which answers it 4xx: such a row must never reach a micro-batch shared with other callers.
        """
        if len(row) != len(self.columns):
            return False
        for value, (integer, low, high) in zip(row, self._checks, strict=True):
            kind = type(value)
            if kind is float:
                if integer:
                    return False
            elif kind is not int or not low <= value <= high:
                return False
        return True

    def frame(self, rows: Sequence[Row]) -> Any:
        """The pandas DataFrame of `rows` in schema order and dtypes (called in the model thread)."""
        import pandas as pd

        uniform = self.uniform_dtype
        if uniform is not None:
            return pd.DataFrame(np.array(rows, dtype=uniform), columns=self._column_index(), copy=False)
        columns = {
            name: np.fromiter((row[i] for row in rows), dtype=dtype, count=len(rows))
            for i, (name, dtype) in enumerate(zip(self.columns, self.dtypes, strict=True))
        }
        return pd.DataFrame(columns)


def check_content_type(content_type: str | None) -> bool:
    """True for UTF-8 JSON (fast path), False for other types MLflow handles; 415 on a bad charset."""
    if not content_type:
        return False
    mime, *parameters = content_type.split(";")
    if mime.strip().lower() != CONTENT_TYPE_JSON:
        return False
    for parameter in parameters:  # split like MLflow's scoring server, so each parameter is judged alone
        key, _, value = parameter.strip().partition("=")
        if key.strip().lower() != "charset":
            return False  # MLflow answers unknown parameters with 415 naming them; let its code word the message
        if value.strip().strip('"').lower() != "utf-8":
            raise UnsupportedMediaType("The scoring server only supports UTF-8")
    return True


def decode_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise InvalidJson(f"The body is not valid JSON: {error}") from None


def fast_rows(payload: Any, spec: InputSpec) -> list[Row] | None:
    """The payload's rows in schema order when it is plain numeric data in one format key; else None."""
    if not isinstance(payload, dict) or len(payload) != 1:
        return None
    (key, data), = payload.items()  # fmt: skip
    rows: list[Row] | None
    if key == "dataframe_split":
        rows = _split_rows(data, spec)
    elif key in ("dataframe_records", "instances"):
        rows = _record_rows(data, spec)
    elif key == "inputs":
        rows = _record_rows(data, spec) if isinstance(data, list) else _columnar_rows(data, spec)
    else:
        return None
    if not rows:
        return None
    for row in rows:
        if not spec.valid_row(row):
            return None
    return rows


def _split_rows(data: Any, spec: InputSpec) -> list[Row] | None:
    if not isinstance(data, dict) or data.keys() != {"columns", "data"}:
        return None
    columns, values = data["columns"], data["data"]
    if not isinstance(columns, list) or not isinstance(values, list) or len(columns) != len(spec.columns):
        return None
    if tuple(columns) == spec.columns:
        return values if all(isinstance(row, list) for row in values) else None
    if set(columns) != set(spec.columns) or len(set(columns)) != len(columns):
        return None
    order = [columns.index(name) for name in spec.columns]
    if not all(isinstance(row, list) and len(row) == len(columns) for row in values):
        return None
    return [[row[i] for i in order] for row in values]


def _record_rows(data: Any, spec: InputSpec) -> list[Row] | None:
    if not isinstance(data, list):
        return None
    names = spec.columns
    rows: list[Row] = []
    for record in data:
        if not isinstance(record, dict) or len(record) != len(names):
            return None
        try:
            rows.append([record[name] for name in names])
        except KeyError:
            return None
    return rows


def _columnar_rows(data: Any, spec: InputSpec) -> list[Row] | None:
    if not isinstance(data, Mapping) or set(data) != set(spec.columns):
        return None
    columns = [data[name] for name in spec.columns]
    if not all(isinstance(column, list) for column in columns):
        return None
    lengths = {len(column) for column in columns}
    if len(lengths) != 1:
        return None
    return [list(values) for values in zip(*columns, strict=True)]
