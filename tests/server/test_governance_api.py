"""``/api/gov/...``: catalog search and table pages scoped by the caller's policies, admin-only
policy administration, API keys through the API, the audit viewer's filters, PII review."""

from __future__ import annotations

import pyarrow as pa
import pytest

from laketown.server import create_app
from tests.server.conftest import TestClient

CUSTOMERS = pa.table({
    "id": [1, 2, 3],
    "email": ["ana@example.com", "bo@example.org", "cy@example.net"],
    "region": ["EU", "US", "EU"],
})


@pytest.fixture
def gov(ws):
    """``raw.customers`` beside ``raw.shop_sales``; ``ana`` may read only the customers, EU rows,
    email masked."""
    ws.lake.write("raw.customers", CUSTOMERS)
    g = ws.governance
    g.create_principal("ana")
    g.grant("ana", "raw.customers")
    g.set_row_filter("raw.customers", "ana", "region = 'EU'")
    g.set_mask("raw.customers.email", "redact")
    g.catalog.describe("raw.customers", "Customers of the shop", owner="admin", columns={"email": "contact address"})
    return g


@pytest.fixture
def ana(ws, gov):
    with TestClient(create_app(ws), headers={"Authorization": f"Bearer {gov.create_api_key('ana')}"}) as c:
        yield c


def test_search_shows_a_governed_caller_only_tables_it_may_read(client, ana):
    assert {h["table"] for h in client.get("/api/gov/search", params={"q": "raw"}).json()} == {
        "raw.customers", "raw.shop_sales"}
    hits = ana.get("/api/gov/search", params={"q": "raw"}).json()
    assert {h["table"] for h in hits} == {"raw.customers"}
    assert ana.get("/api/gov/search", params={"q": "amount"}).json() == []
    assert client.get("/api/gov/search", params={"q": "amount"}).json()[0]["column"] == "amount"


def test_search_finds_columns_by_doc(client, gov):
    hits = client.get("/api/gov/search", params={"q": "contact"}).json()
    assert [(h["table"], h["column"]) for h in hits] == [("raw.customers", "email")]


def test_table_page_has_description_columns_stats_lineage_and_history(client, gov):
    gov.lineage.record("enrich", ["raw.shop_sales"], ["raw.customers"])
    body = client.get("/api/gov/tables/raw/customers").json()
    assert body["description"] == "Customers of the shop" and body["owner"] == "admin"
    email = next(c for c in body["columns"] if c["name"] == "email")
    assert email["doc"] == "contact address"
    assert email["stats"]["null_count"] == 0 and email["stats"]["max"] == "cy@example.net"
    assert body["lineage"]["upstream"] == ["raw.shop_sales"]
    assert body["schema_history"][0]["columns"][0].startswith("id ")
    assert isinstance(body["snapshot_id"], str) and body["can_administer"] is True


def test_table_page_of_a_hidden_table_is_404_like_an_unknown_one(ana):
    hidden = ana.get("/api/gov/tables/raw/shop_sales")
    unknown = ana.get("/api/gov/tables/raw/no_such_table")
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json()["detail"] == "unknown table 'raw.shop_sales'; tables in raw: customers"
    assert unknown.json()["detail"] == "unknown table 'raw.no_such_table'; tables in raw: customers"


def test_governed_table_page_hides_min_max_of_masked_and_filtered_data(ana, gov):
    gov.lineage.record("enrich", ["raw.shop_sales"], ["raw.customers"])
    body = ana.get("/api/gov/tables/raw/customers").json()
    email = next(c for c in body["columns"] if c["name"] == "email")
    assert email["mask"] == "redact" and email["stats"]["min"] is None and email["stats"]["max"] is None
    assert all(c["stats"]["max"] is None for c in body["columns"])  # the row filter hides US rows
    assert body["lineage"]["upstream"] == [] and "raw.shop_sales" not in body["lineage"]["nodes"]
    assert body["can_administer"] is False


@pytest.mark.parametrize("method, path, body", [
    ("get", "/api/gov/principals", None),
    ("post", "/api/gov/principals", {"name": "eve"}),
    ("get", "/api/gov/keys", None),
    ("post", "/api/gov/keys", {"principal": "ana"}),
    ("delete", "/api/gov/keys/0123456789ab", None),
    ("get", "/api/gov/grants", None),
    ("post", "/api/gov/grants", {"subject": "ana", "resource": "raw"}),
    ("post", "/api/gov/grants/revoke", {"subject": "ana", "resource": "raw.customers"}),
    ("put", "/api/gov/row-filters", {"table": "raw.customers", "subject": "ana", "predicate": None}),
    ("put", "/api/gov/masks", {"target": "raw.customers.email", "kind": None}),
    ("post", "/api/gov/tags", {"resource": "raw.customers", "tags": {"domain": "crm"}}),
    ("post", "/api/gov/pii/review", {"table": "raw.customers", "column": "email", "accept": True}),
    ("post", "/api/gov/tables/raw/customers/classify", None),
    ("post", "/api/gov/tables/raw/customers/describe", {"description": "mine now"}),
    ("get", "/api/gov/audit", None),
])
def test_administration_and_audit_are_403_for_non_admins(ana, gov, method, path, body):
    resp = ana.request(method.upper(), path, json=body)
    assert resp.status_code == 403, resp.text
    assert "admin" in resp.json()["detail"]
    assert [g["resource"] for g in gov.policies.grants("ana")] == ["raw.customers"]  # nothing changed


