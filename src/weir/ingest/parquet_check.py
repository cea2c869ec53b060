"""What each Parquet file holds, checked before DuckDB reads the files as one table.

DuckDB reads Parquet fast, but bends what does not fit its types, without a word:
- names: a duplicate or case-colliding name is renamed (`a`, `a_1`; `A_1`), an empty one
  becomes `C0`, and across files `Id` and `id` are one column;
- types: a decimal wider than 38 digits is read as a DOUBLE (digits lost, even when the
  column is declared as string); a duration is read as a bare integer (its unit lost);
- files that disagree on a column's type are unified: an int64 in one file and a double in
  another become a double (4611686018427387905 is stored as 4611686018427387904), a
  zone-less timestamp beside a zoned one is read as UTC, a number beside a string becomes
  text.

So each file's own schema is read from its footer (with the Arrow types the writer stored)
and such a load is refused, naming the file, the column and the fix. Widenings DuckDB does
exactly are let through: integers and decimals to a wider integer or decimal, timestamp
units, float32 to float64, integers of up to 32 bits to a double.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from weir.core.errors import SourceRefusedError
from weir.ingest.names import NameRule, check_names, normalise


def check_parquet(
    files: Sequence[Path],
    name: str,
    shown: str,
    declared: Sequence[str] = (),
    rule: NameRule = "keep",
) -> None:
    """Refuse files whose names or types DuckDB would change, and a file that lacks a
    `declared` column (DuckDB would fill it with nulls from the other files' schema, where a
    CSV file is refused); see the module doc."""
    spelled: dict[str, dict[str, str]] = {}  # lower name -> spelling -> first file
    kinds: dict[str, dict[str, tuple[str, Path, pa.DataType]]] = {}  # lower -> kind -> seen
    for path in files:
        try:
            schema = pq.read_schema(path)
        except (pa.ArrowException, OSError) as exc:
            raise SourceRefusedError(
                name,
                f"cannot read {path.name}: it is not a whole Parquet file ({exc}); nothing "
                "was committed",
                fix="re-export the file; a partial copy from a failed write cannot be read",
            ) from None
        check_names(schema.names, "keep", name, path.name)
        held = {normalise(n, rule) for n in schema.names}
        missing = [c for c in declared if c not in held] if len(files) > 1 else []
        if missing:
            raise SourceRefusedError(
                name,
                f"{path.name} has no column {', '.join(missing)} of sources.{name}.columns "
                f"(it has {', '.join(schema.names)}); nothing was committed",
                fix=f"declare only the columns every file has, or fix {path.name}",
            )
        for field in schema:
            _storable(field.name, field.type, path, name)
            spelled.setdefault(field.name.lower(), {}).setdefault(field.name, path.name)
            kinds.setdefault(field.name.lower(), {}).setdefault(
                _kind(field.type), (field.name, path, field.type)
            )
    for spellings in spelled.values():
        if len(spellings) > 1:
            shown_names = ", ".join(f"'{n}' ({f})" for n, f in spellings.items())
            raise SourceRefusedError(
                name,
                f"{shown}: columns {shown_names} differ only by case, and would be read as "
                "one; nothing was committed",
                fix="write every file with the same column names",
            )
    for seen in kinds.values():
        if not _compatible(set(seen)):
            column = next(iter(seen.values()))[0]
            types = "; ".join(f"{p.name}: {t}" for _, p, t in seen.values())
            raise SourceRefusedError(
                name,
                f"{shown}: the files disagree on the type of column {column} ({types}); "
                "reading them as one would change values; nothing was committed",
                fix="write every file with one type for the column, or load the files as "
                "separate sources",
            )


def _storable(column: str, kind: pa.DataType, path: Path, name: str) -> None:
    """Refuse a type DuckDB would read with loss (nested fields included)."""
    if pa.types.is_decimal(kind) and kind.precision > 38:
        raise SourceRefusedError(
            name,
            f"{path.name}: column {column} is {kind}, wider than the 38 digits DuckDB and a "
            "table hold (it would be read as a float, its digits lost); nothing was committed",
            fix="write the column as a string at the source to keep every digit",
        )
    if pa.types.is_duration(kind) or pa.types.is_interval(kind):
        raise SourceRefusedError(
            name,
            f"{path.name}: column {column} is {kind}, which would be read as a bare number "
            "(its unit lost); nothing was committed",
            fix="write it as an integer with its unit in the name (e.g. wait_ms), or as text",
        )
    if pa.types.is_struct(kind):
        for child in kind:
            _storable(f"{column}.{child.name}", child.type, path, name)
    elif (
        pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)
    ):
        _storable(f"{column}[]", kind.value_type, path, name)
    elif pa.types.is_map(kind):
        _storable(f"{column}{{}}", kind.item_type, path, name)


def _kind(kind: pa.DataType) -> str:
    """A type as the class of values DuckDB reads it as; equal classes are read alike."""
    if pa.types.is_dictionary(kind):
        return _kind(kind.value_type)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "string"
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return "binary"
    if pa.types.is_integer(kind):
        return (
            "int32"
            if kind.bit_width <= 32
            else ("uint64" if kind.id == pa.uint64().id else "int64")
        )
    if pa.types.is_decimal(kind):
        return "decimal"
    if pa.types.is_floating(kind):
        return "float"
    if pa.types.is_timestamp(kind):
        return "instant" if kind.tz is not None else "wall-clock time"
    return str(kind)


def _compatible(kinds: set[str]) -> bool:
    """Whether DuckDB unifies these classes without changing a value."""
    return (
        len(kinds) == 1
        or kinds <= {"int32", "int64", "uint64", "decimal"}
        or kinds
        <= {
            "int32",
            "float",
        }
    )
