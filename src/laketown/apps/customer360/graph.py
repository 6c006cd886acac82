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
    """The household of an address: street (case and spaces ignored) + postcode (spaces ignored)."""
    if not street or not postcode:
        return None
    norm = " ".join(str(street).lower().split()) + "|" + str(postcode).upper().replace(" ", "")
    return hashlib.md5(norm.encode()).hexdigest()[:12]


# N-Triples pieces as DuckDB SQL: whole tables become text in one pass, which pyoxigraph
# bulk-loads (one Python object per triple was 40k triples/s; this is bound by the parser)
def _iri(kind: str, col: str) -> str:
    return f"'<{ID}{kind}/' || url_encode({col}) || '>'"


def _esc(col: str) -> str:
    return (f"replace(replace(replace(replace(CAST({col} AS VARCHAR), '\\', '\\\\'), '\"', '\\\"'), "
            f"chr(10), '\\n'), chr(13), '\\r')")


def _lit(col: str) -> str:
    return f"'\"' || {_esc(col)} || '\"'"


def _typed(expr: str, dtype: str) -> str:
    return f"'\"' || {expr} || '\"^^<{XSD}{dtype}>'"


def _when(col: str) -> str:
    return _typed(f"strftime({col}, '%Y-%m-%dT%H:%M:%SZ')", "dateTime")


def _p(name: str) -> str:
    return f"'<{NS}{name}>'"


_A = f"'<{RDF_TYPE}>'"
_CHURN = "printf('%.4f', churn_propensity)"
_AMOUNT = "printf('%.2f', amount)"
_HOUSE = ("substr(md5(lower(trim(regexp_replace(street, '\\s+', ' ', 'g'))) || '|' || "
          "replace(upper(postcode), ' ', '')), 1, 12)")


def _statements() -> list[tuple[str, str]]:
    """(table, SELECT producing one column ``t``: subject predicate object) per triple kind."""
    c = _iri("customer", "customer_id")
    triples = [
        ("ids", f"{_iri('identity', 'record_id')}, {_A}, '<{NS}Identity>'", "true"),
        ("ids", f"{c}, {_p('hasIdentity')}, {_iri('identity', 'record_id')}", "true"),
        ("ids", f"{_iri('identity', 'record_id')}, {_p('source')}, {_lit('source')}", "source IS NOT NULL"),
        ("ids", f"{_iri('identity', 'record_id')}, {_p('sourceId')}, {_lit('source_id')}", "source_id IS NOT NULL"),
        ("customers", f"{c}, {_A}, '<{NS}Customer>'", "true"),
        *[("customers", f"{c}, {_p(prop)}, {_lit(col)}", f"{col} IS NOT NULL AND {col} <> ''")
          for col, prop in (("given_name", "givenName"), ("surname", "surname"), ("email", "email"), ("city", "city"))],
        ("houses", f"{_iri('household', 'hh')}, {_A}, '<{NS}Household>'", "true"),
        ("houses", f"{_iri('household', 'hh')}, {_p('address')}, {_lit('address')}", "true"),
        ("customers", f"{c}, {_p('memberOf')}, {_iri('household', _HOUSE)}", "street <> '' AND postcode <> ''"),
        ("segments", f"{c}, {_p('segment')}, {_lit('segment')}", "segment IS NOT NULL"),
        ("segments", f"{c}, {_p('persona')}, {_lit('persona')}", "persona IS NOT NULL"),
        ("segments", f"{c}, {_p('churnPropensity')}, {_typed(_CHURN, 'double')}",
         "churn_propensity IS NOT NULL AND NOT isnan(churn_propensity)"),
        ("orders", f"{_iri('order', 'order_id')}, {_A}, '<{NS}Order>'", "true"),
        ("orders", f"{_iri('order', 'order_id')}, {_p('placedBy')}, {c}", "true"),
        ("orders", f"{_iri('order', 'order_id')}, {_p('contains')}, {_iri('product', 'product_id')}", "true"),
        ("orders", f"{_iri('order', 'order_id')}, {_p('amount')}, {_typed(_AMOUNT, 'decimal')}", "true"),
        ("orders", f"{_iri('order', 'order_id')}, {_p('at')}, {_when('ordered_at')}", "true"),
        ("products", f"{_iri('product', 'product_id')}, {_A}, '<{NS}Product>'", "true"),
        ("products", f"{_iri('product', 'product_id')}, {_p('name')}, {_lit('product_name')}", "product_name IS NOT NULL"),
        ("products", f"{_iri('product', 'product_id')}, {_p('category')}, {_lit('category')}", "category IS NOT NULL"),
        ("tickets", f"{_iri('ticket', 'ticket_id')}, {_A}, '<{NS}Ticket>'", "true"),
        ("tickets", f"{_iri('ticket', 'ticket_id')}, {_p('raisedBy')}, {c}", "true"),
        *[("tickets", f"{_iri('ticket', 'ticket_id')}, {_p(col)}, {_lit(col)}", f"{col} IS NOT NULL AND {col} <> ''")
          for col in ("subject", "status", "priority")],
        ("tickets", f"{_iri('ticket', 'ticket_id')}, {_p('at')}, {_when('created_at')}", "true"),
        ("events", f"{_iri('event', 'event_id')}, {_A}, '<{NS}Event>'", "true"),
        ("events", f"{_iri('event', 'event_id')}, {_p('performedBy')}, {c}", "true"),
        ("events", f"{_iri('event', 'event_id')}, {_p('eventType')}, {_lit('event_type')}", "event_type IS NOT NULL"),
        ("events", f"{_iri('event', 'event_id')}, {_p('about')}, {_iri('product', 'product_id')}", "product_id IS NOT NULL"),
        ("events", f"{_iri('event', 'event_id')}, {_p('at')}, {_when('ts')}", "true"),
    ]
    return [(table, f"SELECT concat_ws(' ', {parts}, '.') AS t FROM {table} WHERE {where}") for table, parts, where in triples]


