"""Keyed event-time window operator: assign, aggregate, fire on the watermark, handle lateness.

One batch is processed in a fixed number of vectorized passes:

1. the watermark in force before each record (running max) decides, per (record, window), whether
   it is on time (the window has not fired), late (fired, but within the allowed lateness) or too
   late (the window's state is gone: the record goes to the late side output with the reason);
2. on-time records are grouped by (window, key) with ``np.bincount`` over dense codes and merged
   into the window state;
3. windows whose end the watermark has passed fire (``is_update`` false);
4. late records update their fired windows, and the changed rows are emitted again with
   ``is_update`` true (a late firing: it replaces any earlier row of that key and window);
5. windows past ``end + lateness`` are purged.

Because lateness is decided per record and windows fire after their on-time records, the rows
with ``is_update`` false (the on-time firing) and the last row of every (key, window) do not
depend on batch sizes; only how many intermediate updates late records cause does.
"""

from __future__ import annotations

import builtins
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from laketown.errors import ConfigError, LaketownError
from laketown.streams.processor.aggregations import Aggregation, Columns
from laketown.streams.processor.keys import KeyEncoder, _dense_codes
from laketown.streams.processor.watermarks import NO_WATERMARK, BoundedOutOfOrderness
from laketown.streams.processor.window_state import WindowState
from laketown.streams.processor.windows import WindowAssigner, parse_duration

#: column of decoded records holding the event time in epoch milliseconds
EVENT_TIME = "_event_time"
TS_TYPE = pa.timestamp("ms", tz="UTC")
_META = b"laketown.window_operator"
_SNAPSHOT_VERSION = 1
#: distinct keys remembered before the encoder is rebuilt from the open windows
_COMPACT_KEYS = 1_000_000


class SnapshotMismatchError(LaketownError, ValueError):
    """A snapshot was taken by an operator with a different window, key or aggregations."""


@dataclass
class WindowOutput:
    """What one call produced: window ``results`` and the ``late`` side output."""

    results: pa.Table
    late: pa.Table


