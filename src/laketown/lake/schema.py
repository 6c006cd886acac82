"""Arrow schemas in and out of Iceberg: normalising samples, checking writes against a table."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from laketown.errors import SchemaMismatchError

_INT_ORDER = [pa.int8(), pa.int16(), pa.int32(), pa.int64()]


def to_arrow_table(data: Any) -> pa.Table:
    """Accept an Arrow table/batch, a pandas DataFrame, a dict of columns or a list of dicts."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, dict):
        return pa.table(data)
    if isinstance(data, list):
        return pa.Table.from_pylist(data)
    if hasattr(data, "to_arrow"):
        return data.to_arrow()
    if type(data).__module__.startswith("pandas"):
        return pa.Table.from_pandas(data, preserve_index=False)
    raise TypeError(
        f"cannot write a {type(data).__name__}; give a pyarrow Table, a pandas DataFrame, "
        "a dict of columns or a list of dicts"
    )


def _storable(t: pa.DataType) -> pa.DataType:
    """The Arrow type Iceberg stores for ``t`` (what a table created from a sample gets)."""
    if pa.types.is_timestamp(t):
        return pa.timestamp("us", tz="UTC" if t.tz else None)
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return pa.binary()
    if pa.types.is_dictionary(t):
        return _storable(t.value_type)
    if t in (pa.int8(), pa.int16(), pa.uint8(), pa.uint16()):
        return pa.int32()
    if t in (pa.uint32(),):
        return pa.int64()
    if pa.types.is_float16(t):
        return pa.float32()
    if pa.types.is_date64(t):
        return pa.date32()
    if pa.types.is_null(t):
        return pa.string()
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return pa.list_(_storable(t.value_type))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _storable(f.type), f.nullable) for f in t])
    if pa.types.is_large_list(t) or pa.types.is_list_view(t):
        return pa.list_(_storable(t.value_type))
    if pa.types.is_map(t):
        return pa.map_(_storable(t.key_type), _storable(t.item_type))
    return t


def storable_schema(schema: pa.Schema) -> pa.Schema:
    """An Arrow schema Iceberg can hold, derived from a sample's schema (metadata dropped)."""
    return pa.schema([pa.field(f.name, _storable(f.type), f.nullable) for f in schema])


def _compatible(given: pa.DataType, expected: pa.DataType) -> bool:
    given = _storable(given)
    if given == expected:
        return True
    if pa.types.is_integer(given) and pa.types.is_integer(expected):
        return _INT_ORDER.index(given) <= _INT_ORDER.index(expected) if given in _INT_ORDER and expected in _INT_ORDER else False
    if pa.types.is_floating(given) and pa.types.is_floating(expected):
        return given.bit_width <= expected.bit_width
    if pa.types.is_timestamp(given) and pa.types.is_timestamp(expected):
        return (given.tz is None) == (expected.tz is None)
    if pa.types.is_decimal(given) and pa.types.is_decimal(expected):
        return given.scale == expected.scale and given.precision <= expected.precision
    if pa.types.is_list(given) and pa.types.is_list(expected):
        return _compatible(given.value_type, expected.value_type)
    if pa.types.is_struct(given) and pa.types.is_struct(expected):
        names = {f.name: f.type for f in expected}
        return all(f.name in names and _compatible(f.type, names[f.name]) for f in given)
    if pa.types.is_map(given) and pa.types.is_map(expected):
        return _compatible(given.key_type, expected.key_type) and _compatible(given.item_type, expected.item_type)
    return False


def conform(data: pa.Table, target: pa.Schema, table_name: str) -> pa.Table:
    """Check ``data`` against ``target`` and cast it to exactly ``target``.

    Columns may come in any order; absent optional columns become nulls. An unknown column, a
    missing required one, an incompatible type or a null in a required column is a
    :class:`SchemaMismatchError` naming the column, the expected and the given type.
    """
    expected = {f.name: f for f in target}
    unknown = [n for n in data.column_names if n not in expected]
    if unknown:
        raise SchemaMismatchError(
            f"table {table_name!r} has no column {unknown[0]!r}; its columns are: "
            f"{', '.join(expected)}. Add the column first (table.add_column) or drop it from the data"
        )
    columns = []
    for name, field in expected.items():
        if name not in data.column_names:
            if not field.nullable:
                raise SchemaMismatchError(
                    f"table {table_name!r}: required column {name!r} ({field.type}) is missing from the data"
                )
            columns.append(pa.nulls(data.num_rows, field.type))
            continue
        col = data.column(name)
        if not _compatible(col.type, field.type):
            raise SchemaMismatchError(
                f"table {table_name!r}: column {name!r} expects {field.type}, got {col.type}"
            )
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        if not field.nullable and col.null_count:
            raise SchemaMismatchError(
                f"table {table_name!r}: column {name!r} is required but has {col.null_count} null value(s)"
            )
        columns.append(col.cast(field.type) if col.type != field.type else col)
    return pa.Table.from_arrays(columns, schema=target)
