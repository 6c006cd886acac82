"""Alert de-duplication, escalation and auto-clear; events to the stream and the lake."""

from __future__ import annotations

from laketown.apps.iot.alerts import (
    ALERTS_STREAM,
    AlertManager,
    Observation,
    current_alerts,
    stream_sink,
    table_sink,
)


def _ob(active, ts, severity="warning", kind="anomaly"):
    return Observation("d1", kind, active, ts, severity, 1.0)


def test_repeated_condition_opens_one_alert_then_clears_after_quiet_observations():
    am = AlertManager(clear_after=3)
    events = []
    for i, active in enumerate([True, True, True, False, False, True, False, False, False]):
        events += am.observe([_ob(active, i)])
    assert [(e["event"], e["event_ms"]) for e in events] == [("open", 0), ("clear", 8)]
    assert events[1]["count"] == 4 and not am.open


def test_severity_escalates_once_and_kinds_are_separate():
    am = AlertManager(clear_after=1)
    ev = am.observe([_ob(True, 0), _ob(True, 1, "critical"), _ob(True, 2, "warning"), _ob(True, 3, kind="low_rul")])
    assert [(e["event"], e["kind"], e["severity"]) for e in ev] == [
        ("open", "anomaly", "warning"), ("escalate", "anomaly", "critical"), ("open", "low_rul", "warning")]
    assert len(am.open_alerts()) == 2


def test_events_reach_the_stream_and_the_lake(ws):
    am = AlertManager(clear_after=1, sinks=[stream_sink(ws.streams), table_sink(ws.lake)])
    am.observe([_ob(True, 10), Observation("d2", "low_rul", True, 11, "critical", 12.0)])
    am.observe([_ob(False, 20)])
    assert [a["device_id"] for a in current_alerts(ws)] == ["d2"]
    with ws.streams.consumer(ALERTS_STREAM, partitions=[0]) as c:
        assert c.poll(timeout_s=2).num_rows == 3


def test_webhook_receives_events_and_failures_are_counted():
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from laketown.apps.iot.alerts import webhook_sink

    got = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server API
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        send = webhook_sink(f"http://127.0.0.1:{server.server_port}/hook")
        AlertManager(sinks=[send]).observe([_ob(True, 1)])
        assert got[0]["events"][0]["event"] == "open" and send.stats["failures"] == 0
    finally:
        server.shutdown()
        server.server_close()
    send(["x"])  # the server is gone
    assert send.stats["failures"] == 1