def event_times(table: pa.Table, column: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Event times as int64 epoch ms, and a mask of rows without one (``None`` if all have one)."""
    if column not in table.column_names:
        raise ConfigError(
            f"event time column {column!r} is not in the records; columns are: {', '.join(table.column_names)}"
        )
    col = table.column(column)
    if pa.types.is_timestamp(col.type):
        col = pc.cast(col.cast(pa.timestamp("ms", tz=col.type.tz)), pa.int64())
    elif pa.types.is_integer(col.type):
        col = col.cast(pa.int64())
    else:
        raise ConfigError(
            f"event time column {column!r} has type {col.type}; it must hold epoch milliseconds (int) or timestamps"
        )
    missing = None
    if col.null_count:
        missing = pc.is_null(col).to_numpy(zero_copy_only=False)
        col = pc.fill_null(col, 0)
    return col.to_numpy(), missing


class WindowOperator:
    """Keyed windows over one ordered input (one stream partition).

    ``aggs`` maps output column names to aggregations. ``out_of_orderness`` bounds how far
    behind the newest event a record may be and still count as on time; ``lateness`` keeps a
    fired window's state that much longer so later records update it."""

    def __init__(
        self,
        window: WindowAssigner,
        aggs: Mapping[str, Aggregation],
        key: str | Sequence[str] = (),
        out_of_orderness: str | int = 0,
        lateness: str | int = 0,
        time_column: str = EVENT_TIME,
    ):
        if not aggs:
            raise ConfigError("window(): give at least one aggregation, e.g. aggs={'n': count()}")
        self.window = window
        self.aggs = dict(aggs)
        self.key = [key] if isinstance(key, str) else list(key)
        clash = {EVENT_TIME, "window_start", "window_end", "is_update", *self.key} & set(self.aggs)
        if clash:
            raise ConfigError(f"aggregation names {sorted(clash)} clash with key or window columns; rename them")
        self.lateness_ms = parse_duration(lateness, "allowed lateness")
        self.watermark = BoundedOutOfOrderness(parse_duration(out_of_orderness, "out-of-orderness"))
        self.time_column = time_column
        self._keys = KeyEncoder(self.key)
        self._windows: dict[int, WindowState] = {}
        self._agg_list = list(self.aggs.values())
        self._result_schema: pa.Schema | None = None

    # -- processing -------------------------------------------------------------------------

    def process(self, table: pa.Table) -> WindowOutput:
        """Process one batch of decoded records (any order within the out-of-orderness bound)."""
        late_parts: list[pa.Table] = []
        ts, missing = event_times(table, self.time_column)
        if missing is not None:
            late_parts.append(_late(table.filter(pa.array(missing)), "no event time", self.watermark.current))
            keep = ~missing
            table, ts = table.filter(pa.array(keep)), ts[keep]
        if not table.num_rows:
            return WindowOutput(self._results([]), _concat_late(late_parts, table))
        wm_before = self.watermark.before_each(ts)
        local, kid = self._keys.encode(table)
        rows, starts = self.window.assign(ts)
        delay = self.window.size_ms + self.window.fire_delay_ms
        if int(starts.min()) + delay > int(wm_before[-1]):  # watermark never decreases: all on time
            on_time = too_late = None
        else:
            fire_at = starts + delay
            wmb = wm_before if rows is None else wm_before[rows]
            on_time = fire_at > wmb
            too_late = fire_at + self.lateness_ms <= wmb
        if too_late is not None and too_late.any():
            r = np.arange(len(ts)) if rows is None else rows
            kept = np.bincount(r[~too_late], minlength=len(ts)) > 0
            if not kept.all():
                dropped = ~kept
                late_parts.append(
                    _late(
                        table.filter(pa.array(dropped)),
                        "too late: after window end + allowed lateness",
                        wm_before[dropped],
                    )
                )
        emitted: list[pa.Table] = []
        if on_time is None or on_time.all():
            self._accumulate(table, rows, starts, ts, local, kid, fired=False)
        else:
            sel = np.flatnonzero(on_time)
            self._accumulate(table, sel if rows is None else rows[sel], starts[sel], ts, local, kid, fired=False)
        emitted += self._fire(self.watermark.current)
        late = None if on_time is None else ~on_time & ~too_late
        if late is not None and late.any():
            sel = np.flatnonzero(late)
            touched = self._accumulate(table, sel if rows is None else rows[sel], starts[sel], ts, local, kid, fired=True)
            emitted += [self._emit(w, np.flatnonzero(w.dirty), update=True) for w in touched]
        self._purge(self.watermark.current)
        return WindowOutput(self._results(emitted), _concat_late(late_parts, table))

    def advance_watermark(self, watermark_ms: int) -> pa.Table:
        """Move the watermark forward (end of a bounded input, idle source) and return what fires."""
        self.watermark.advance_to(watermark_ms)
        out = self._fire(self.watermark.current)
        self._purge(self.watermark.current)
        return self._results(out)

    def flush(self) -> pa.Table:
        """Fire every open window (end of a bounded input) and drop all state."""
        out = self._fire(np.iinfo(np.int64).max)
        self._windows.clear()
        return self._results(out)

    @property
    def open_windows(self) -> list[int]:
        """Start times (ms) of the windows holding state."""
        return sorted(self._windows)

    def _accumulate(
        self,
        table: pa.Table,
        rows: np.ndarray | None,
        starts: np.ndarray,
        ts: np.ndarray,
        local: np.ndarray,
        kid: np.ndarray,
        fired: bool,
    ) -> list[WindowState]:
        if not len(starts):
            return []
        klocal = local if rows is None else local[rows]
        t = ts if rows is None else ts[rows]
        n_keys = len(kid)
        slide = self.window.slide_ms
        s0 = int(starts.min())
        span = (int(starts.max()) - s0) // slide + 1
        if span * n_keys <= max(8 * len(starts), 1 << 16):
            comp = (starts - s0) // slide * n_keys + klocal
            groups, uniq = _dense_codes(comp, span * n_keys)
        else:
            comp = (starts - s0) // slide * n_keys + klocal
            uniq, groups = np.unique(comp, return_inverse=True)
            groups = groups.reshape(-1)
        cols = Columns(table, rows)
        partials = [agg.partial(cols, t, groups, len(uniq)) for agg in self._agg_list]
        gwin = uniq // n_keys
        gkey = kid[uniq % n_keys]
        cuts = np.flatnonzero(np.diff(gwin)) + 1
        touched = []
        for lo, hi in zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [len(uniq)]])):
            start = s0 + int(gwin[lo]) * slide
            w = self._windows.get(start)
            if w is None:
                w = self._windows[start] = WindowState(start, self._agg_list)
                w.fired = fired
            w.merge(self._agg_list, gkey[lo:hi], [[a[lo:hi] for a in p] for p in partials])
            touched.append(w)
        return touched

    def _fire(self, watermark: int) -> list[pa.Table]:
        delay = self.window.size_ms + self.window.fire_delay_ms
        out = []
        for start in sorted(self._windows):
            w = self._windows[start]
            if not w.fired and start + delay <= watermark:
                w.fired = True
                out.append(self._emit(w, np.arange(len(w.keys)), update=False))
        return out

    def _purge(self, watermark: int) -> None:
        delay = self.window.size_ms + self.window.fire_delay_ms + self.lateness_ms
        purged = [s for s in self._windows if s + delay <= watermark]
        for start in purged:
            del self._windows[start]
        if purged and self._keys.size > _COMPACT_KEYS:
            live = builtins.sum(len(w.keys) for w in self._windows.values())
            if self._keys.size > 4 * live:
                # keys come and go (cards, sessions): forget the ones no open window holds
                self.restore(self.snapshot())

    def _emit(self, w: WindowState, sel: np.ndarray, update: bool) -> pa.Table:
        keys, states = w.select(sel)
        n = len(keys)
        cols: dict[str, pa.Array] = dict(self._keys.key_values(keys)) if self.key else {}
        cols["window_start"] = pa.array(np.full(n, w.start, np.int64)).cast(TS_TYPE)
        cols["window_end"] = pa.array(np.full(n, w.start + self.window.size_ms, np.int64)).cast(TS_TYPE)
        for (name, agg), state in zip(self.aggs.items(), states):
            cols[name] = agg.finish(state)
        cols["is_update"] = pa.array(np.full(n, update), pa.bool_())
        w.dirty[sel] = False
        table = pa.table(cols)
        if self._result_schema is None:
            self._result_schema = table.schema
        return table

    def _results(self, parts: list[pa.Table]) -> pa.Table:
        parts = [p for p in parts if p.num_rows]
        if not parts:
            if self._result_schema is not None:
                return self._result_schema.empty_table()
            return pa.schema([("window_start", TS_TYPE), ("window_end", TS_TYPE), ("is_update", pa.bool_())]).empty_table()
        table = pa.concat_tables(parts, promote_options="permissive")
        self._result_schema = table.schema
        order = [("window_start", "ascending"), *[(k, "ascending") for k in self.key], ("is_update", "ascending")]
        return table.sort_by(order)

    # -- snapshots --------------------------------------------------------------------------

    def _config(self) -> dict:
        w = self.window
        return {
            "window": [w.size_ms, w.slide_ms, w.offset_ms, w.closed],
            "key": self.key,
            "aggs": {name: [type(a).__name__, a.describe(), list(a.state_names)] for name, a in self.aggs.items()},
            "lateness_ms": self.lateness_ms,
            "out_of_orderness_ms": self.watermark.max_out_of_orderness_ms,
        }

    def snapshot(self) -> bytes:
        """The operator's whole state (windows, partial aggregates, watermark) as Arrow IPC bytes."""
        parts = []
        for start in sorted(self._windows):
            w = self._windows[start]
            n = len(w.keys)
            cols: dict[str, pa.Array] = dict(self._keys.key_values(w.keys)) if self.key and n else {}
            cols["__window_start"] = pa.array(np.full(n, start, np.int64))
            cols["__fired"] = pa.array(np.full(n, w.fired, bool))
            cols["__dirty"] = pa.array(w.dirty)
            for (name, agg), state in zip(self.aggs.items(), w.states):
                for sname, arr in zip(agg.state_names, state):
                    cols[f"{name}.{sname}"] = pa.array(list(arr)) if arr.dtype == object else pa.array(arr)
            parts.append(pa.table(cols))
        meta = {
            "version": _SNAPSHOT_VERSION,
            "config": self._config(),
            "watermark": self.watermark.snapshot(),
        }
        table = pa.concat_tables(parts, promote_options="permissive") if parts else pa.table({"__window_start": pa.array([], pa.int64())})
        table = table.replace_schema_metadata({_META: json.dumps(meta).encode()})
        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return sink.getvalue()

    def restore(self, snapshot: bytes) -> None:
        """Replace this operator's state with a snapshot taken by an operator of the same job."""
        try:
            table = pa.ipc.open_stream(snapshot).read_all()
            meta = json.loads(table.schema.metadata[_META])
        except (pa.ArrowInvalid, KeyError, TypeError, ValueError) as e:
            raise SnapshotMismatchError(f"not a window operator snapshot ({e}); delete the checkpoint to start over") from e
        if meta.get("version") != _SNAPSHOT_VERSION:
            raise SnapshotMismatchError(f"snapshot version {meta.get('version')!r}, expected {_SNAPSHOT_VERSION}")
        config = self._config()
        if meta["config"] != json.loads(json.dumps(config)):
            raise SnapshotMismatchError(
                f"snapshot was taken with {meta['config']}, this operator is {config}; "
                "restore into the same job definition, or delete the checkpoint to start over"
            )
        self._keys = KeyEncoder(self.key)
        self._windows = {}
        self.watermark = BoundedOutOfOrderness(self.watermark.max_out_of_orderness_ms)
        self.watermark.restore(meta["watermark"])
        if not table.num_rows:
            return
        if self.key:
            local, kid = self._keys.encode(table)
            ids = kid[local]
        else:
            ids = np.zeros(table.num_rows, np.int64)
        starts = table.column("__window_start").to_numpy()
        for start in np.unique(starts):
            sel = np.flatnonzero(starts == start)
            order = sel[np.argsort(ids[sel], kind="stable")]
            w = WindowState(int(start), self._agg_list)
            w.keys = ids[order]
            w.fired = bool(table.column("__fired")[int(order[0])].as_py())
            w.dirty = table.column("__dirty").to_numpy(zero_copy_only=False)[order].astype(bool)
            states = []
            for name, agg in self.aggs.items():
                state = []
                for sname, ident in zip(agg.state_names, agg.identity(0)):
                    arr = table.column(f"{name}.{sname}").to_numpy(zero_copy_only=False)[order]
                    state.append(arr.astype(object) if ident.dtype == object else arr.astype(ident.dtype))
                states.append(state)
            w.states = states
            self._windows[int(start)] = w


def _late(table: pa.Table, reason: str, watermark: int | np.ndarray) -> pa.Table:
    n = table.num_rows
    wm = np.broadcast_to(np.asarray(watermark, np.int64), (n,))
    wm_arr = pa.array(wm, pa.int64(), mask=wm == NO_WATERMARK)
    return table.append_column("late_reason", pa.array([reason] * n, pa.string())).append_column("watermark_ms", wm_arr)


def _concat_late(parts: list[pa.Table], like: pa.Table) -> pa.Table:
    if not parts:
        return _late(like.schema.empty_table(), "", 0)
    return pa.concat_tables(parts, promote_options="permissive") if len(parts) > 1 else parts[0]
