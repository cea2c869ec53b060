"""Reading monitored columns out of Arrow tables: which type class a column belongs to, its
values as numbers or as categories, its missing count, and the kind a column without a
declared kind gets.

Missing values: a null is missing, and so is a floating-point NaN (Arrow tables made from
pandas carry missing floats as NaN; counting NaN as a value would split one missingness
over two spellings). ±Infinity is a value: it falls beyond every reference quantile, so it
lands in the outermost bins. An empty string is a category like any other.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.types as pat

from weir.core.errors import MonitorError

FeatureKind = Literal["numeric", "categorical", "binary"]
TypeClass = Literal["number", "boolean", "string"]

FloatArray = npt.NDArray[np.float64]


def type_class(data_type: pa.DataType) -> TypeClass | None:
    """The class a column's type belongs to, or None for types that are not features here
    (timestamps, dates, lists, binary blobs). Integers, floats and decimals are numbers."""
    if pat.is_dictionary(data_type):
        return type_class(data_type.value_type)
    if pat.is_boolean(data_type):
        return "boolean"
    if pat.is_integer(data_type) or pat.is_floating(data_type) or pat.is_decimal(data_type):
        return "number"
    if pat.is_string(data_type) or pat.is_large_string(data_type) or pat.is_string_view(data_type):
        return "string"
    return None


def column_of(table: pa.Table, name: str, role: str) -> pa.ChunkedArray:
    """The named column, or a MonitorError saying which table lacks it."""
    if name not in table.column_names:
        raise MonitorError(
            f"column '{name}' is in the drift reference but not in the {role} data "
            f"(it has {len(table.column_names)} columns)",
            fix=f"include column '{name}' in the {role} data, or fit the reference without it",
        )
    return table.column(name)


def class_of(column: pa.ChunkedArray, name: str) -> TypeClass:
    """The column's type class; a MonitorError for types that are not features."""
    found = type_class(column.type)
    if found is None:
        raise MonitorError(
            f"column '{name}' has type {column.type}, which drift does not judge "
            "(features are numbers, booleans or strings; timestamps are not features here)",
            fix=f"leave column '{name}' out of the monitored columns, or cast it to a number or string",
        )
    return found


def check_class(column: pa.ChunkedArray, name: str, expected: TypeClass) -> None:
    """A MonitorError when the current data's column changed type class since the reference."""
    found = class_of(column, name)
    if found != expected:
        raise MonitorError(
            f"column '{name}' was a {expected} column in the drift reference and is a {found} "
            f"column ({column.type}) in the current data",
            fix=f"cast column '{name}' back to a {expected} type where the current data is "
            "produced, or fit a new reference if the change is intended",
        )


def numbers(column: pa.ChunkedArray) -> tuple[FloatArray, int]:
    """The non-missing values as float64 (±inf kept) and the count of missing ones (null or NaN)."""
    if pat.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    values = pc.cast(column, pa.float64()).to_numpy()
    present = values[~np.isnan(values)]
    return present, len(values) - len(present)


def categories(column: pa.ChunkedArray) -> tuple[pa.Array, int]:
    """The non-null values as one Arrow array of the column's value type, and the null count."""
    if pat.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if pat.is_string_view(column.type):  # Arrow's sort does not take views yet
        column = column.cast(pa.large_string())
    present = pc.drop_null(column).combine_chunks()
    if pat.is_floating(present.type):
        present = present.filter(pc.invert(pc.is_nan(present)))
    return present, len(column) - len(present)


def distinct_count(column: pa.ChunkedArray, name: str) -> int:
    """Distinct non-missing values (NaN is missing, as everywhere here)."""
    if class_of(column, name) == "number":
        values, _ = numbers(column)
        return len(np.unique(values))
    present, _ = categories(column)
    return len(pc.unique(present))


def infer_kinds(table: pa.Table, columns: Iterable[str]) -> dict[str, FeatureKind]:
    """The kind of each named column that has no declared kind: binary when it holds exactly
    two distinct non-missing values, else numeric for numbers and categorical for strings
    and booleans. Integer codes that are really categories must be declared categorical:
    nothing in an integer column says whether 3 lies between 2 and 4."""
    kinds: dict[str, FeatureKind] = {}
    for name in columns:
        column = column_of(table, name, "reference")
        found = class_of(column, name)
        if distinct_count(column, name) == 2:
            kinds[name] = "binary"
        else:
            kinds[name] = "numeric" if found == "number" else "categorical"
    return kinds
