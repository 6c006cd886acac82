"""The recommendations app as the server mounts it: page, API behind auth, events to the stream."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from laketown.apps.recommendations import data, retail, solutions
from laketown.apps.recommendations.console import EVENTS_STREAM, mount
from laketown.server import create_app


def test_page_api_and_events_reach_the_stream(ws):
    ds = retail.generate()
    data.write_to_lake(ws, ds)
    sol = solutions.train_solution(ds, protocol="personalize")
    solutions.save(sol, ws)
    app = create_app(ws)
    mount(app, ws)
    key = ws.governance.create_api_key("admin", "t")
    with TestClient(app) as anon:
        assert anon.get("/api/recs/users/u1").status_code == 401  # the app's API is behind auth too
    with TestClient(app, headers={"X-API-Key": key}) as c:
        assert c.get("/apps/recs").status_code == 200
        user = str(ds.interactions["user_id"].iloc[0])
        item = str(ds.interactions["item_id"].iloc[-1])
        assert c.get(f"/api/recs/users/{user}").json()["recommendations"]
        resp = c.post("/api/recs/events", json={"user_id": user, "events": [{"item_id": item, "event_type": "click"}]})
        assert resp.status_code == 200 and resp.json()["accepted"] == 1
    with ws.streams.consumer(EVENTS_STREAM) as cons:
        got = cons.poll(max_records=10, timeout_s=2)
    events = [json.loads(v) for v in got.column("value").to_pylist()]
    assert [(e["user_id"], e["item_id"], e["event_type"]) for e in events] == [(user, item, "click")]
    # what `laketown serve` runs for the app: the events land in the lake
    from laketown.apps.recommendations.console import EVENTS_TABLE, SINKS
    from laketown.streams.delivery import DeliverySink

    stream, table, _ = SINKS[0]
    DeliverySink(ws.lake, ws.streams, stream, table, buffer_seconds=0.1).run(idle_exit_s=1.0)
    rows = ws.sql(f"SELECT user_id, item_id, event_type FROM {EVENTS_TABLE}").to_pylist()
    assert rows == [{"user_id": user, "item_id": item, "event_type": "click"}]


def test_saved_solution_is_registered_in_mlflow(ws):
    from laketown.ml.registry import ModelRegistry

    ds = retail.generate()
    sol = solutions.train_solution(ds, protocol="personalize", tune=False)
    solutions.save(sol, ws)
    versions = ModelRegistry(ws).versions(solutions.MLFLOW_NAME)
    assert len(versions) == 1
    loaded = ModelRegistry(ws).load(solutions.MLFLOW_NAME)
    assert loaded.version == sol.version and loaded.recipe == sol.recipe


def test_experiment_reports_list_every_experiment(ws):
    from laketown.apps.recommendations.api import build_router
    from laketown.apps.recommendations.service import RecsService
    from fastapi import FastAPI

    ds = retail.generate()
    sol = solutions.train_solution(ds, protocol="personalize", tune=False)
    service = RecsService(sol)
    app = FastAPI()
    app.include_router(build_router(service))
    with TestClient(app) as c:
        assert c.get("/api/recs/experiments").json() == []
        assert c.post("/api/recs/experiments", json={"name": "ab1", "variants": {"a": "default", "b": "default"}}).status_code == 200
        user = str(ds.interactions["user_id"].iloc[0])
        recs = c.get(f"/api/recs/experiments/ab1/users/{user}").json()["recommendations"]
        c.post("/api/recs/events", json={"user_id": user, "events": [{"item_id": recs[0]["item_id"], "event_type": "click"}]})
        reports = c.get("/api/recs/experiments").json()
    assert [r["experiment"] for r in reports] == ["ab1"]
    results = reports[0]["results"]
    assert sum(v["clicks"] for v in results.values()) == 1
