"""Event-time watermarks: bounded out-of-orderness.

The watermark is the largest event time seen minus ``max_out_of_orderness``: the processor
assumes no later record is older than that. It is tracked per record, not per batch
(:meth:`BoundedOutOfOrderness.before_each` gives the watermark in force when each record arrives,
a running maximum), so whether a record is on time, late or too late does not depend on how the
input was split into batches; a restart that polls different batch sizes decides the same way.
"""

from __future__ import annotations

import numpy as np

from laketown.errors import ConfigError

#: watermark before any event: nothing is late
NO_WATERMARK = np.iinfo(np.int64).min


class BoundedOutOfOrderness:
    """Watermark = max event time seen - ``max_out_of_orderness_ms`` (never moves back)."""

    def __init__(self, max_out_of_orderness_ms: int = 0):
        if max_out_of_orderness_ms < 0:
            raise ConfigError(f"max out-of-orderness {max_out_of_orderness_ms} ms is negative; give 0 or more")
        self.max_out_of_orderness_ms = int(max_out_of_orderness_ms)
        self.max_event_time = NO_WATERMARK
        self._floor = NO_WATERMARK  # set by advance_to (end of input, idle source)

    @property
    def current(self) -> int:
        """The watermark now."""
        from_events = NO_WATERMARK if self.max_event_time == NO_WATERMARK else (
            self.max_event_time - self.max_out_of_orderness_ms
        )
        return max(from_events, self._floor)

    def before_each(self, ts_ms: np.ndarray) -> np.ndarray:
        """Watermark in force just before each record of the batch; then advances past the batch."""
        ts = np.asarray(ts_ms, dtype=np.int64)
        out = np.empty(len(ts), dtype=np.int64)
        if not len(ts):
            return out
        running = np.maximum.accumulate(ts)
        prev = self.max_event_time
        out[1:] = running[:-1]
        if prev > ts[0]:
            np.maximum(out[1:], prev, out=out[1:])
        out[1:] -= self.max_out_of_orderness_ms
        out[0] = NO_WATERMARK if prev == NO_WATERMARK else prev - self.max_out_of_orderness_ms
        if self._floor != NO_WATERMARK:
            np.maximum(out, self._floor, out=out)
        self.max_event_time = int(max(prev, running[-1]))
        return out

    def advance_to(self, watermark_ms: int) -> None:
        """Move the watermark to at least ``watermark_ms`` (end of a bounded input, idle source)."""
        self._floor = max(self._floor, int(watermark_ms))

    def snapshot(self) -> dict[str, int]:
        return {"max_event_time": int(self.max_event_time), "floor": int(self._floor)}

    def restore(self, state: dict[str, int]) -> None:
        self.max_event_time = int(state["max_event_time"])
        self._floor = int(state["floor"])
