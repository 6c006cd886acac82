"""API keys over HTTP: 401 for missing, malformed, revoked and expired keys; a key names its
principal and nothing in the request can widen it."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pyarrow as pa
import pytest
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.testclient import TestClient

from laketown.governance import AuthenticationError, authenticate_request
from laketown.sql import AccessDeniedError


@pytest.fixture
def api(ws):
    ws.lake.write("raw.items", pa.table({"id": [1, 2, 3], "owner": ["bob", "bob", "eve"]}))
    ws.lake.write("clean.private", pa.table({"x": [42]}))
    g = ws.governance
    g.create_principal("bob")
    g.create_principal("eve")
    g.grant("bob", "raw.items")
    g.set_row_filter("raw.items", "bob", "owner = 'bob'")
    g.grant("eve", "clean")
    app = FastAPI()

    def current_principal(request: Request) -> str:
        return authenticate_request(ws, request)

    @app.post("/api/sql")
    def sql(body: dict, principal: str = Depends(current_principal)):
        try:
            return {"principal": principal, "rows": ws.sql(body["sql"], principal=principal).to_pylist()}
        except AccessDeniedError as exc:
            raise HTTPException(403, str(exc)) from None

    return ws, TestClient(app)


def post(client, sql, key=None, **headers):
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return client.post("/api/sql", json={"sql": sql}, headers=headers)


def test_key_authenticates_its_principal(api):
    ws, client = api
    key = ws.governance.create_api_key("bob")
    res = post(client, "SELECT count(*) AS n FROM raw.items", key)
    assert res.status_code == 200 and res.json() == {"principal": "bob", "rows": [{"n": 2}]}
    res = client.post("/api/sql", json={"sql": "SELECT 1 AS x"}, headers={"X-API-Key": key})
    assert res.status_code == 200


@pytest.mark.parametrize("key", [None, "", "ltk_nope", "Bearer", "ltk_000000000000_" + "a" * 43])
def test_missing_malformed_or_unknown_key_gets_401(api, key):
    _, client = api
    res = post(client, "SELECT 1", key)
    assert res.status_code == 401 and res.headers["www-authenticate"] == "Bearer"


def test_wrong_secret_for_a_real_key_id_gets_401(api):
    ws, client = api
    key = ws.governance.create_api_key("bob")
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    assert post(client, "SELECT 1", forged).status_code == 401


def test_revoked_key_gets_401_on_the_next_request(api):
    ws, client = api
    key = ws.governance.create_api_key("bob")
    assert post(client, "SELECT 1", key).status_code == 200
    ws.governance.revoke_api_key(key)
    res = post(client, "SELECT 1", key)
    assert res.status_code == 401 and "revoked" in res.json()["detail"]


def test_expired_key_gets_401(api):
    ws, client = api
    key = ws.governance.create_api_key("bob", expires_in=timedelta(seconds=-1))
    res = post(client, "SELECT 1", key)
    assert res.status_code == 401 and "expired" in res.json()["detail"]


def test_key_of_another_principal_cannot_widen_access(api):
    ws, client = api
    bob = ws.governance.create_api_key("bob")
    eve = ws.governance.create_api_key("eve")
    # bob's key with headers naming someone else still runs as bob, under bob's filter
    res = post(client, "SELECT count(*) AS n FROM raw.items", bob, **{"X-Laketown-Principal": "admin", "X-API-Key": eve})
    assert res.json() == {"principal": "bob", "rows": [{"n": 2}]}
    assert post(client, "SELECT * FROM clean.private", bob).status_code == 403
    # eve's key reads what eve may read and nothing of bob's
    assert post(client, "SELECT * FROM clean.private", eve).json()["rows"] == [{"x": 42}]
    assert post(client, "SELECT * FROM raw.items", eve).status_code == 403


def test_disabled_principal_key_gets_401(api):
    ws, client = api
    key = ws.governance.create_api_key("bob")
    ws.governance.principals.set_disabled("bob")
    assert post(client, "SELECT 1", key).status_code == 401


def test_secrets_are_stored_hashed_and_failures_audited_without_them(api):
    ws, client = api
    key = ws.governance.create_api_key("bob")
    secret = key.rsplit("_", 1)[1]
    raw = (ws.path / "governance.db").read_bytes()
    assert secret.encode() not in raw
    con = sqlite3.connect(ws.path / "governance.db")
    assert secret not in repr(con.execute("SELECT * FROM api_keys").fetchall())
    ws.governance.revoke_api_key(key)
    post(client, "SELECT 1", key)
    events = ws.governance.audit_events(kind="auth").to_pylist()
    assert events and events[0]["outcome"] == "denied" and secret not in repr(events)


def test_roles_cannot_hold_keys(api):
    ws, _ = api
    ws.governance.create_principal("team", kind="role")
    with pytest.raises(Exception, match="role"):
        ws.governance.create_api_key("team")
    with pytest.raises(AuthenticationError):
        ws.governance.authenticate("ltk_zzz")


def test_console_key_replaces_the_previous_one(api):
    ws, client = api
    first = ws.governance.console_key()
    second = ws.governance.console_key()
    assert post(client, "SELECT 1", first).status_code == 401
    assert post(client, "SELECT 1", second).json()["principal"] == "admin"