def test_key_created_through_the_api_works_then_revocation_gives_401(client, ws, gov):
    created = client.post("/api/gov/principals", json={"name": "svc", "kind": "service"})
    assert created.status_code == 201 and created.json()["kind"] == "service"
    assert client.post("/api/gov/grants", json={"subject": "svc", "resource": "raw.shop_sales"}).status_code == 201
    resp = client.post("/api/gov/keys", json={"principal": "svc", "name": "etl", "expires_days": 1})
    assert resp.status_code == 201
    key, key_id = resp.json()["key"], resp.json()["key_id"]
    assert key.startswith(f"ltk_{key_id}_")
    listed = client.get("/api/gov/keys", params={"principal": "svc"}).json()
    assert [k["key_id"] for k in listed] == [key_id] and "key" not in listed[0] and "secret_sha256" not in listed[0]
    with TestClient(create_app(ws), headers={"Authorization": f"Bearer {key}"}) as svc:
        assert [t["name"] for t in svc.get("/api/tables").json()] == ["raw.shop_sales"]
        assert client.delete(f"/api/gov/keys/{key_id}").json() == {"revoked": key_id}
        again = svc.get("/api/tables")
        assert again.status_code == 401 and "revoked" in again.json()["detail"]


def test_grants_row_filters_masks_and_tags_round_trip(client, gov):
    assert client.post("/api/gov/grants", json={"subject": "ana", "resource": "tag:domain=crm"}).status_code == 201
    assert {"subject": "ana", "resource": "tag:domain=crm", "privilege": "select", "grantor": "admin"} in \
        client.get("/api/gov/grants", params={"subject": "ana"}).json()
    assert client.post("/api/gov/grants/revoke", json={"subject": "ana", "resource": "tag:domain=crm"}).json() == {
        "revoked": 1}
    assert client.put("/api/gov/row-filters", json={"table": "raw.customers", "subject": "ana",
                                                    "predicate": None}).status_code == 200
    assert client.get("/api/gov/row-filters").json() == []
    assert client.put("/api/gov/masks", json={"target": "tag:pii=*", "kind": "hash"}).status_code == 200
    assert {"target": "tag:pii=*", "subject": "*", "kind": "hash"} in client.get("/api/gov/masks").json()
    tagged = client.post("/api/gov/tags", json={"resource": "raw.customers", "tags": {"domain": "crm"}})
    assert tagged.json() == {"resource": "raw.customers", "tags": {"domain": "crm"}}


def test_bad_policy_values_are_400_naming_the_value(client, gov):
    resp = client.post("/api/gov/grants", json={"subject": "ana", "resource": "raw.customers", "privileges": ["drop"]})
    assert resp.status_code == 400 and "'drop'" in resp.json()["detail"]
    resp = client.put("/api/gov/masks", json={"target": "raw.customers.email", "kind": "scramble"})
    assert resp.status_code == 400 and "scramble" in resp.json()["detail"]
    resp = client.post("/api/gov/grants", json={"subject": "nobody", "resource": "raw"})
    assert resp.status_code == 400 and "unknown principal 'nobody'" in resp.json()["detail"]


def test_policy_changes_made_through_the_api_are_audited_under_the_admin(client, gov):
    client.post("/api/gov/grants", json={"subject": "ana", "resource": "raw.shop_sales"})
    rows = client.get("/api/gov/audit", params={"kind": "policy", "limit": 1}).json()
    columns = [c["name"] for c in rows["columns"]]
    event = dict(zip(columns, rows["rows"][0]))
    assert event["principal"] == "admin" and event["statement"] == "grant select on raw.shop_sales to ana"


def test_audit_filters_by_principal_outcome_and_table(client, ana, gov):
    assert ana.post("/api/sql", json={"sql": "SELECT * FROM raw.customers"}).status_code == 200
    assert ana.post("/api/sql", json={"sql": "SELECT * FROM raw.shop_sales"}).status_code in (400, 403)
    body = client.get("/api/gov/audit", params={"principal": "ana", "table": "raw.customers", "kind": "query"}).json()
    columns = [c["name"] for c in body["columns"]]
    events = [dict(zip(columns, r)) for r in body["rows"]]
    assert events and all(e["principal"] == "ana" and "raw.customers" in e["tables"] for e in events)
    assert events[0]["rows"] == 2 and events[0]["outcome"] == "ok"
    denied = client.get("/api/gov/audit", params={"principal": "ana", "outcome": "denied"}).json()["rows"]
    assert denied and all("denied" in r for r in denied)
    assert client.get("/api/gov/audit", params={"limit": 0}).status_code == 422


def test_accepting_a_pii_proposal_tags_the_column(client, gov):
    proposals = client.post("/api/gov/tables/raw/customers/classify").json()
    email = next(p for p in proposals if p["column_name"] == "email")
    assert email["pii"] == "email" and email["state"] == "proposed"
    page = client.get("/api/gov/tables/raw/customers").json()
    assert next(c for c in page["columns"] if c["name"] == "email")["pii"]["state"] == "proposed"
    resp = client.post("/api/gov/pii/review", json={"table": "raw.customers", "column": "email", "accept": True})
    assert resp.json() == {"table": "raw.customers", "column": "email", "state": "accepted", "tags": {"pii": "email"}}
    column = next(c for c in client.get("/api/gov/tables/raw/customers").json()["columns"] if c["name"] == "email")
    assert column["pii"]["state"] == "accepted" and column["tags"]["pii"] == "email"
    assert gov.policies.tags_of("raw.customers.email") == {"pii": "email"}


def test_governance_page_is_served_with_the_csp(client):
    resp = client.get("/governance")
    assert resp.status_code == 200 and "governance.js" in resp.text
    assert "script-src 'self'" in resp.headers["content-security-policy"]
    assert 'href="/governance"' in client.get("/").text