_VIEWS = {
    "ids": f"SELECT record_id, source, source_id, customer_id FROM {IDENTITIES.replace('.', '__')}",
    "customers": f"SELECT customer_id, given_name, surname, email, city, street, postcode FROM {CUSTOMERS.replace('.', '__')}",
    "houses": (f"SELECT DISTINCT {_HOUSE} AS hh, first(street || ', ' || postcode) OVER (PARTITION BY {_HOUSE} "
               f"ORDER BY customer_id) AS address FROM {CUSTOMERS.replace('.', '__')} WHERE street <> '' AND postcode <> ''"),
    "segments": f"SELECT customer_id, segment, persona, churn_propensity FROM {SEGMENTS.replace('.', '__')}",
    "orders": (f"SELECT o.order_id, o.product_id, o.amount, o.ordered_at, i.customer_id FROM {CLEAN_ORDERS.replace('.', '__')} o "
               "JOIN ids i USING (record_id)"),
    "products": (f"SELECT product_id, first(product_name ORDER BY order_id) AS product_name, first(category ORDER BY order_id) AS category "
                 f"FROM {CLEAN_ORDERS.replace('.', '__')} o JOIN ids i USING (record_id) GROUP BY product_id"),
    "tickets": (f"SELECT t.ticket_id, t.subject, t.status, t.priority, t.created_at, i.customer_id FROM {CLEAN_TICKETS.replace('.', '__')} t "
                "JOIN ids i USING (record_id)"),
    "events": (f"SELECT e.event_id, e.event_type, e.product_id, e.ts, i.customer_id FROM {CLEAN_EVENTS.replace('.', '__')} e "
               "JOIN ids i USING (record_id)"),
}
_SOURCES = {IDENTITIES: ["record_id", "source", "source_id", "customer_id"],
            CUSTOMERS: ["customer_id", "given_name", "surname", "email", "city", "street", "postcode"],
            SEGMENTS: ["customer_id", "segment", "persona", "churn_propensity"],
            CLEAN_ORDERS: ["order_id", "record_id", "product_id", "product_name", "category", "amount", "ordered_at"],
            CLEAN_TICKETS: ["ticket_id", "record_id", "subject", "status", "priority", "created_at"],
            CLEAN_EVENTS: ["event_id", "record_id", "event_type", "product_id", "ts"]}
_EMPTY = {IDENTITIES: "record_id VARCHAR, source VARCHAR, source_id VARCHAR, customer_id VARCHAR",
          CUSTOMERS: "customer_id VARCHAR, given_name VARCHAR, surname VARCHAR, email VARCHAR, city VARCHAR, street VARCHAR, postcode VARCHAR",
          SEGMENTS: "customer_id VARCHAR, segment VARCHAR, persona VARCHAR, churn_propensity DOUBLE",
          CLEAN_ORDERS: "order_id VARCHAR, record_id VARCHAR, product_id VARCHAR, product_name VARCHAR, category VARCHAR, amount DOUBLE, ordered_at TIMESTAMPTZ",
          CLEAN_TICKETS: "ticket_id VARCHAR, record_id VARCHAR, subject VARCHAR, status VARCHAR, priority VARCHAR, created_at TIMESTAMPTZ",
          CLEAN_EVENTS: "event_id VARCHAR, record_id VARCHAR, event_type VARCHAR, product_id VARCHAR, ts TIMESTAMPTZ"}


def ntriples(ws: Any, batch_rows: int = 200_000) -> Iterator[str]:
    """The graph as N-Triples text, in chunks of whole lines, from the lake's current tables."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    for name, cols in _SOURCES.items():
        alias = name.replace(".", "__")
        if ws.lake.exists(name):
            con.register(alias + "_arrow", ws.lake.table(name).scan(columns=cols))
            con.execute(f"CREATE VIEW {alias} AS SELECT * FROM {alias}_arrow")
        else:
            con.execute(f"CREATE TABLE {alias} ({_EMPTY[name]})")
    for view, sql in _VIEWS.items():
        con.execute(f"CREATE TEMP TABLE {view} AS {sql}")
    try:
        for _, sql in _statements():
            reader = con.execute(sql).fetch_record_batch(batch_rows)
            for batch in reader:
                lines = batch.column(0).to_pylist()
                if lines:
                    yield "\n".join(lines) + "\n"
    finally:
        con.close()


def build(ws: Any) -> dict[str, Any]:
    """Rebuild the graph from the lake; returns its size."""
    store = GraphStore(graph_dir(ws))
    try:
        store.replace_text(ntriples(ws))
        return {"triples": len(store)}
    finally:
        store.close()


def runner(ws: Any, timeout_s: float = 10.0) -> QueryRunner:
    return QueryRunner(graph_dir(ws), timeout_s=timeout_s)
