"""The Customer 360 API as `laketown serve` mounts it, over a workspace built end to end."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient

import laketown
from laketown.apps.customer360.console import mount
from laketown.apps.customer360.names import (
    CUSTOMERS,
    IDENTITIES,
    SEGMENTS,
    SOURCE_RECORDS,
)
from laketown.server import create_app
from tests.apps.customer360.built import built_workspace


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    path, metrics = built_workspace(tmp_path_factory)
    ws = laketown.connect(path)
    app = create_app(ws)
    mount(app, ws)
    key = ws.governance.create_api_key("admin", "c360 tests")
    with TestClient(app, headers={"X-API-Key": key}) as client:
        yield ws, client, app, metrics
    app.state.c360_service.close()
    ws.close()


def _household_pair(ws):
    from laketown.apps.customer360.graph import household_key

    homes: dict[str, list[str]] = {}
    for r in ws.lake.table(CUSTOMERS).scan().to_pylist():
        hk = household_key(r["street"], r["postcode"])
        if hk:
            homes.setdefault(hk, []).append(r["customer_id"])
    return next(sorted(ids)[:2] for ids in homes.values() if len(ids) >= 2)


def test_a_second_delivery_is_resolved_incrementally(built):
    ws, _, _, metrics = built
    assert metrics["rebuild"]["mode"] == "rebuild"
    resolved = metrics["resolved"]
    new_records = ws.sql("SELECT count(*) FROM clean.c360_source_records WHERE source_id LIKE '1-%'").column(0)[0].as_py()
    assert resolved["mode"] != "rebuild" and resolved["added"] == new_records > 0
    assert resolved["records"] == metrics["rebuild"]["records"] + new_records
    assert metrics["identity_vs_truth"]["f1"] > 0.9  # measured against the generator's truth


def test_sources_state_shows_rows_watermarks_and_quarantine(built):
    _, client, _, metrics = built
    state = client.get("/api/c360/sources").json()
    assert state["tables"]["raw.c360_crm_contacts"] == metrics["first"]["crm_contacts"] + metrics["second"]["crm_contacts"]
    assert state["landed_files"] == 2 and state["watermarks"]["orders"][1].startswith("1-")
    assert sum(q["rows"] for q in state["quarantine"]) == state["tables"]["raw.c360_quarantine"] > 0


def test_the_api_needs_a_key(built):
    _, _, app, _ = built
    with TestClient(app) as anon:
        assert anon.get("/api/c360/search", params={"q": "a"}).status_code == 401
        assert anon.get("/api/c360/sparql", params={"query": "ASK {}"}).status_code == 401


def test_search_then_profile_with_sources_and_journey(built):
    ws, client, _, _ = built
    ids = ws.lake.table(IDENTITIES).scan().to_pylist()
    by_customer: dict[str, list[str]] = {}
    for r in ids:
        by_customer.setdefault(r["customer_id"], []).append(r["record_id"])
    cid = next(c for c, recs in sorted(by_customer.items()) if len({r.split(":")[0] for r in recs}) >= 2)
    golden = next(r for r in ws.lake.table(CUSTOMERS).scan().to_pylist() if r["customer_id"] == cid)
    found = client.get("/api/c360/search", params={"q": f"{golden['surname']} {golden['email']}"}).json()["customers"]
    assert cid in [c["customer_id"] for c in found]
    prof = client.get(f"/api/c360/customers/{cid}").json()
    assert sorted(s["record_id"] for s in prof["sources"]) == sorted(by_customer[cid])
    assert prof["golden"]["customer_id"] == cid and prof["persona"]
    times = [e["at"] for e in prof["timeline"]]
    assert times == sorted(times, reverse=True)
    assert {e["kind"] for e in prof["timeline"]} <= {"order", "ticket", "event"}
    missing = client.get("/api/c360/customers/nobody")
    assert missing.status_code == 404 and "unknown customer 'nobody'" in missing.json()["detail"]


def test_segments_and_export_table_for_the_engagement_app(built):
    ws, client, _, metrics = built
    seg = client.get("/api/c360/segments").json()
    assert sum(p["size"] for p in seg["personas"]) == seg["customers"] == ws.lake.table(CUSTOMERS).count()
    assert len(seg["personas"]) == metrics["intelligence"]["k"]
    silhouettes = metrics["intelligence"]["silhouette"]
    assert max(silhouettes, key=silhouettes.get) == str(metrics["intelligence"]["k"])
    export = ws.lake.table(SEGMENTS)
    assert export.schema.names == ["customer_id", "email", "given_name", "surname", "segment", "persona",
                                   "churn_propensity", "exported_at"]
    rows = export.scan().to_pylist()
    assert all(0.0 <= r["churn_propensity"] <= 1.0 for r in rows)
    assert {r["persona"] for r in rows} == {p["persona"] for p in seg["personas"]}


class _Recs(BaseHTTPRequestHandler):
    """A recommendations API stand-in speaking the recs app's HTTP shape."""

    def log_message(self, *a):
        pass

    def do_GET(self):
        body = json.dumps({"recommendations": [{"item_id": "P11", "name": "Noise-cancelling headphones", "score": 0.9}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_next_best_action_uses_the_recs_api_when_reachable_else_the_graph(built):
    ws, client, app, _ = built
    service = app.state.c360_service
    buyer = ws.sql("SELECT i.customer_id FROM clean.c360_orders o JOIN clean.c360_identities i USING (record_id) "
                   "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1").column(0)[0].as_py()
    service.recs_url = "http://127.0.0.1:9"  # nothing listens: rules and the graph only
    off = client.get(f"/api/c360/customers/{buyer}/next-best-action").json()
    assert off["actions"] and off["recommendation_source"] in ("graph-also-bought", None)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recs)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        service.recs_url = f"http://127.0.0.1:{server.server_address[1]}"
        on = client.get(f"/api/c360/customers/{buyer}/next-best-action").json()
    finally:
        server.shutdown()
        server.server_close()
        service.recs_url = None
    recs = [a for a in on["actions"] if a["action"] == "recommend_products"]
    assert on["recommendation_source"] == "recs-api" and recs[0]["items"][0]["item_id"] == "P11"
    scores = [a["score"] for a in on["actions"]]
    assert scores == sorted(scores, reverse=True)


def test_resolve_one_finds_the_customer_of_a_known_person(built):
    ws, client, _, _ = built
    rec = ws.lake.table(SOURCE_RECORDS).scan(limit=50).to_pylist()[7]
    owner = {r["record_id"]: r["customer_id"] for r in ws.lake.table(IDENTITIES).scan().to_pylist()}[rec["record_id"]]
    probe = {k: rec[k] for k in ("given_name", "surname", "email", "phone", "street", "city", "postcode", "dob") if rec[k]}
    got = client.post("/api/c360/resolve", json={"record": {"record_id": "web:probe-1", "source": "web", "source_id": "probe-1", **probe}})
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["customer_id"] == owner and body["is_new"] is False and body["match_probability"] > 0.5
    stranger = client.post("/api/c360/resolve", json={"record": {"record_id": "web:probe-2", "source": "web", "source_id": "probe-2",
                                                                 "given_name": "Zebedee", "surname": "Quixotic", "email": "zq@nowhere.invalid"}})
    assert stranger.json()["is_new"] is True
    assert client.post("/api/c360/resolve", json={"record": {"nickname": "x"}}).status_code == 422


def test_sparql_endpoint_and_named_queries_over_the_customer_graph(built):
    ws, client, _, _ = built
    q = "PREFIX c360: <https://laketown.dev/c360#> SELECT (COUNT(?c) AS ?n) WHERE { ?c a c360:Customer }"
    got = client.get("/api/c360/sparql", params={"query": q})
    assert int(got.json()["results"]["bindings"][0]["n"]["value"]) == ws.lake.table(CUSTOMERS).count()
    refused = client.post("/api/c360/sparql", data={"update": "CLEAR ALL"})
    assert refused.status_code == 400
    a, b = _household_pair(ws)
    members = client.get("/api/c360/queries/household_members", params={"customer": a}).json()["rows"]
    assert b in [m["member"] for m in members]
    steps = client.get("/api/c360/path", params={"a": a, "b": b}).json()["steps"]
    assert len(steps) == 2 and steps[0]["via"] == "memberOf" and steps[-1]["to"].endswith(b)
    bad = client.get("/api/c360/queries/journey", params={"customer": "x> } ?s ?p ?o {"})
    assert bad.status_code == 400 and "not an IRI" in bad.json()["detail"]
    names = [q["name"] for q in client.get("/api/c360/queries").json()["queries"]]
    assert {"journey", "household_members", "also_bought", "neighbourhood"} <= set(names)



def _cli(path, *args):
    from typer.testing import CliRunner

    from laketown.apps.customer360.cli import app

    return CliRunner().invoke(app, list(args), env={"LAKETOWN__WORKSPACE": str(path)})


def test_cli_queries_the_graph_and_explains_an_unknown_customer(built):
    ws, _, _, _ = built
    a, b = _household_pair(ws)
    out = _cli(ws.path, "sparql", "--named", "household_members", "-p", f"customer={a}")
    assert out.exit_code == 0, out.output
    assert b in [line.split(",")[0] for line in out.stdout.splitlines()[1:]]
    bad = _cli(ws.path, "profile", "nobody")
    assert bad.exit_code == 2
    assert bad.stderr.strip().splitlines() == ["error: unknown customer 'nobody'; find ids with `laketown c360 search` or GET /api/c360/search?q="]
