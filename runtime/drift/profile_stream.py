"""A reference profile built from a stream of record batches, exact and with bounded memory.

Exact deciles and the exact KS test need every reference value sorted, so there is no sketch here: each
numeric column's finite values are appended to a spill file as the batches go by (8 bytes a value, on disk),
then sorted one column at a time in memory and written back in place; the profile memory-maps the sorted
files. Peak memory: one batch, plus one numeric column's values while it is sorted (8 bytes x rows), plus the
categories' counts. The result equals `build_profile` on the same rows.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa

from runtime.drift import sources
from runtime.drift.columns import CategoricalValues, Kind, categorical_values, finite_values, infer_kind
from runtime.drift.columns import is_supported_type as supported
from runtime.drift.errors import DriftInputError
from runtime.drift.profile import (
    CategoricalProfile,
    FeatureProfile,
    NumericProfile,
    ReferenceProfile,
    UnusableProfile,
)
from runtime.drift.statistics import FloatArray, bin_counts, decile_edges
from runtime.drift.streaming import merge_categorical
from runtime.drift.tables import CSV_BLOCK_BYTES


@dataclass
class _Numeric:
    spill: Path
    handle: BinaryIO
    n_rows: int = 0
    n_missing: int = 0
    n_infinite: int = 0


@dataclass
class _State:
    numeric: dict[str, _Numeric] = field(default_factory=dict)
    categorical: dict[str, CategoricalValues] = field(default_factory=dict)
    n_rows: int = 0


def _add(state: _State, batch: pa.Table) -> None:
    state.n_rows += batch.num_rows
    for name, numeric in state.numeric.items():
        values, n_rows, n_missing, n_infinite = finite_values(batch.column(name), name, "reference")
        numeric.handle.write(np.ascontiguousarray(values, dtype=np.float64).tobytes())
        numeric.n_rows += n_rows
        numeric.n_missing += n_missing
        numeric.n_infinite += n_infinite
    for name in list(state.categorical):
        more = categorical_values(batch.column(name), name, "reference")
        state.categorical[name] = merge_categorical(state.categorical[name], more)


def _sorted_in_place(spill: Path) -> FloatArray:
    """Sort the spill file's values (one column in memory at a time) and map the sorted file."""
    values = np.fromfile(spill, dtype=np.float64)
    values.sort()
    values.tofile(spill)
    size = values.size
    del values
    return np.memmap(spill, dtype=np.float64, mode="r", shape=(size,)) if size else np.empty(0)


def _numeric_profile(name: str, numeric: _Numeric, max_ks_values: int | None) -> NumericProfile:
    sorted_values = _sorted_in_place(numeric.spill)
    n_values = int(sorted_values.size)
    edges = decile_edges(sorted_values) if n_values else np.empty(0)
    counts = bin_counts(sorted_values, edges) if n_values else np.zeros(1, dtype=np.int64)
    kept = sorted_values
    if max_ks_values is not None and n_values > max_ks_values:
        kept = np.asarray(sorted_values[np.linspace(0, n_values - 1, max_ks_values).round().astype(np.int64)])
    return NumericProfile(
        name=name,
        edges=edges,
        counts=counts,
        n_rows=numeric.n_rows,
        n_missing=numeric.n_missing,
        n_infinite=numeric.n_infinite,
        n_values=n_values,
        ks_exact=kept is sorted_values,
        load_sorted=lambda: kept,
    )


def _open_state(names: list[str], kinds: dict[str, Kind], unusable: set[str], spill_dir: str) -> _State:
    state = _State()
    for index, name in enumerate(names):
        if name in unusable:
            continue
        if kinds[name] is Kind.NUMERIC:
            spill = Path(spill_dir) / f"{index}.f8"
            state.numeric[name] = _Numeric(spill, spill.open("wb"))
        else:
            state.categorical[name] = CategoricalValues({}, 0, 0)
    return state


def _read_all(
    layout: sources.Layout,
    names: list[str],
    kinds: dict[str, Kind],
    unusable: set[str],
    spill_dir: str,
    batch_rows: int,
) -> _State:
    """Every batch into the spill files and counts; a CSV field longer than a block restarts with bigger blocks."""
    block = CSV_BLOCK_BYTES
    while True:
        state = _open_state(names, kinds, unusable, spill_dir)
        try:
            for batch in sources.stream(layout, batch_rows, block):
                _add(state, batch.select(names))
            return state
        except sources.CsvBlockTooSmall:
            block = sources.next_block_bytes(block)
        finally:
            for numeric in state.numeric.values():
                numeric.handle.close()


@contextmanager
def streamed_profile(
    uri: str,
    *,
    categorical: frozenset[str] = frozenset(),
    prediction_column: str | None = None,
    exclude: frozenset[str] = frozenset(),
    max_ks_values: int | None = None,
    batch_rows: int = sources.DEFAULT_BATCH_ROWS,
) -> Iterator[ReferenceProfile]:
    """The profile of the sample at `uri`, valid inside the `with` block (its sorted values are memory-mapped
    spill files under $TMPDIR, removed afterwards)."""
    layout = sources.layout(uri)
    names = [name for name in layout.names if name not in exclude]
    if prediction_column is not None and prediction_column not in layout.names:
        raise DriftInputError(f"prediction column {prediction_column!r} is not in the reference sample")
    if not names:
        raise DriftInputError("the reference sample has no columns to compare")
    kinds = {name: infer_kind(layout.types[name], None, name in categorical) for name in names}
    unusable = {name for name in names if not supported(layout.types[name])}
    with tempfile.TemporaryDirectory(prefix="mlplat-drift-profile-") as spill_dir:
        state = _read_all(layout, names, kinds, unusable, spill_dir, batch_rows)
        if state.n_rows == 0:
            raise DriftInputError(f"the reference sample {uri} is empty (0 rows)")
        features: dict[str, FeatureProfile] = {}
        for name in names:
            if name in unusable:
                problem = f"unsupported column type {layout.types[name]}"
                features[name] = UnusableProfile(name, kinds[name], state.n_rows, problem)
            elif name in state.numeric:
                features[name] = _numeric_profile(name, state.numeric[name], max_ks_values)
            else:
                counted = state.categorical[name]
                features[name] = CategoricalProfile(
                    name, counted.counts, counted.n_rows, counted.n_missing, tuple(counted.notes)
                )
        yield ReferenceProfile(features, state.n_rows, prediction_column, uri)
