"""Partial aggregate state of open windows: per window, sorted key ids and aligned arrays."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from laketown.streams.processor.aggregations import Aggregation, State


class WindowState:
    """State of one window: ``keys`` (sorted int64 key ids) and, aligned with them, one state
    per aggregation plus ``dirty`` (changed since the last result went out)."""

    __slots__ = ("dirty", "fired", "keys", "start", "states")

    def __init__(self, start: int, aggs: Sequence[Aggregation]):
        self.start = start
        self.keys = np.empty(0, np.int64)
        self.states: list[State] = [a.identity(0) for a in aggs]
        self.dirty = np.zeros(0, bool)
        self.fired = False

    def merge(self, aggs: Sequence[Aggregation], keys: np.ndarray, partials: Sequence[State]) -> None:
        """Merge per-key partial states (``keys`` distinct) into this window."""
        pos = np.searchsorted(self.keys, keys)
        hit = pos < len(self.keys)
        hit[hit] = self.keys[pos[hit]] == keys[hit]
        if not hit.all():
            self._grow(aggs, keys[~hit])
            pos = np.searchsorted(self.keys, keys)
        for i, agg in enumerate(aggs):
            cur = [a[pos] for a in self.states[i]]
            for arr, merged in zip(self.states[i], agg.merge(cur, list(partials[i]))):
                arr[pos] = merged
        self.dirty[pos] = True

    def _grow(self, aggs: Sequence[Aggregation], new_keys: np.ndarray) -> None:
        keys = np.union1d(self.keys, new_keys)
        old = np.searchsorted(keys, self.keys)
        states: list[State] = []
        for i, agg in enumerate(aggs):
            grown = []
            for arr, cur in zip(agg.identity(len(keys)), self.states[i]):
                if arr.dtype != cur.dtype:
                    arr = arr.astype(np.result_type(arr, cur))
                arr[old] = cur
                grown.append(arr)
            states.append(grown)
        self.states = states
        dirty = np.zeros(len(keys), bool)
        dirty[old] = self.dirty
        self.keys, self.dirty = keys, dirty

    def select(self, sel: np.ndarray) -> tuple[np.ndarray, list[State]]:
        """Key ids and states of the rows ``sel``."""
        return self.keys[sel], [[a[sel] for a in s] for s in self.states]
