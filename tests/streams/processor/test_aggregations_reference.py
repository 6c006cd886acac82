"""Window aggregates against a plain NumPy reference computed on the same events."""

import math

import numpy as np
import pyarrow as pa
import pytest

from laketown.errors import ConfigError
from laketown.streams.processor import WindowOperator, sliding, tumbling
from laketown.streams.processor import aggregations as agg

OOO = 5_000


def _events(seed, n=20_000, keys=400, minutes=15):
    """Random events, arriving shuffled within the out-of-orderness bound (none late)."""
    rng = np.random.default_rng(seed)
    ts = rng.integers(1_700_000_000_000, 1_700_000_000_000 + minutes * 60_000, n)
    arrival = np.argsort(ts + rng.integers(0, OOO, n), kind="stable")
    v = rng.normal(20, 5, n)
    v[rng.random(n) < 0.05] = np.nan  # nulls
    t = pa.table(
        {
            "device": pa.array([f"dev-{k}" for k in rng.integers(0, keys, n)]),
            "site": pa.array(rng.integers(0, 3, n)),
            "temp": pa.array(v, mask=np.isnan(v)),
            "seq": pa.array(np.arange(n)),
            "_event_time": pa.array(ts),
        }
    )
    return t.take(pa.array(arrival))


AGGS = {
    "n": agg.count(),
    "n_temp": agg.count("temp"),
    "total": agg.sum("temp"),
    "lo": agg.min("temp"),
    "hi": agg.max("temp"),
    "avg": agg.mean("temp"),
    "sd": agg.stddev("temp"),
    "first_seq": agg.first("seq"),
    "last_seq": agg.last("seq"),
    "median": agg.custom("temp", fn=lambda v: float(np.nanmedian(v)) if np.isfinite(v).any() else None),
    "sumsq": agg.custom(
        "temp",
        init=lambda n: (np.zeros(n),),
        update=lambda s, g, v: np.add.at(s[0], g, np.nan_to_num(np.asarray(v, float)) ** 2),
        merge=lambda a, b: (a[0] + b[0],),
        finish=lambda s: s[0],
    ),
}


def _reference(table, assigner, key):
    """(key..., window_start) -> aggregates, one Python pass over the events."""
    cols = table.to_pydict()
    rows, starts = assigner.assign(np.array(cols["_event_time"]))
    rows = np.arange(table.num_rows) if rows is None else rows
    groups: dict[tuple, list[int]] = {}
    for r, s in zip(rows.tolist(), starts.tolist()):
        groups.setdefault((*[cols[k][r] for k in key], s), []).append(r)
    out = {}
    for g, idx in groups.items():
        temps = np.array([cols["temp"][i] for i in idx if cols["temp"][i] is not None])
        times = [cols["_event_time"][i] for i in idx]
        seqs = [cols["seq"][i] for i in idx]
        tmin, tmax = min(times), max(times)
        out[g] = {
            "n": len(idx),
            "n_temp": len(temps),
            "total": float(temps.sum()) if len(temps) else None,
            "lo": float(temps.min()) if len(temps) else None,
            "hi": float(temps.max()) if len(temps) else None,
            "avg": float(temps.mean()) if len(temps) else None,
            "sd": float(temps.std(ddof=1)) if len(temps) > 1 else None,
            # ties on time: first by arrival for first, last by arrival for last
            "first_seq": next(s for s, t in zip(seqs, times) if t == tmin),
            "last_seq": [s for s, t in zip(seqs, times) if t == tmax][-1],
            "median": float(np.median(temps)) if len(temps) else None,
            "sumsq": float((temps**2).sum()),
        }
    return out


def _run(table, assigner, key, batch_sizes):
    op = WindowOperator(assigner, AGGS, key=key, out_of_orderness=OOO)
    parts, lo, i = [], 0, 0
    while lo < table.num_rows:
        hi = lo + batch_sizes[i % len(batch_sizes)]
        out = op.process(table.slice(lo, hi - lo))
        assert out.late.num_rows == 0
        parts.append(out.results)
        lo, i = hi, i + 1
    parts.append(op.flush())
    return pa.concat_tables([p for p in parts if p.num_rows])


def _check(result, ref, key):
    assert result.num_rows == len(ref)
    assert not any(result.column("is_update").to_pylist())
    for row in result.to_pylist():
        g = (*[row[k] for k in key], int(row["window_start"].timestamp() * 1000))
        exp = ref[g]
        for name, value in exp.items():
            got = row[name]
            if value is None or got is None:
                assert got == value, (g, name)
            else:
                assert math.isclose(got, value, rel_tol=1e-9, abs_tol=1e-9), (g, name, got, value)


@pytest.mark.parametrize("seed", [1, 2])
def test_tumbling_aggregates_match_reference_for_many_keys(seed):
    t = _events(seed)
    ref = _reference(t, tumbling("1m"), ["device"])
    _check(_run(t, tumbling("1m"), ["device"], [1_000, 3_777, 250]), ref, ["device"])


def test_sliding_aggregates_with_two_key_columns_match_reference():
    t = _events(7, n=8_000, keys=50)
    w = sliding("2m", "30s")
    ref = _reference(t, w, ["device", "site"])
    _check(_run(t, w, ["device", "site"], [999, 2_500]), ref, ["device", "site"])


def test_right_closed_windows_match_reference():
    t = _events(11, n=5_000, keys=20)
    w = tumbling("1m", closed="right")
    _check(_run(t, w, ["device"], [700]), _reference(t, w, ["device"]), ["device"])


def test_global_window_without_key():
    t = _events(5, n=3_000, keys=10)
    op = WindowOperator(tumbling("5m"), {"n": agg.count(), "hi": agg.max("temp")}, out_of_orderness=OOO)
    out = pa.concat_tables([op.process(t).results, op.flush()])
    assert out.column_names == ["window_start", "window_end", "n", "hi", "is_update"]
    assert pa.compute.sum(out.column("n")).as_py() == 3_000


def test_stddev_merge_is_numerically_stable_for_large_offsets():
    v = 1e9 + np.random.default_rng(0).normal(0, 1, 10_000)
    t = pa.table({"k": ["x"] * len(v), "v": v, "_event_time": np.arange(len(v), dtype=np.int64)})
    op = WindowOperator(tumbling("1h"), {"sd": agg.stddev("v")}, key="k")
    for lo in range(0, len(v), 333):
        op.process(t.slice(lo, 333))
    assert math.isclose(op.flush().column("sd")[0].as_py(), float(np.std(v, ddof=1)), rel_tol=1e-6)


def test_bad_aggregation_inputs_name_the_column():
    t = pa.table({"k": ["x"], "s": ["text"], "_event_time": [1]})
    with pytest.raises(ConfigError, match="'s' has type string"):
        WindowOperator(tumbling("1m"), {"m": agg.mean("s")}, key="k").process(t)
    with pytest.raises(ConfigError, match="'nope' is not in the records"):
        WindowOperator(tumbling("1m"), {"m": agg.mean("nope")}, key="k").process(t)
    with pytest.raises(ConfigError, match="group key column 'dev'"):
        WindowOperator(tumbling("1m"), {"n": agg.count()}, key="dev").process(t)
    with pytest.raises(ConfigError, match="missing merge, finish"):
        agg.custom("s", init=lambda n: (), update=lambda *a: None)
