"""Table behaviour; the same suite runs over every catalog/storage combination (``lake`` fixture)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pytest

from laketown.errors import LaketownError, SchemaMismatchError, TableNotFoundError

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)


def _events(ids, offset_days=0):
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "kind": pa.array([f"k{i % 3}" for i in ids]),
            "amount": pa.array([float(i) * 1.5 for i in ids]),
            "ts": pa.array([T0 + timedelta(days=offset_days + i % 5) for i in ids], pa.timestamp("us", tz="UTC")),
        }
    )


def test_create_from_sample_append_and_scan(lake):
    t = lake.create_table("raw.events", sample=_events([0]))
    assert t.count() == 0  # the sample is not written
    assert t.append(_events(range(10))) == 10
    assert t.count() == 10
    got = t.scan("amount >= 6 and kind = 'k1'", columns=["id"]).column("id").to_pylist()
    assert sorted(got) == [4, 7]
    assert lake.list_tables("raw") == ["raw.events"]


def test_overwrite_upsert_delete(lake):
    t = lake.create_table("clean.events", sample=_events([0]))
    t.append(_events(range(5)))
    t.overwrite(_events([10, 11]))
    assert sorted(t.scan().column("id").to_pylist()) == [10, 11]
    changed = pa.table({"id": pa.array([11, 12], pa.int64()), "kind": ["new", "new"], "amount": [0.0, 0.0]})
    res = t.upsert(changed, on=["id"])
    assert res == {"updated": 1, "inserted": 1}
    rows = {r["id"]: r["kind"] for r in t.scan().to_pylist()}
    assert rows == {10: "k1", 11: "new", 12: "new"}
    assert t.delete("kind = 'new'") == 2
    assert t.scan().column("id").to_pylist() == [10]


def test_time_travel_by_snapshot_and_timestamp(lake):
    t = lake.create_table("raw.tt", sample=_events([0]))
    t.append(_events(range(3)))
    first = t.snapshots()[-1]
    t.append(_events(range(3, 8)))
    assert t.count() == 8
    assert t.scan(snapshot_id=first["snapshot_id"]).num_rows == 3
    assert t.scan(as_of=first["timestamp"]).num_rows == 3
    assert [s["operation"] for s in t.snapshots()] == ["append", "append"]
    with pytest.raises(LaketownError, match="has no snapshot 42"):
        t.scan(snapshot_id=42)


def test_schema_evolution_add_and_rename(lake):
    t = lake.create_table("raw.evo", sample=_events([0]))
    t.append(_events([1, 2]))
    t.add_column("score", pa.float64())
    t.rename_column("kind", "category")
    t.append(pa.table({"id": pa.array([3], pa.int64()), "category": ["c"], "score": [0.5]}))
    got = t.scan().sort_by("id").to_pylist()
    assert [r["score"] for r in got] == [None, None, 0.5]
    assert [r["category"] for r in got] == ["k1", "k2", "c"]
    assert "kind" not in t.schema.names


def test_partition_specs_identity_day_bucket(lake):
    t = lake.create_table("curated.parts", sample=_events([0]), partition_by=["kind", "day(ts)", "bucket(4, id)"])
    t.append(_events(range(40)))
    st = t.stats()
    assert st["partitioning"] == ["identity(kind)", "day(ts)", "bucket[4](id)"]
    assert st["data_files"] > 3  # rows were split over partitions
    assert t.scan("kind = 'k2'").num_rows == len([i for i in range(40) if i % 3 == 2])


def test_partition_evolution_keeps_old_data(lake):
    t = lake.create_table("raw.pe", sample=_events([0]))
    t.append(_events(range(5)))
    t.partition_by("day(ts)")
    t.append(_events(range(5, 10)))
    assert t.count() == 10
    assert t.stats()["partitioning"] == ["day(ts)"]


def test_table_stats(lake):
    t = lake.create_table("raw.st", sample=_events([0]))
    t.append(_events(range(100)))
    st = t.stats()
    assert st["rows"] == 100 and st["data_files"] >= 1 and st["bytes"] > 0 and st["snapshots"] == 1


def test_wrong_type_names_column_expected_and_given(lake):
    t = lake.create_table("raw.bad", sample=_events([0]))
    bad = _events([1]).set_column(0, "id", pa.array(["one"]))
    with pytest.raises(SchemaMismatchError, match=r"column 'id' expects int64, got string"):
        t.append(bad)


def test_unknown_column_and_missing_required(lake):
    schema = pa.schema([pa.field("id", pa.int64(), nullable=False), pa.field("v", pa.string())])
    t = lake.create_table("raw.req", schema=schema)
    with pytest.raises(SchemaMismatchError, match="has no column 'extra'"):
        t.append(pa.table({"id": [1], "extra": [1]}))
    with pytest.raises(SchemaMismatchError, match="required column 'id'"):
        t.append(pa.table({"v": ["x"]}))
    with pytest.raises(SchemaMismatchError, match="'id' is required but has 1 null"):
        t.append(pa.table({"id": pa.array([1, None], pa.int64()), "v": ["a", "b"]}))


def test_failed_write_leaves_table_unchanged(lake):
    t = lake.create_table("raw.safe", sample=_events([0]))
    t.append(_events(range(3)))
    before = (t.metadata_location, t.count(), len(t.snapshots()))
    with pytest.raises(SchemaMismatchError):
        t.append(_events([9]).set_column(2, "amount", pa.array(["x"])))
    with pytest.raises(LaketownError):
        t.upsert(_events([1, 1]), on=["id"])  # duplicate keys
    assert (t.metadata_location, t.count(), len(t.snapshots())) == before


def test_unknown_table_lists_zone_tables(lake):
    lake.create_table("raw.alpha", sample=_events([0]))
    with pytest.raises(TableNotFoundError, match=r"unknown table 'raw.alfa'; tables in raw: alpha"):
        lake.table("raw.alfa")


def test_bad_names_and_zones(lake):
    with pytest.raises(LaketownError, match="bad table name 'gold.x'"):
        lake.create_table("gold.x", sample=_events([0]))
    with pytest.raises(LaketownError, match="bad table name 'noschema'"):
        lake.table("noschema")


def test_accepts_dict_and_pylist(lake):
    t = lake.write("raw.pd", {"a": [1, 2], "b": ["x", "y"]})
    t.append([{"a": 3, "b": "z"}])
    assert t.count() == 3
