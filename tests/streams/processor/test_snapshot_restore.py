"""Operator snapshots: stop half way, restore into a fresh operator, finish == uninterrupted run."""

import numpy as np
import pyarrow as pa
import pytest

from laketown.streams.processor import WindowOperator, sliding, tumbling
from laketown.streams.processor import aggregations as agg
from laketown.streams.processor.window_operator import SnapshotMismatchError


def _make(window=None):
    return WindowOperator(
        window or tumbling("1m"),
        {
            "n": agg.count(),
            "avg": agg.mean("v"),
            "sd": agg.stddev("v"),
            "hi": agg.max("v"),
            "first_name": agg.first("name"),
            "last_v": agg.last("v"),
            "spread": agg.custom("v", fn=lambda x: float(np.ptp(x)) if len(x) else None),
        },
        key=["k", "zone"],
        out_of_orderness="5s",
        lateness="20s",
    )


def _events(n=6_000, seed=4):
    rng = np.random.default_rng(seed)
    ts = np.sort(rng.integers(0, 30 * 60_000, n))
    ts = ts - rng.integers(0, 300_000, n) * (rng.random(n) < 0.08)  # some late, some too late
    return pa.table(
        {
            "k": pa.array(rng.integers(0, 60, n)),
            "zone": pa.array([["north", "south", None][i] for i in rng.integers(0, 3, n)]),
            "name": pa.array([f"n{i}" for i in range(n)]),
            "v": rng.normal(0, 1, n),
            "_event_time": pa.array(ts),
        }
    )


def _drive(op, table, size):
    results, late = [], []
    for lo in range(0, table.num_rows, size):
        out = op.process(table.slice(lo, size))
        results.append(out.results)
        late.append(out.late)
    return results, late


def _summary(results, late):
    res = pa.concat_tables([r for r in results if r.num_rows])
    firsts = res.filter(pa.compute.invert(res.column("is_update"))).to_pylist()
    finals = {}
    for row in res.to_pylist():
        finals[(row["k"], row["zone"], row["window_start"])] = row
    dropped = pa.concat_tables(late).column("name").to_pylist()
    return firsts, finals, dropped


@pytest.mark.parametrize("window", [tumbling("1m"), sliding("3m", "1m")])
def test_restore_then_rest_equals_uninterrupted_run(window):
    events = _events()
    whole = _make(window)
    r, l = _drive(whole, events, 500)
    expected = _summary(r + [whole.flush()], l)

    first = _make(window)
    half = events.num_rows // 2
    r1, l1 = _drive(first, events.slice(0, half), 500)
    snap = first.snapshot()
    assert isinstance(snap, bytes)
    second = _make(window)
    second.restore(snap)
    r2, l2 = _drive(second, events.slice(half), 333)  # other batch sizes after the restart
    got = _summary(r1 + r2 + [second.flush()], l1 + l2)

    assert len(expected[2]) > 0 and any(row["is_update"] for row in expected[1].values())
    assert _same(got[0], expected[0])
    assert got[1].keys() == expected[1].keys()
    assert _same(list(got[1].values()), list(expected[1].values()))
    assert got[2] == expected[2]


def _same(rows_a, rows_b):
    """Equal rows; floats equal to 1e-12 relative (merge order after a restart can differ in the
    last bits of a float sum), everything else exactly."""
    assert len(rows_a) == len(rows_b)
    for a, b in zip(rows_a, rows_b):
        assert a.keys() == b.keys()
        for k in a:
            if isinstance(a[k], float) and isinstance(b[k], float):
                assert a[k] == pytest.approx(b[k], rel=1e-12, abs=1e-12), (k, a, b)
            else:
                assert a[k] == b[k], (k, a, b)
    return True


def test_snapshot_of_fresh_operator_restores_to_empty_state():
    op = _make()
    fresh = _make()
    fresh.restore(op.snapshot())
    assert fresh.open_windows == []


def test_restore_into_a_different_job_is_refused_with_both_configs():
    op = _make()
    op.process(_events(100))
    other = WindowOperator(tumbling("5m"), {"n": agg.count()}, key=["k", "zone"])
    with pytest.raises(SnapshotMismatchError, match="delete the checkpoint"):
        other.restore(op.snapshot())
    with pytest.raises(SnapshotMismatchError, match="not a window operator snapshot"):
        other.restore(b"garbage")


def test_key_ids_are_compacted_when_most_keys_left_the_open_windows(monkeypatch):
    from laketown.streams.processor import window_operator

    monkeypatch.setattr(window_operator, "_COMPACT_KEYS", 100)
    op = WindowOperator(tumbling("1m"), {"n": agg.count()}, key="k")
    for minute in range(5):  # 500 new keys every minute
        keys = np.arange(minute * 500, minute * 500 + 500)
        op.process(pa.table({"k": keys, "_event_time": np.full(500, minute * 60_000 + 1)}))
    assert op._keys.size <= 1_000
    out = op.flush()
    assert out.column("k").to_pylist() == list(range(2_000, 2_500))
