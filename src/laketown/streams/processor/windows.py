"""Event-time window assigners: tumbling and sliding (hopping), epoch-aligned (UTC).

Times are integer milliseconds since the Unix epoch. Windows are aligned to the epoch plus an
optional ``offset``, so a 1-minute window always starts on a whole UTC minute whatever the first
event's time. Assignment is vectorized: one NumPy pass per batch, never a loop per event.

Boundaries are ``[start, end)`` by default (``closed="left"``). ``closed="right"`` gives
``(start, end]``: start exclusive, end inclusive, as AWS IoT SiteWise computes its metrics (the
value is stamped at the window end). An event exactly at ``end`` belongs to the window that ends
there in the right-closed mode and to the next window in the left-closed mode.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

from laketown.errors import ConfigError

Closed = Literal["left", "right"]

_UNITS_MS = {"ms": 1, "s": 1_000, "m": 60_000, "min": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|min|m|h|d|w)\s*$")


def parse_duration(value: str | float, what: str = "duration") -> int:
    """Duration -> whole milliseconds: ``"500ms"``, ``"30s"``, ``"1m"``, ``"2h"``, ``"7d"``, ``"1w"``
    or a number of milliseconds."""
    if isinstance(value, bool):
        raise ConfigError(f"{what} {value!r} is not a duration; give e.g. '30s', '1m' or milliseconds as an int")
    if isinstance(value, (int, np.integer)):
        ms = int(value)
    elif isinstance(value, float):
        if not value.is_integer():
            raise ConfigError(f"{what} {value!r} ms is not a whole number of milliseconds")
        ms = int(value)
    else:
        m = _DURATION.match(str(value))
        if not m:
            raise ConfigError(
                f"{what} {value!r} is not a duration; use a number and a unit (ms, s, m, h, d, w), e.g. '30s' or '1m'"
            )
        ms = int(m.group(1)) * _UNITS_MS[m.group(2)]
    if ms < 0:
        raise ConfigError(f"{what} {value!r} is negative; give zero or more milliseconds")
    return ms


@dataclass(frozen=True)
class WindowAssigner:
    """Epoch-aligned windows of ``size_ms`` starting every ``slide_ms`` (``slide_ms == size_ms``:
    tumbling). ``closed`` picks which boundary an event exactly on it belongs to."""

    size_ms: int
    slide_ms: int
    offset_ms: int = 0
    closed: Closed = "left"

    def __post_init__(self) -> None:
        if self.size_ms <= 0:
            raise ConfigError(f"window size {self.size_ms} ms must be positive, e.g. '1m'")
        if self.slide_ms <= 0 or self.slide_ms > self.size_ms:
            raise ConfigError(
                f"window slide {self.slide_ms} ms must be positive and at most the size {self.size_ms} ms; "
                "for gaps between windows filter the events instead"
            )
        if self.closed not in ("left", "right"):
            raise ConfigError(f"closed={self.closed!r}: use 'left' for [start, end) or 'right' for (start, end]")

    @property
    def tumbling(self) -> bool:
        return self.slide_ms == self.size_ms

    @property
    def windows_per_event(self) -> int:
        """Upper bound of how many windows one event falls in."""
        return -(-self.size_ms // self.slide_ms)

    @property
    def fire_delay_ms(self) -> int:
        """Watermark past ``end`` at which a window is complete: 0 for ``[start, end)`` (no event at
        ``end`` belongs to it), 1 ms for ``(start, end]`` (an event at ``end`` still does)."""
        return 1 if self.closed == "right" else 0

    def assign(self, ts_ms: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
        """Windows of each event: ``(rows, starts)`` where ``rows[i]`` is the event's index and
        ``starts[i]`` a window start; ``rows`` is ``None`` when it is the identity (tumbling)."""
        ts = np.asarray(ts_ms, dtype=np.int64)
        # (start, end] on integer milliseconds is [start, end) of ts - 1
        t = ts - self.offset_ms - (1 if self.closed == "right" else 0)
        last = t // self.slide_ms * self.slide_ms
        if self.tumbling:
            return None, last + self.offset_ms
        k = self.windows_per_event
        cand = last[:, None] - np.arange(k, dtype=np.int64)[None, :] * self.slide_ms
        ok = cand + self.size_ms > t[:, None]
        rows = np.broadcast_to(np.arange(len(ts), dtype=np.int64)[:, None], cand.shape)[ok]
        return rows, cand[ok] + self.offset_ms


def tumbling(size: str | int, offset: str | int = 0, closed: Closed = "left") -> WindowAssigner:
    """Tumbling windows of ``size`` (e.g. ``"1m"``), aligned to the epoch (+ ``offset``) in UTC."""
    ms = parse_duration(size, "window size")
    return WindowAssigner(ms, ms, parse_duration(offset, "window offset"), closed)


def sliding(size: str | int, slide: str | int, offset: str | int = 0, closed: Closed = "left") -> WindowAssigner:
    """Sliding (hopping) windows of ``size`` starting every ``slide``, epoch-aligned (+ ``offset``)."""
    return WindowAssigner(
        parse_duration(size, "window size"),
        parse_duration(slide, "window slide"),
        parse_duration(offset, "window offset"),
        closed,
    )
