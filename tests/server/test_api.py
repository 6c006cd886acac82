"""The HTTP API over a real workspace: catalog, table detail, SQL and its limits."""

from __future__ import annotations

import pyarrow as pa
import pytest

from tests.server.conftest import SALES


def test_health_names_the_workspace_and_counts_tables(client, ws):
    body = client.get("/health").json()
    assert body == {"status": "ok", "workspace": str(ws.path), "tables": 1}


def test_tables_list_gives_rows_and_current_snapshot(client, ws):
    body = client.get("/api/tables").json()
    assert [t["name"] for t in body] == ["raw.shop_sales"]
    entry = body[0]
    assert entry["zone"] == "raw" and entry["rows"] == 4
    assert entry["snapshot_id"] == str(ws.table("raw.shop_sales").stats()["snapshot_id"])


def test_zones_are_listed_in_order(client):
    assert client.get("/api/zones").json() == ["raw", "clean", "curated"]


def test_table_detail_has_schema_snapshots_stats_and_sample(client, ws):
    ws.table("raw.shop_sales").append(SALES.slice(0, 1).set_column(1, "amount", pa.array([1.0])))
    body = client.get("/api/tables/raw/shop_sales").json()
    assert [(f["name"], f["type"]) for f in body["schema"]] == [
        ("region", "string"),
        ("amount", "double"),
        ("day", "timestamp[us, tz=UTC]"),
    ]
    assert [s["operation"] for s in body["snapshots"]] == ["append", "append"]
    assert body["snapshots"][-1]["summary"]["total-records"] == "5"
    assert body["snapshots"][0]["time"].endswith("+00:00")
    assert body["stats"]["rows"] == 5 and body["stats"]["files"] == 2 and body["stats"]["bytes"] > 0
    assert body["stats"]["partitioning"] == []
    sample = body["sample"]
    assert [c["name"] for c in sample["columns"]] == ["region", "amount", "day"]
    assert len(sample["rows"]) == 5
    assert ["north", 120.5, "2024-01-01T00:00:00+00:00"] in sample["rows"]
    assert ["north", 1.0, "2024-01-01T00:00:00+00:00"] in sample["rows"]


def test_table_sample_is_capped_at_twenty_rows(client, ws):
    ws.table("raw.shop_sales").append(pa.concat_tables([SALES] * 8))
    assert len(client.get("/api/tables/raw/shop_sales").json()["sample"]["rows"]) == 20


def test_unknown_table_is_404_listing_the_zones_tables(client, ws):
    ws.lake.write("raw.shop_orders", {"id": [1]})
    resp = client.get("/api/tables/raw/shop_sale")
    assert resp.status_code == 404
    assert resp.json()["detail"] == "unknown table 'raw.shop_sale'; tables in raw: shop_orders, shop_sales"


def test_unknown_table_in_empty_zone_says_none(client):
    resp = client.get("/api/tables/curated/anything")
    assert resp.status_code == 404
    assert "tables in curated: none" in resp.json()["detail"]


@pytest.mark.parametrize("path", ["/api/tables/bronze/shop_sales", "/api/tables/raw/Shop-Sales"])
def test_bad_table_name_is_400_explaining_the_form(client, path):
    resp = client.get(path)
    assert resp.status_code == 400
    assert "write ZONE.TABLE" in resp.json()["detail"]


def test_sql_returns_columns_rows_and_timing(client):
    resp = client.post(
        "/api/sql",
        json={"sql": "SELECT region, amount FROM raw.shop_sales WHERE amount > 50 ORDER BY amount DESC"},
    )
    assert resp.status_code == 200
    body = resp.json()
    assert body["columns"] == [{"name": "region", "type": "string"}, {"name": "amount", "type": "double"}]
    assert body["rows"] == [["west", 230.0], ["north", 120.5], ["south", 80.0]]
    assert body["row_count"] == 3 and body["truncated"] is False
    assert body["elapsed_ms"] >= 0 and body["principal"] == "admin"


