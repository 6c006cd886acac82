"""Window assignment: epoch (UTC) alignment and which window an event on a boundary falls in."""

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pytest

from laketown.errors import ConfigError
from laketown.streams.processor import (
    WindowOperator,
    count,
    parse_duration,
    sliding,
    tumbling,
)

MIN = 60_000


def _ms(s: str) -> int:
    return int(datetime.fromisoformat(s).timestamp() * 1000)


def _windows(assigner, ts):
    rows, starts = assigner.assign(np.array(ts, np.int64))
    rows = np.arange(len(ts)) if rows is None else rows
    out: dict[int, list[tuple[int, int]]] = {}
    for r, s in zip(rows, starts):
        out.setdefault(int(ts[r]), []).append((int(s), int(s) + assigner.size_ms))
    return {t: sorted(w) for t, w in out.items()}


def test_tumbling_left_closed_puts_boundary_event_in_next_window():
    w = _windows(tumbling("1m"), [0, 59_999, 60_000, -1])
    assert w[0] == [(0, MIN)]
    assert w[59_999] == [(0, MIN)]
    assert w[60_000] == [(MIN, 2 * MIN)]
    assert w[-1] == [(-MIN, 0)]


def test_tumbling_right_closed_puts_boundary_event_in_window_ending_there():
    w = _windows(tumbling("1m", closed="right"), [0, 1, 60_000, 60_001])
    assert w[0] == [(-MIN, 0)]
    assert w[1] == [(0, MIN)]
    assert w[60_000] == [(0, MIN)]
    assert w[60_001] == [(MIN, 2 * MIN)]


def test_windows_are_utc_aligned_whatever_the_first_event():
    t = _ms("2026-11-27T09:04:37.123+00:00")
    assert _windows(tumbling("1h"), [t])[t] == [(_ms("2026-11-27T09:00:00+00:00"), _ms("2026-11-27T10:00:00+00:00"))]
    assert _windows(tumbling("1d"), [t])[t][0][0] == _ms("2026-11-27T00:00:00+00:00")
    assert _windows(tumbling("1h", offset="30m"), [t])[t][0][0] == _ms("2026-11-27T08:30:00+00:00")
    assert _windows(tumbling("1m"), [t])[t][0][0] == _ms("2026-11-27T09:04:00+00:00")


def test_sliding_windows_left_and_right_closed_at_boundaries():
    left = _windows(sliding("10s", "5s"), [7_000, 10_000, 5_000])
    assert left[7_000] == [(0, 10_000), (5_000, 15_000)]
    assert left[10_000] == [(5_000, 15_000), (10_000, 20_000)]
    assert left[5_000] == [(0, 10_000), (5_000, 15_000)]
    right = _windows(sliding("10s", "5s", closed="right"), [10_000, 5_000])
    assert right[10_000] == [(0, 10_000), (5_000, 15_000)]
    assert right[5_000] == [(-5_000, 5_000), (0, 10_000)]


def test_sliding_size_not_a_multiple_of_slide_gives_only_covering_windows():
    w = _windows(sliding("10s", "4s"), [9_000, 11_000])
    assert w[9_000] == [(0, 10_000), (4_000, 14_000), (8_000, 18_000)]
    assert w[11_000] == [(4_000, 14_000), (8_000, 18_000)]


def _op(closed):
    return WindowOperator(tumbling("1m", closed=closed), {"n": count()}, key="k")


def _batch(ts):
    return pa.table({"k": ["a"] * len(ts), "_event_time": pa.array(ts, pa.int64())})


def test_left_closed_window_fires_when_watermark_reaches_end_and_boundary_event_opens_next():
    op = _op("left")
    assert op.process(_batch([10_000, 59_999])).results.num_rows == 0
    out = op.process(_batch([60_000]))
    assert out.results.select(["window_start", "n", "is_update"]).to_pylist() == [
        {"window_start": datetime(1970, 1, 1, tzinfo=UTC), "n": 2, "is_update": False}
    ]
    late = op.process(_batch([59_999])).late  # the window fired; no lateness allowed
    assert late.column("late_reason").to_pylist() == ["too late: after window end + allowed lateness"]


def test_right_closed_window_keeps_accepting_events_at_its_end_then_fires_after_it():
    op = _op("right")
    assert op.process(_batch([1, 60_000])).results.num_rows == 0  # watermark 60000 = end: not yet complete
    assert op.process(_batch([60_000])).late.num_rows == 0  # still on time at the inclusive end
    out = op.process(_batch([60_001]))
    row = out.results.to_pylist()
    assert [(r["window_start"].timestamp(), r["window_end"].timestamp(), r["n"]) for r in row] == [(0.0, 60.0, 3)]


def test_durations_parse_and_bad_ones_name_the_value():
    assert parse_duration("1m") == 60_000
    assert parse_duration("500ms") == 500
    assert parse_duration("2h") == 7_200_000
    assert parse_duration(250) == 250
    with pytest.raises(ConfigError, match="'5 minutes'"):
        parse_duration("5 minutes")
    with pytest.raises(ConfigError, match="slide"):
        sliding("1m", "2m")
    with pytest.raises(ConfigError, match="closed='both'"):
        tumbling("1m", closed="both")  # type: ignore[arg-type]
