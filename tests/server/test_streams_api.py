"""The streams API and page: streams with end offsets, sink status with lag."""

from __future__ import annotations

import pyarrow as pa
from fastapi.testclient import TestClient

from laketown.server import create_app
from laketown.streams.delivery import DeliverySink


def test_streams_and_jobs_report_offsets_throughput_and_lag(ws):
    ws.streams.create_stream("clicks", partitions=2)
    with ws.streams.producer("clicks") as prod:
        prod.produce_json([{"id": i} for i in range(10)], key_field="id")
    ws.lake.create_table("raw.clicks", schema=pa.schema([("id", pa.int64())]))
    DeliverySink(ws.lake, ws.streams, "clicks", "raw.clicks", buffer_seconds=0.1, name="clicks-sink").run(idle_exit_s=0.2)
    with ws.streams.producer("clicks") as prod:  # 3 more that no sink has taken yet
        prod.produce_json([{"id": i} for i in range(10, 13)], key_field="id")
    with TestClient(create_app(ws)) as client:
        streams = client.get("/api/streams").json()
        assert streams == [{"name": "clicks", "partitions": 2, "retention_ms": None, "retention_bytes": None,
                            "end_offsets": streams[0]["end_offsets"], "records": 13}]
        jobs = client.get("/api/jobs").json()
        assert [j["name"] for j in jobs] == ["clicks-sink"]
        assert jobs[0]["records_written"] == 10 and jobs[0]["lag"] == 3 and jobs[0]["running"] is True
        page = client.get("/streams")
        assert page.status_code == 200 and "streams.js" in page.text
        assert {"title": "Streams", "path": "/streams"} in client.app.state.nav


def test_lag_of_a_consumer_group(ws):
    ws.streams.create_stream("orders", partitions=1)
    with ws.streams.producer("orders") as prod:
        prod.produce([b"a", b"b", b"c"])
    with ws.streams.consumer("orders", group="g1") as cons:
        got = cons.poll(max_records=2, timeout_s=2)
        cons.commit({0: int(got.column("offset")[-1].as_py()) + 1})
    with TestClient(create_app(ws)) as client:
        lag = client.get("/api/streams/orders/lag", params={"group": "g1"}).json()
        assert lag["total"] == 3 - got.num_rows