def test_sql_values_are_json_encoded(client):
    body = client.post(
        "/api/sql",
        json={
            "sql": "SELECT DATE '2024-02-29' AS d, 12.50::DECIMAL(10,2) AS price, 'ab'::BLOB AS b, "
            "'nan'::DOUBLE AS x, 9007199254740993::BIGINT AS big, [1, 2] AS l, {'k': 1} AS s"
        },
    ).json()
    assert body["rows"] == [["2024-02-29", "12.50", "YWI=", None, "9007199254740993", [1, 2], {"k": 1}]]


def test_bad_sql_is_400_with_the_message(client):
    resp = client.post("/api/sql", json={"sql": "SELEC region FROM raw.shop_sales"})
    assert resp.status_code == 400
    assert "syntax error" in resp.json()["detail"].lower()


def test_sql_on_unknown_table_lists_lake_tables(client):
    resp = client.post("/api/sql", json={"sql": "SELECT * FROM raw.nope"})
    assert resp.status_code == 400
    assert "raw.shop_sales" in resp.json()["detail"]


def test_reading_a_file_is_refused_with_a_clear_message(client):
    resp = client.post("/api/sql", json={"sql": "SELECT * FROM read_csv('/etc/passwd')"})
    assert resp.status_code == 403
    detail = resp.json()["detail"]
    assert "read_csv() reads or loads files and is not allowed" in detail
    assert "root:" not in detail


def test_writes_are_refused(client):
    resp = client.post("/api/sql", json={"sql": "DROP TABLE raw.shop_sales"})
    assert resp.status_code == 403
    assert "not allowed" in resp.json()["detail"]


def test_max_rows_truncates_and_says_so(client):
    body = client.post("/api/sql", json={"sql": "SELECT * FROM range(10)", "max_rows": 3}).json()
    assert body["row_count"] == 3 and body["truncated"] is True and body["max_rows"] == 3
    assert body["rows"] == [[0], [1], [2]]


def test_max_rows_cannot_exceed_the_workspace_limit(client):
    body = client.post("/api/sql", json={"sql": "SELECT * FROM range(100)", "max_rows": 1_000_000}).json()
    assert body["max_rows"] == 50 and body["row_count"] == 50 and body["truncated"] is True


def test_exact_fit_is_not_truncated(client):
    body = client.post("/api/sql", json={"sql": "SELECT * FROM range(3)", "max_rows": 3}).json()
    assert body["row_count"] == 3 and body["truncated"] is False


SLOW = "SELECT sum(a.range * b.range) FROM range(1000000) a CROSS JOIN range(1000000) b"


def test_slow_query_stops_at_the_requested_timeout(client):
    resp = client.post("/api/sql", json={"sql": SLOW, "timeout_s": 0.2})
    assert resp.status_code == 400
    assert "time limit of 0.2 s" in resp.json()["detail"]


def test_timeout_cannot_exceed_the_workspace_limit(client):
    resp = client.post("/api/sql", json={"sql": SLOW, "timeout_s": 3600})
    assert resp.status_code == 400
    assert "time limit of 2 s" in resp.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"sql": ""},
        {"sql": "SELECT 1", "max_rows": 0},
        {"sql": "SELECT 1", "timeout_s": -1},
        {"sql": "SELECT 1", "limit": 5},
    ],
)
def test_malformed_sql_request_is_422(client, body):
    assert client.post("/api/sql", json=body).status_code == 422


