"""The Customer 360 knowledge graph: lake tables -> RDF in a :class:`~laketown.graph.GraphStore`.

Ontology (namespace ``https://laketown.dev/c360#``, prefix ``c360:``; instances under
``https://laketown.dev/c360/id/<kind>/<id>``):

============== ================================================================================
class          properties
============== ================================================================================
c360:Customer  givenName, surname, email, city, segment, persona, churnPropensity;
               hasIdentity -> Identity; memberOf -> Household
c360:Identity  source, sourceId (one source record: CRM contact, shop account, requester)
c360:Household address (customers whose golden records share street + postcode)
c360:Order     placedBy -> Customer; contains -> Product; amount, quantity, at (xsd:dateTime)
c360:Product   name, category
c360:Ticket    raisedBy -> Customer; subject, status, priority, at
c360:Event     performedBy -> Customer; eventType; about -> Product; at
============== ================================================================================
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from laketown.apps.customer360.names import (
    CLEAN_EVENTS,
    CLEAN_ORDERS,
    CLEAN_TICKETS,
    CUSTOMERS,
    IDENTITIES,
    SEGMENTS,
    graph_dir,
)
from laketown.graph import GraphStore, QueryRunner

NS = "https://laketown.dev/c360#"
ID = "https://laketown.dev/c360/id/"
XSD = "http://www.w3.org/2001/XMLSchema#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"


def iri(kind: str, key: Any) -> str:
    return f"{ID}{kind}/{quote(str(key), safe='')}"


def household_key(street: Any, postcode: Any) -> str | None:
    if not street or not postcode:
        return None
    norm = " ".join(str(street).lower().split()) + "|" + str(postcode).upper().replace(" ", "")
    return hashlib.sha1(norm.encode()).hexdigest()[:12]


def _scan(ws: Any, name: str, columns: list[str]) -> list[dict[str, Any]]:
    if not ws.lake.exists(name):
        return []
    table = ws.lake.table(name)
    cols = [c for c in columns if c in table.schema.names]
    return table.scan(columns=cols).to_pylist()


def quads(ws: Any) -> Iterator[Any]:
    """Every triple of the graph, from the lake's current tables."""
    import pyoxigraph as ox

    def node(kind: str, key: Any) -> Any:
        return ox.NamedNode(iri(kind, key))

    p = {name: ox.NamedNode(NS + name) for name in (
        "givenName", "surname", "email", "city", "segment", "persona", "churnPropensity", "hasIdentity", "memberOf",
        "source", "sourceId", "address", "placedBy", "contains", "amount", "quantity", "at", "name", "category",
        "raisedBy", "subject", "status", "priority", "performedBy", "eventType", "about")}
    a = ox.NamedNode(RDF_TYPE)
    cls = {c: ox.NamedNode(NS + c) for c in ("Customer", "Identity", "Household", "Order", "Product", "Ticket", "Event")}
    dt_type, dec, dbl = ox.NamedNode(XSD + "dateTime"), ox.NamedNode(XSD + "decimal"), ox.NamedNode(XSD + "double")

    def lit(v: Any) -> Any:
        return ox.Literal(str(v))

    def when(v: Any) -> Any:
        return ox.Literal(v.strftime("%Y-%m-%dT%H:%M:%SZ"), datatype=dt_type)

    T = ox.Triple
    customer_of: dict[str, str] = {}
    for row in _scan(ws, IDENTITIES, ["record_id", "source", "source_id", "customer_id"]):
        cust, rec = node("customer", row["customer_id"]), node("identity", row["record_id"])
        customer_of[row["record_id"]] = row["customer_id"]
        yield T(rec, a, cls["Identity"])
        yield T(cust, p["hasIdentity"], rec)
        yield T(rec, p["source"], lit(row["source"]))
        yield T(rec, p["sourceId"], lit(row["source_id"]))
    seg = {r["customer_id"]: r for r in _scan(ws, SEGMENTS, ["customer_id", "segment", "persona", "churn_propensity"])}
    for row in _scan(ws, CUSTOMERS, ["customer_id", "given_name", "surname", "email", "city", "street", "postcode"]):
        cust = node("customer", row["customer_id"])
        yield T(cust, a, cls["Customer"])
        for col, prop in (("given_name", "givenName"), ("surname", "surname"), ("email", "email"), ("city", "city")):
            if row.get(col):
                yield T(cust, p[prop], lit(row[col]))
        hh = household_key(row.get("street"), row.get("postcode"))
        if hh:
            house = node("household", hh)
            yield T(house, a, cls["Household"])
            yield T(house, p["address"], lit(f"{row['street']}, {row['postcode']}"))
            yield T(cust, p["memberOf"], house)
        s = seg.get(row["customer_id"])
        if s:
            yield T(cust, p["segment"], lit(s["segment"]))
            yield T(cust, p["persona"], lit(s["persona"]))
            if s.get("churn_propensity") is not None:
                yield T(cust, p["churnPropensity"], ox.Literal(f"{s['churn_propensity']:.4f}", datatype=dbl))
    products: set[str] = set()
    for row in _scan(ws, CLEAN_ORDERS, ["order_id", "record_id", "product_id", "product_name", "category", "quantity", "amount", "ordered_at"]):
        cid = customer_of.get(row["record_id"])
        if cid is None:
            continue
        order, prod = node("order", row["order_id"]), node("product", row["product_id"])
        yield T(order, a, cls["Order"])
        yield T(order, p["placedBy"], node("customer", cid))
        yield T(order, p["contains"], prod)
        yield T(order, p["amount"], ox.Literal(f"{row['amount']:.2f}", datatype=dec))
        yield T(order, p["at"], when(row["ordered_at"]))
        if row["product_id"] not in products:
            products.add(row["product_id"])
            yield T(prod, a, cls["Product"])
            yield T(prod, p["name"], lit(row["product_name"]))
            yield T(prod, p["category"], lit(row["category"]))
    for row in _scan(ws, CLEAN_TICKETS, ["ticket_id", "record_id", "subject", "status", "priority", "created_at"]):
        cid = customer_of.get(row["record_id"])
        if cid is None:
            continue
        t = node("ticket", row["ticket_id"])
        yield T(t, a, cls["Ticket"])
        yield T(t, p["raisedBy"], node("customer", cid))
        for col in ("subject", "status", "priority"):
            if row.get(col):
                yield T(t, p[col], lit(row[col]))
        yield T(t, p["at"], when(row["created_at"]))
    for row in _scan(ws, CLEAN_EVENTS, ["event_id", "record_id", "event_type", "product_id", "ts"]):
        cid = customer_of.get(row["record_id"]) if row["record_id"] else None
        if cid is None:
            continue
        e = node("event", row["event_id"])
        yield T(e, a, cls["Event"])
        yield T(e, p["performedBy"], node("customer", cid))
        yield T(e, p["eventType"], lit(row["event_type"]))
        if row.get("product_id"):
            yield T(e, p["about"], node("product", row["product_id"]))
        yield T(e, p["at"], when(row["ts"]))


def build(ws: Any) -> dict[str, Any]:
    """Rebuild the graph from the lake; returns its size."""
    import pyoxigraph as ox

    store = GraphStore(graph_dir(ws))
    try:
        store.replace(ox.Quad(t.subject, t.predicate, t.object) for t in quads(ws))
        return {"triples": len(store)}
    finally:
        store.close()


def runner(ws: Any, timeout_s: float = 10.0) -> QueryRunner:
    return QueryRunner(graph_dir(ws), timeout_s=timeout_s)
