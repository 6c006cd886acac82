"""Arrow values -> JSON values.

Datetimes, dates and times become ISO 8601 strings, decimals strings (exact), bytes base64,
NaN and infinities null, durations seconds, maps lists of ``[key, value]``. Integers outside
JavaScript's safe range (±2**53) become strings so a browser does not round them; snapshot ids
are sent as strings for the same reason.
"""

from __future__ import annotations

import base64
import math
import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa

JS_SAFE_INT = 2**53 - 1


def json_value(value: Any) -> Any:
    """One Python value (as ``to_pylist`` gives it) as a JSON-ready value."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        return value if -JS_SAFE_INT <= value <= JS_SAFE_INT else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value) if value.is_finite() else None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    return str(value)


def json_columns(schema: pa.Schema) -> list[dict[str, str]]:
    """``[{"name", "type"}]`` with Arrow type names (``int64``, ``timestamp[us, tz=UTC]``...)."""
    return [{"name": f.name, "type": str(f.type)} for f in schema]


def json_rows(table: pa.Table) -> list[list[Any]]:
    """The rows of ``table`` as lists of JSON values, column order kept."""
    columns = [[json_value(v) for v in col.to_pylist()] for col in table.columns]
    return [list(row) for row in zip(*columns)] if columns else []


def snapshot_id_json(snapshot_id: int | None) -> str | None:
    """Snapshot ids are 64-bit; as strings they survive JavaScript."""
    return None if snapshot_id is None else str(snapshot_id)
