"""Endpoints: CSV and Customer 360 imports, typed Arrow hand-off, clear errors."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from laketown.apps.engagement.endpoints import EndpointError, Endpoints
from laketown.apps.engagement.store import Store


def test_csv_import_types_attributes_and_updates(ws, tmp_path):
    path = tmp_path / "users.csv"
    path.write_text("user_id,email,timezone,opt_in,plan,spend,vip,joined\n"
                    "a,a@x.org,Europe/Paris,yes,pro,12.5,true,2024-01-02T03:04:05+00:00\n"
                    "b,b@x.org,,no,basic,3,false,2024-02-01T00:00:00+00:00\n")
    ep = Endpoints(Store(ws))
    assert ep.import_csv(path) == 2
    t = ep.to_arrow()
    assert t.schema.field("spend").type == pa.float64() and t.schema.field("vip").type == pa.bool_()
    assert t.schema.field("joined").type == pa.timestamp("us", tz="UTC")
    assert t.column("opt_in").to_pylist() == [True, False] and t.column("timezone").to_pylist() == ["Europe/Paris", "UTC"]
    ep.upsert([{"user_id": "a", "plan": "plus"}])
    assert ep.get("a")["attributes"] == {"plan": "plus", "spend": 12.5, "vip": True, "joined": "2024-01-02T03:04:05+00:00"}
    assert ep.get("a")["email"] == "a@x.org"


def test_bad_endpoints_say_what_is_wrong(ws, tmp_path):
    ep = Endpoints(Store(ws))
    with pytest.raises(EndpointError, match="unknown timezone 'Mars/Olympus'"):
        ep.upsert([{"user_id": "a", "timezone": "Mars/Olympus"}])
    with pytest.raises(EndpointError, match="email 'nope' is not a plain address"):
        ep.upsert([{"user_id": "a", "email": "nope"}])
    for injected in ("a@x.org\r\nBcc: all@x.org", "a@x.org, b@x.org", "Ann <a@x.org>"):
        with pytest.raises(EndpointError, match="is not a plain address"):
            ep.upsert([{"user_id": "a", "email": injected}])
    with pytest.raises(EndpointError, match="webhook_url 'ftp://x' must start with http"):
        ep.upsert([{"user_id": "a", "webhook_url": "ftp://x"}])
    bad = tmp_path / "b.csv"
    bad.write_text("id,email\n1,a@b.c\n")
    with pytest.raises(EndpointError, match="no 'user_id' column; columns: id, email"):
        ep.import_csv(bad)


def test_import_from_the_customer_360_table_when_it_exists(ws):
    ep = Endpoints(Store(ws))
    assert ep.import_c360(ws) == 0
    ws.lake.write("curated.c360_segments", pa.table({
        "customer_id": ["c1", "c2"], "email": ["c1@x.org", None], "given_name": ["Ana", "Bo"], "surname": ["A", "B"],
        "segment": ["loyal", "at_risk"], "persona": ["saver", "spender"], "churn_propensity": [0.1, 0.8],
        "exported_at": [dt.datetime(2026, 1, 1, tzinfo=dt.UTC)] * 2}))
    assert ep.import_c360(ws) == 2
    t = ep.to_arrow()
    assert t.column("user_id").to_pylist() == ["c1", "c2"]
    assert t.column("churn_propensity").to_pylist() == [0.1, 0.8]
    assert t.column("segment").to_pylist() == ["loyal", "at_risk"]
    assert t.schema.field("exported_at").type == pa.timestamp("us", tz="UTC")
    assert ep.export_to_lake(ws) == 2 and ws.sql("SELECT count(*) AS n FROM clean.engagement_endpoints")["n"][0].as_py() == 2
