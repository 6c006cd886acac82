"""Stream-table lookup join: enrich each batch with the matching row of a reference table.

The table comes from a callable (e.g. a scan of an Iceberg table) and is reloaded every
``refresh`` interval, checked when a batch arrives. The join is one Arrow hash join per batch;
the batch's row order is kept (event order matters to windows).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa

from laketown.errors import ConfigError
from laketown.streams.processor.windows import parse_duration

_ROW = "__lookup_row"


class LookupJoin:
    """Left (or inner) join of each batch with ``table()`` on ``on`` (or ``left_on``/``right_on``).

    The reference table should have one row per key; if it has several, the last one wins.
    Right-side columns named like stream columns get ``right_suffix``."""

    def __init__(
        self,
        table: Callable[[], pa.Table],
        on: str | Sequence[str] | None = None,
        *,
        left_on: str | Sequence[str] | None = None,
        right_on: str | Sequence[str] | None = None,
        refresh: str | int = "60s",
        how: str = "left",
        right_suffix: str = "_lookup",
        clock: Callable[[], float] = time.monotonic,
    ):
        if how not in ("left", "inner"):
            raise ConfigError(f"lookup join how={how!r}: use 'left' (keep unmatched records) or 'inner'")
        if on is None and (left_on is None or right_on is None):
            raise ConfigError("lookup join needs on= or both left_on= and right_on=")
        self.load = table
        self.left_on = _names(left_on if left_on is not None else on)
        self.right_on = _names(right_on if right_on is not None else on)
        if len(self.left_on) != len(self.right_on):
            raise ConfigError(f"lookup join keys differ in number: {self.left_on} vs {self.right_on}")
        self.refresh_s = parse_duration(refresh, "lookup refresh") / 1000
        self.how = how
        self.right_suffix = right_suffix
        self.clock = clock
        self._table: pa.Table | None = None
        self._loaded_at = 0.0
        self.loads = 0

    def reference(self) -> pa.Table:
        """The reference table, reloaded when older than the refresh interval."""
        now = self.clock()
        if self._table is None or now - self._loaded_at >= self.refresh_s:
            table = self.load()
            if not isinstance(table, pa.Table):
                raise ConfigError(f"lookup table callable returned {type(table).__name__}, not a pyarrow.Table")
            missing = [c for c in self.right_on if c not in table.column_names]
            if missing:
                raise ConfigError(
                    f"lookup table has no column {missing[0]!r}; its columns are: {', '.join(table.column_names)}"
                )
            self._table = _last_per_key(table, self.right_on)
            self._loaded_at = now
            self.loads += 1
        return self._table

    def __call__(self, batch: pa.Table) -> pa.Table:
        ref = self.reference()
        missing = [c for c in self.left_on if c not in batch.column_names]
        if missing:
            raise ConfigError(f"lookup key {missing[0]!r} is not in the records; columns are: {', '.join(batch.column_names)}")
        left = batch.append_column(_ROW, pa.array(np.arange(batch.num_rows, dtype=np.int64)))
        joined = left.join(
            ref,
            keys=self.left_on,
            right_keys=self.right_on,
            join_type="left outer" if self.how == "left" else "inner",
            right_suffix=self.right_suffix,
            coalesce_keys=True,
        )
        return joined.sort_by(_ROW).drop_columns([_ROW])


def _names(v: str | Sequence[str] | None) -> list[str]:
    return [v] if isinstance(v, str) else list(v or [])


def _last_per_key(table: pa.Table, keys: list[str]) -> pa.Table:
    if not table.num_rows:
        return table
    indexed = table.append_column(_ROW, pa.array(np.arange(table.num_rows, dtype=np.int64)))
    last = indexed.group_by(keys, use_threads=False).aggregate([(_ROW, "max")])
    if last.num_rows == table.num_rows:
        return table
    rows = np.sort(last.column(f"{_ROW}_max").to_numpy())
    return table.take(pa.array(rows))
