"""Key encoding, batch JSON decoding, map/filter steps and the stream-table lookup join."""


import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from laketown.errors import ConfigError
from laketown.streams.base import RECORD_SCHEMA, encode_json
from laketown.streams.processor.decode import JsonDecoder
from laketown.streams.processor.keys import KeyEncoder
from laketown.streams.processor.lookups import LookupJoin
from laketown.streams.processor.transforms import Filter, Map


def _records(values, ts=None):
    n = len(values)
    return pa.table(
        {
            "partition": pa.array([0] * n, pa.int32()),
            "offset": pa.array(range(n), pa.int64()),
            "timestamp_ms": pa.array(ts or [1_000] * n, pa.int64()),
            "key": pa.array([None] * n, pa.binary()),
            "value": pa.array(values, pa.binary()),
            "headers": pa.array([None] * n, RECORD_SCHEMA.field("headers").type),
        },
        schema=RECORD_SCHEMA,
    )


def test_multi_column_keys_get_stable_ids_across_batches_including_nulls():
    enc = KeyEncoder(["a", "b"])
    t1 = pa.table({"a": ["x", "y", "x", None], "b": [1, 2, 1, 3]})
    local, ids = enc.encode(t1)
    row_ids = ids[local]
    assert row_ids[0] == row_ids[2] and len(set(row_ids.tolist())) == 3
    t2 = pa.table({"a": [None, "x", "z"], "b": [3, 1, 1]})
    local2, ids2 = enc.encode(t2)
    row_ids2 = ids2[local2]
    assert row_ids2[0] == row_ids[3] and row_ids2[1] == row_ids[0] and row_ids2[2] not in row_ids
    back = enc.key_values(row_ids2)
    assert back["a"].to_pylist() == [None, "x", "z"] and back["b"].to_pylist() == [3, 1, 1]


def test_json_batch_decodes_fields_event_time_and_record_metadata():
    objs = [{"device_id": i % 3, "ts": 1_700_000_000_000 + i, "temp": 20.5 + i} for i in range(50)]
    d = JsonDecoder(time_field="ts").decode(_records(encode_json(objs)))
    assert d.errors.num_rows == 0
    assert d.table.column("device_id").to_pylist() == [o["device_id"] for o in objs]
    assert d.table.column("_event_time").to_pylist() == [o["ts"] for o in objs]
    assert d.table.column("_offset").to_pylist() == list(range(50))


def test_event_time_from_iso_strings_seconds_or_record_timestamp():
    iso = JsonDecoder(time_field="at").decode(_records([b'{"at":"2026-01-01T00:00:01.5Z"}']))
    assert iso.table.column("_event_time").to_pylist() == [1_767_225_601_500]
    sec = JsonDecoder(time_field="at", time_unit="s").decode(_records([b'{"at":1700000000.25}']))
    assert sec.table.column("_event_time").to_pylist() == [1_700_000_000_250]
    rec = JsonDecoder().decode(_records([b'{"x":1}', b'{"x":2}'], ts=[5, 6]))
    assert rec.table.column("_event_time").to_pylist() == [5, 6]


def test_bad_json_values_go_to_errors_with_reason_and_the_rest_decode():
    values = [b'{"a":1,"ts":10}', b"{oops", b"[1,2]", b'{"a":4}', b'{"a":5,"ts":11}']
    d = JsonDecoder(time_field="ts").decode(_records(values))
    assert d.table.column("a").to_pylist() == [1, 5]
    errs = dict(zip(d.errors.column("offset").to_pylist(), d.errors.column("error").to_pylist()))
    assert errs[1].startswith("invalid JSON") and errs[2] == "not a JSON object: list"
    assert errs[3] == "no event time in field 'ts'"


def test_missing_time_field_names_it_and_the_fields():
    with pytest.raises(ConfigError, match="'when' is in no record.*a"):
        JsonDecoder(time_field="when").decode(_records([b'{"a":1}']))


def test_map_and_filter_steps_and_their_errors():
    t = pa.table({"x": [1, 5, None, 9]})
    assert Filter(lambda t: pc.greater(t["x"], 2))(t).column("x").to_pylist() == [5, 9]
    assert Filter(lambda t: np.array([True, False, True, False]))(t).num_rows == 2
    assert Map(lambda t: t.append_column("y", pc.multiply(t["x"], 2)))(t).column("y").to_pylist() == [2, 10, None, 18]
    with pytest.raises(ConfigError, match="boolean array"):
        Filter(lambda t: [True] * 4)(t)


def test_lookup_join_keeps_order_refreshes_on_schedule_and_last_duplicate_wins():
    now = [0.0]
    versions = [pa.table({"id": [1, 2, 2], "site": ["a", "b", "c"]}), pa.table({"id": [1], "site": ["z"]})]
    calls = []

    def load():
        calls.append(1)
        return versions[min(len(calls), 2) - 1]

    join = LookupJoin(load, on="id", refresh="10s", clock=lambda: now[0])
    batch = pa.table({"id": [2, 3, 1, 2], "v": [1, 2, 3, 4]})
    out = join(batch)
    assert out.column("v").to_pylist() == [1, 2, 3, 4]
    assert out.column("site").to_pylist() == ["c", None, "a", "c"]
    now[0] = 9.9
    assert join(batch).column("site").to_pylist() == ["c", None, "a", "c"] and len(calls) == 1
    now[0] = 10.0
    assert join(batch).column("site").to_pylist() == [None, None, "z", None] and len(calls) == 2
    inner = LookupJoin(lambda: versions[0], on="id", how="inner")
    assert inner(batch).column("v").to_pylist() == [1, 3, 4]
    with pytest.raises(ConfigError, match="no column 'device'"):
        LookupJoin(lambda: versions[0], left_on="id", right_on="device")(batch)
