"""The IoT API and page over a workspace that a small fleet ran through."""

from __future__ import annotations

import warnings

from laketown.apps.iot.console import mount
from laketown.apps.iot.flow import IotFlow
from laketown.server import create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def test_fleet_readings_alerts_assets_and_page(ws):
    with IotFlow(ws, "amqtt", machines=2, seed=5) as flow:
        flow.train(history_machines=6, ticks=250)
        flow.simulate(90)
        flow.process_until_idle()
    key = ws.governance.create_api_key("admin", "tests")
    app = create_app(ws)
    mount(app, ws)
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as client:
        fleet = client.get("/api/iot/fleet").json()
        assert {d["device_id"] for d in fleet["devices"]} == {"m00000", "m00001"}
        assert all(d["health"] in ("ok", "warning", "critical") for d in fleet["devices"])
        readings = client.get("/api/iot/devices/m00001/readings?limit=50").json()["readings"]
        assert len(readings) == 50 and readings[-1]["ts"] > readings[0]["ts"]
        assert client.get("/api/iot/devices/bad%20id/readings").status_code == 400
        assert isinstance(client.get("/api/iot/alerts").json()["alerts"], list)
        sites = client.get("/api/iot/assets").json()["assets"]
        assert [s["name"] for s in sites] == ["site-1"]  # 2 machines: both lines of site-1
        assert [ln["name"] for ln in sites[0]["children"]] == ["site-1-line-1", "site-1-line-2"]
        assert sum(s["metrics"]["n"] for s in sites) > 0
        page = client.get("/apps/iot")
        assert page.status_code == 200 and "iot.js" in page.text
        assert client.get("/apps/iot/static/iot.js").status_code == 200
    unauth = TestClient(app)
    assert unauth.get("/api/iot/fleet").status_code == 401
