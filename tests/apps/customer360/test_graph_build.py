"""The knowledge graph built from lake tables: values survive as typed RDF, households form."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from laketown.apps.customer360 import graph, queries
from laketown.apps.customer360.names import CLEAN_ORDERS, CUSTOMERS, IDENTITIES


def test_graph_from_lake_tables_keeps_odd_text_and_finds_households(ws):
    ws.lake.write(IDENTITIES, pa.table({"record_id": ["crm:1", "shop:A/1", "crm:2"], "source": ["crm", "shop", "crm"],
                                        "source_id": ["1", "A/1", "2"], "customer_id": ["c1", "c1", "c2"]}))
    tricky = 'O\'Brien "the \\ second"\nline'
    ws.lake.write(CUSTOMERS, pa.table({
        "customer_id": ["c1", "c2"], "given_name": ["Ann", "Bo"], "surname": [tricky, "Lee"],
        "email": ["ann@x.org", None], "city": ["York", "York"],
        "street": ["1  High Street", "1 high street"], "postcode": ["YO1 7HH", "yo17hh"]}))
    at = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC)
    ws.lake.write(CLEAN_ORDERS, pa.table({
        "order_id": ["o1", "o2"], "record_id": ["shop:A/1", "crm:2"], "product_id": ["P01", "P01"],
        "product_name": ["Shoes", "Shoes"], "category": ["sport", "sport"], "quantity": [1, 1],
        "amount": [12.5, 3.0], "ordered_at": pa.array([at, at], pa.timestamp("us", tz="UTC"))}))
    assert graph.build(ws)["triples"] > 20
    with graph.runner(ws, timeout_s=20) as run:
        name = run.query("PREFIX c360: <https://laketown.dev/c360#> SELECT ?s WHERE { "
                         "<https://laketown.dev/c360/id/customer/c1> c360:surname ?s }").rows()
        assert name == [{"s": tricky}]
        members = queries.LIBRARY.run(run, "household_members", customer="c1")
        assert [m["member"] for m in members] == ["c2"]  # same street and postcode, other spelling
        journey = queries.LIBRARY.run(run, "journey", customer="c1")
        assert journey == [{"at": "2026-03-01T10:00:00Z", "kind": "order", "what": "Shoes", "detail": 12.5}]
        hood = {(n["kind"], n["label"]) for n in queries.LIBRARY.run(run, "neighbourhood", customer="c1")}
        assert {("identity", "shop:A/1"), ("identity", "crm:1"), ("product", "Shoes")} <= hood
        assert queries.path(run, "c1", "c2")[0]["via"] == "memberOf"
