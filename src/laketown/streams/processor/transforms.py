"""Stateless steps on Arrow tables: map (table -> table) and filter (table -> boolean mask)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from laketown.errors import ConfigError


class Map:
    """Applies ``fn(table) -> table`` to each batch (add, drop or compute columns with
    ``pyarrow.compute``). The row order must be kept; rows may be dropped."""

    def __init__(self, fn: Callable[[pa.Table], pa.Table]):
        self.fn = fn

    def __call__(self, table: pa.Table) -> pa.Table:
        out = self.fn(table)
        if not isinstance(out, pa.Table):
            raise ConfigError(f"map step {_name(self.fn)} returned {type(out).__name__}, not a pyarrow.Table")
        return out


class Filter:
    """Keeps the rows where ``fn(table)`` is true (a boolean Arrow array or NumPy array; null
    counts as false)."""

    def __init__(self, fn: Callable[[pa.Table], Any]):
        self.fn = fn

    def __call__(self, table: pa.Table) -> pa.Table:
        mask = self.fn(table)
        if isinstance(mask, np.ndarray):
            mask = pa.array(mask)
        if not isinstance(mask, (pa.Array, pa.ChunkedArray)) or not pa.types.is_boolean(mask.type):
            raise ConfigError(
                f"filter step {_name(self.fn)} returned {type(mask).__name__}; return a boolean array, "
                "e.g. pc.greater(t['temp'], 50)"
            )
        if len(mask) != table.num_rows:
            raise ConfigError(f"filter step {_name(self.fn)} returned {len(mask)} flags for {table.num_rows} rows")
        return table.filter(mask, null_selection_behavior="drop")


def _name(fn: Callable) -> str:
    return getattr(fn, "__name__", repr(fn))
