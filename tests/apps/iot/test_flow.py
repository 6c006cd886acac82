"""The same end-to-end flow on amqtt and on mosquitto: devices -> edge agents -> broker ->
ingest -> streams -> raw table, windows, inference and alerts; bad payloads to iot_errors."""

from __future__ import annotations

import json
import zlib

import pytest

from laketown.apps.iot import mqtt
from laketown.apps.iot.flow import IotFlow
from laketown.apps.iot.inference import status_path
from laketown.apps.iot.ingest import ERRORS_STREAM, TELEMETRY_STREAM


@pytest.mark.parametrize("kind", ["amqtt", "mosquitto"])
def test_fleet_flows_through_to_the_lake_with_bad_payloads_in_the_error_stream(ws, kind):
    with IotFlow(ws, kind, machines=3, seed=3) as flow:
        flow.train(history_machines=8, ticks=300)
        readings = flow.simulate(130)
        assert flow.ingest.stats.records == readings.num_rows == 390

        user, secret = "m00000", flow.registry.register("m00000")  # re-keyed: the agent's old secret stops working
        flow.broker.reload()
        dev = mqtt.connect(flow.broker.host, flow.broker.port, "bad-sender", user, secret)
        bad = [b"not json", b'{"temp": 1}', b'{"ts": "yesterday"}', b'[{"ts": 5, "device_id": "m00001"}]',
               zlib.compress(b'{"ts": 7, "nested": {"a": 1}}'), b'\x78\x9cgarbage']
        for payload in bad:
            dev.publish("devices/m00000/telemetry", payload, qos=1).wait_for_publish(10)
        dev.disconnect()
        dev.loop_stop()
        deadline_ok = _wait(lambda: flow.ingest.stats.errors >= len(bad))
        assert deadline_ok and flow.ingest.stats.errors == len(bad)

        out = flow.process_until_idle()
        assert out["raw_rows"] == 390
        raw = ws.table("raw.iot_telemetry")
        assert raw.count() == 390
        assert "day" in json.dumps(raw.iceberg.spec().model_dump(), default=str)
        m1 = ws.table("curated.iot_metrics_1m").to_arrow()
        assert set(m1.column("device_id").to_pylist()) == {"m00000", "m00001", "m00002"}
        assert sum(m1.column("n").to_pylist()) == 390  # every reading in exactly one 1-minute window
        assert set(m1.column("site").to_pylist()) <= {"site-1", "site-2"}
        status = json.loads(status_path(ws).read_text())
        assert {d["device_id"] for d in status["devices"]} == {"m00000", "m00001", "m00002"}
        assert all(d["rul"] is not None for d in status["devices"])

    with ws.streams.consumer(ERRORS_STREAM, partitions=[0]) as c:
        errors = [json.loads(v) for v in c.poll(timeout_s=2).column("value").to_pylist()]
    reasons = " | ".join(e["reason"] for e in errors)
    for expected in ("not valid JSON", "field 'ts' must be epoch milliseconds", "does not match the topic's device",
                     "field 'nested' must be a number", "does not decompress"):
        assert expected in reasons
    assert ws.streams.describe(TELEMETRY_STREAM).partitions == 4


def _wait(cond, timeout_s=20.0):
    import time

    deadline = time.monotonic() + timeout_s
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.05)
    return cond()
