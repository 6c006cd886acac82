"""Watermark, allowed lateness and the late side output."""

import numpy as np
import pyarrow as pa

from laketown.streams.processor import WindowOperator, count, sum, tumbling
from laketown.streams.processor.watermarks import NO_WATERMARK, BoundedOutOfOrderness


def _op():
    return WindowOperator(
        tumbling("1m"), {"n": count(), "total": sum("v")}, key="k", out_of_orderness="5s", lateness="30s"
    )


def _batch(rows):
    return pa.table(
        {
            "k": [r[0] for r in rows],
            "_event_time": pa.array([r[1] for r in rows], pa.int64()),
            "v": pa.array([float(r[2]) for r in rows]),
        }
    )


def _rows(t):
    return [(r["k"], int(r["window_start"].timestamp()), r["n"], r["total"], r["is_update"]) for r in t.to_pylist()]


def test_watermark_is_max_event_time_minus_bound_per_record():
    wm = BoundedOutOfOrderness(5_000)
    before = wm.before_each(np.array([10_000, 20_000, 12_000, 30_000]))
    assert list(before) == [NO_WATERMARK, 5_000, 15_000, 15_000]
    assert wm.current == 25_000
    assert list(wm.before_each(np.array([1]))) == [25_000]


def test_on_time_records_fire_once_when_watermark_passes_window_end():
    op = _op()
    out = op.process(_batch([("a", 10_000, 1), ("b", 20_000, 2), ("a", 50_000, 3), ("a", 62_000, 4)]))
    assert out.results.num_rows == 0  # watermark 57 s
    assert op.process(_batch([("a", 55_000, 5)])).results.num_rows == 0  # out of order but within 5 s
    out = op.process(_batch([("b", 65_000, 6)]))  # watermark 60 s = end of [0, 60 s)
    assert _rows(out.results) == [("a", 0, 3, 9.0, False), ("b", 0, 1, 2.0, False)]
    assert out.late.num_rows == 0


def test_late_record_within_lateness_updates_fired_window_and_is_marked_update():
    op = _op()
    op.process(_batch([("a", 10_000, 1), ("a", 70_000, 2)]))  # fires [0, 60 s) for a
    out = op.process(_batch([("a", 30_000, 10), ("c", 59_000, 7)]))  # watermark 65 s: late, within 30 s
    assert _rows(out.results) == [("a", 0, 2, 11.0, True), ("c", 0, 1, 7.0, True)]
    out = op.process(_batch([("a", 40_000, 100)]))
    assert _rows(out.results) == [("a", 0, 3, 111.0, True)]
    assert out.late.num_rows == 0


def test_record_after_end_plus_lateness_goes_to_side_output_with_reason_and_window_is_purged():
    op = _op()
    op.process(_batch([("a", 10_000, 1), ("a", 70_000, 2)]))
    assert 0 in op.open_windows
    op.process(_batch([("a", 95_000, 3)]))  # watermark 90 s = end + lateness: state purged
    assert 0 not in op.open_windows
    out = op.process(_batch([("a", 20_000, 4), ("b", 91_000, 5)]))
    assert out.results.num_rows == 0
    late = out.late.to_pylist()
    assert [(r["k"], r["_event_time"], r["late_reason"], r["watermark_ms"]) for r in late] == [
        ("a", 20_000, "too late: after window end + allowed lateness", 90_000)
    ]


def test_lateness_is_decided_per_record_so_batching_does_not_change_results():
    rng = np.random.default_rng(3)
    n = 4_000
    ts = np.sort(rng.integers(0, 20 * 60_000, n))
    ts = ts + rng.integers(-90_000, 10_000, n) * (rng.random(n) < 0.1)  # 10 % stragglers, some too late
    rows = [(f"k{rng.integers(0, 30)}", int(t), float(i)) for i, t in enumerate(ts)]

    def run(cuts):
        op = _op()
        firsts, finals, late = [], {}, []
        for lo, hi in zip([0, *cuts], [*cuts, n]):
            out = op.process(_batch(rows[lo:hi]))
            for r in _rows(out.results):
                if not r[4]:
                    firsts.append(r[:4])
                finals[r[:2]] = r[2:4]
            late += out.late.column("_event_time").to_pylist()
        return sorted(firsts), finals, late

    one = run([])
    small = run(list(range(7, n, 7)))
    odd = run(sorted(set(rng.integers(1, n, 60).tolist())))
    assert one[0] == small[0] == odd[0]
    assert one[1] == small[1] == odd[1]
    assert one[2] == small[2] == odd[2]
    assert len(one[2]) > 0
