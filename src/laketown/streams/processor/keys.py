"""Group keys -> dense integer ids, batch at a time (Arrow hash kernels, no loop per record).

Each key column is dictionary-encoded per batch and its dictionary looked up in the values seen
so far; several columns are folded pairwise into one id. Ids are stable for the life of the
encoder, so window state can be kept in NumPy arrays indexed by them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from laketown.errors import ConfigError


class _ValueIds:
    """Values of one column (or folded pair codes) -> stable ids in order of first sight."""

    def __init__(self) -> None:
        self._known: pa.Array | None = None
        self.size = 0

    def ids(self, uniques: pa.Array) -> np.ndarray:
        """Id of each distinct value in ``uniques``, adding the unseen ones."""
        if self._known is None:
            pos = np.full(len(uniques), -1, dtype=np.int64)
        else:
            pos = pc.index_in(uniques, value_set=self._known, skip_nulls=False).to_numpy(zero_copy_only=False)
            pos = np.where(np.isnan(pos), -1, pos).astype(np.int64) if pos.dtype.kind == "f" else pos.astype(np.int64)
        new = np.flatnonzero(pos < 0)
        if len(new):
            pos[new] = self.size + np.arange(len(new))
            self._add(uniques.take(pa.array(new)))
        return pos

    def _add(self, values: pa.Array) -> None:
        self._known = values if self._known is None else pa.concat_arrays([self._known, values])
        self.size += len(values)

    def values(self, ids: np.ndarray) -> pa.Array:
        assert self._known is not None
        return self._known.take(pa.array(ids, pa.int64()))


def _dense_codes(codes: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of non-negative ``codes`` < ``width``: ``(inverse, uniques)``."""
    if width <= max(4 * len(codes), 1 << 16):
        present = np.zeros(width, dtype=bool)
        present[codes] = True
        uniques = np.flatnonzero(present)
        remap = np.cumsum(present) - 1
        return remap[codes], uniques
    uniques, inverse = np.unique(codes, return_inverse=True)
    return inverse.reshape(-1), uniques


def _distinct(col: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """``(indices, dictionary)`` of a column: NumPy counting for integers of a small range
    (the common device-id case, several times faster), Arrow's hash kernel otherwise."""
    if pa.types.is_integer(col.type) and not col.null_count and len(col):
        v = col.to_numpy()
        lo, hi = int(v.min()), int(v.max())
        if hi - lo < max(4 * len(v), 1 << 16):
            inverse, uniq = _dense_codes((v - lo).astype(np.int64, copy=False), hi - lo + 1)
            return inverse, pa.array(uniq + lo).cast(col.type)
    enc = pc.dictionary_encode(col, null_encoding="encode")
    return enc.indices.to_numpy(zero_copy_only=False).astype(np.int64, copy=False), enc.dictionary


class KeyEncoder:
    """Encodes the group key columns of batches to dense int64 ids (first seen, first id).
    With no key columns every row gets id 0 (one global group)."""

    def __init__(self, columns: Sequence[str]):
        if isinstance(columns, str):
            columns = [columns]
        self.columns = list(columns)
        self._cols = [_ValueIds() for _ in self.columns]
        self._pairs = [_ValueIds() for _ in self.columns[1:]]
        # for every key id, its code in each column (to give the key values back)
        self._codes: list[np.ndarray] = [np.empty(0, np.int64) for _ in self.columns]
        self._types: list[pa.DataType | None] = [None] * len(self.columns)

    @property
    def size(self) -> int:
        """How many distinct keys have been seen."""
        if not self.columns:
            return 1
        return (self._pairs[-1] if self._pairs else self._cols[0]).size

    def encode(self, table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
        """``(local, ids)``: each row's index into ``ids``, the distinct key ids of the batch."""
        n = table.num_rows
        if not self.columns:
            return np.zeros(n, np.int64), np.zeros(1 if n else 0, np.int64)
        local = ids = None
        parts: list[np.ndarray] = []
        for i, name in enumerate(self.columns):
            if name not in table.column_names:
                raise ConfigError(
                    f"group key column {name!r} is not in the records; columns are: {', '.join(table.column_names)}"
                )
            col = table.column(name).combine_chunks()
            if self._types[i] is None:
                self._types[i] = col.type
            elif col.type != self._types[i]:
                col = col.cast(self._types[i])
            idx, dictionary = _distinct(col)
            cid = self._cols[i].ids(dictionary)
            if i == 0:
                local, ids, parts = idx, cid, [cid]
                continue
            # fold (key so far, this column) into one key: batch-local first, then global
            assert local is not None and ids is not None
            width = len(cid)
            local, uniq = _dense_codes(local * width + idx, len(ids) * width)
            left, right = uniq // width, uniq % width
            parts = [p[left] for p in parts] + [cid[right]]
            ids = self._pairs[i - 1].ids(pa.array((ids[left] << 32) | cid[right], pa.int64()))
        assert local is not None and ids is not None
        size = self.size
        if len(self._codes[0]) < size:
            grow = size - len(self._codes[0])
            self._codes = [np.concatenate([c, np.zeros(grow, np.int64)]) for c in self._codes]
            for j, p in enumerate(parts):
                self._codes[j][ids] = p
        return local, ids

    def key_values(self, ids: np.ndarray) -> dict[str, pa.Array]:
        """Key column values of the given ids."""
        ids = np.asarray(ids, dtype=np.int64)
        return {name: self._cols[j].values(self._codes[j][ids]) for j, name in enumerate(self.columns)}