def test_principal_comes_from_the_api_key(ws, client):
    ws.governance.create_principal("analyst")
    ws.governance.grant("analyst", "raw.shop_sales", "select")
    key = ws.governance.create_api_key("analyst", "t")
    resp = client.post("/api/sql", json={"sql": "SELECT count(*) AS n FROM raw.shop_sales"},
                       headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 200 and resp.json()["principal"] == "analyst"
    assert client.get("/api/whoami", headers={"Authorization": f"Bearer {key}"}).json() == {"principal": "analyst"}


def test_requests_without_a_valid_key_get_401(ws):
    from laketown.server import create_app
    from tests.server.conftest import TestClient

    key = ws.governance.create_api_key("admin", "soon revoked")
    with TestClient(create_app(ws)) as c:
        for headers in ({}, {"Authorization": "Bearer ltk_nope_nope"}, {"X-API-Key": "garbage"}):
            resp = c.post("/api/sql", json={"sql": "SELECT 1"}, headers=headers)
            assert resp.status_code == 401 and resp.headers["www-authenticate"] == "Bearer"
        assert c.get("/api/tables", headers={"X-API-Key": key}).status_code == 200
        ws.governance.revoke_api_key(key)
        assert c.get("/api/tables", headers={"X-API-Key": key}).status_code == 401
        assert c.get("/health").status_code == 200  # health stays open for load balancers


def test_console_login_sets_an_httponly_cookie(ws):
    from laketown.server import create_app
    from tests.server.conftest import TestClient

    key = ws.governance.create_api_key("admin", "console")
    with TestClient(create_app(ws)) as c:
        assert c.post("/api/login", json={"key": "ltk_bad_bad"}).status_code == 401
        resp = c.post("/api/login", json={"key": key})
        assert resp.status_code == 200 and resp.json() == {"principal": "admin"}
        cookie = resp.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert c.get("/api/tables").status_code == 200  # the cookie now carries the key
        c.post("/api/logout")
        assert c.get("/api/tables").status_code == 401


def test_auth_can_be_switched_off_for_a_trusted_single_user(tmp_path):
    import laketown
    from laketown.server import create_app
    from tests.server.conftest import TestClient

    with laketown.connect(tmp_path / "ws2", server={"auth": False}) as ws, TestClient(create_app(ws)) as c:
        assert c.post("/api/sql", json={"sql": "SELECT 1 AS one"}).json()["principal"] == "admin"


def test_table_without_snapshot_has_schema_and_empty_sample(client, ws):
    ws.lake.create_table("clean.shop_returns", schema=pa.schema([("id", pa.int64()), ("reason", pa.string())]))
    body = client.get("/api/tables/clean/shop_returns").json()
    assert [f["name"] for f in body["schema"]] == ["id", "reason"]
    assert body["snapshots"] == [] and body["stats"]["rows"] == 0 and body["stats"]["snapshot_id"] is None
    assert body["sample"]["rows"] == [] and "error" not in body["sample"]
    listed = {t["name"]: t for t in client.get("/api/tables").json()}
    assert listed["clean.shop_returns"]["snapshot_id"] is None


def test_catalog_shows_a_governed_caller_only_its_tables_and_columns(ws, client):
    ws.lake.write("raw.secret_payroll", {"name": ["a"], "salary": [1.0]})
    ws.governance.create_principal("clerk")
    ws.governance.grant("clerk", "raw.shop_sales.region", "select")
    key = ws.governance.create_api_key("clerk", "t")
    headers = {"Authorization": f"Bearer {key}"}
    listed = [t["name"] for t in client.get("/api/tables", headers=headers).json()]
    assert listed == ["raw.shop_sales"]
    detail = client.get("/api/tables/raw/shop_sales", headers=headers).json()
    assert [c["name"] for c in detail["schema"]] == ["region"]
    hidden = client.get("/api/tables/raw/secret_payroll", headers=headers)
    unknown = client.get("/api/tables/raw/no_such_table", headers=headers)
    assert hidden.status_code == unknown.status_code == 404
    # a hidden table answers exactly like a missing one: nothing tells that it exists
    assert hidden.json()["detail"] == unknown.json()["detail"].replace("no_such_table", "secret_payroll")
    assert sorted(t["name"] for t in client.get("/api/tables").json()) == ["raw.secret_payroll", "raw.shop_sales"]
