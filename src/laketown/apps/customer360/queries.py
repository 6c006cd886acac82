"""The named SPARQL queries of Customer 360 (see the ontology in :mod:`.graph`)."""

from __future__ import annotations

import re
from collections import deque

from laketown.apps.customer360.graph import ID, NS, iri
from laketown.graph import NamedQuery, QueryLibrary, QueryRunner

LIBRARY = QueryLibrary({"c360": NS, "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#"})
_CUST = {"customer": ID + "customer/"}

LIBRARY.add(NamedQuery(
    "journey", "A customer's orders, tickets and events in time order (newest first).",
    """SELECT ?at ?kind ?what ?detail WHERE {
  { ?x c360:placedBy ?customer ; c360:at ?at ; c360:contains ?p ; c360:amount ?detail . ?p c360:name ?what . BIND("order" AS ?kind) }
  UNION { ?x c360:raisedBy ?customer ; c360:at ?at ; c360:subject ?what . OPTIONAL { ?x c360:status ?detail } BIND("ticket" AS ?kind) }
  UNION { ?x c360:performedBy ?customer ; c360:at ?at ; c360:eventType ?what . OPTIONAL { ?x c360:about/c360:name ?detail } BIND("event" AS ?kind) }
} ORDER BY DESC(?at) LIMIT 200""", {"customer": "iri"}, _CUST))

LIBRARY.add(NamedQuery(
    "household_members", "The other customers living at the customer's address.",
    """SELECT ?member ?givenName ?surname ?address WHERE {
  ?customer c360:memberOf ?h . ?h c360:address ?address . ?m c360:memberOf ?h . FILTER(?m != ?customer)
  OPTIONAL { ?m c360:givenName ?givenName } OPTIONAL { ?m c360:surname ?surname }
  BIND(STRAFTER(STR(?m), "/customer/") AS ?member)
} ORDER BY ?member""", {"customer": "iri"}, _CUST))

LIBRARY.add(NamedQuery(
    "also_bought", "Customers who bought this product also bought (by number of customers, over up to "
    "1,000 of the product's buyers: the work stays bounded on a large graph).",
    """SELECT ?product_id ?name (COUNT(DISTINCT ?c) AS ?customers) WHERE {
  { SELECT DISTINCT ?c WHERE { ?o1 c360:contains ?product ; c360:placedBy ?c } LIMIT 1000 }
  ?o2 c360:placedBy ?c ; c360:contains ?other .
  FILTER(?other != ?product) ?other c360:name ?name BIND(STRAFTER(STR(?other), "/product/") AS ?product_id)
} GROUP BY ?product_id ?name ORDER BY DESC(?customers) ?product_id LIMIT 10""",
    {"product": "iri"}, {"product": ID + "product/"}))

LIBRARY.add(NamedQuery(
    "neighbourhood", "Everything one hop from the customer (and the products of its orders).",
    """SELECT ?kind ?node ?label WHERE {
  { ?customer c360:hasIdentity ?node . ?node c360:source ?s ; c360:sourceId ?sid . BIND(CONCAT(?s, ":", ?sid) AS ?label) BIND("identity" AS ?kind) }
  UNION { ?customer c360:memberOf ?node . ?node c360:address ?label . BIND("household" AS ?kind) }
  UNION { ?customer c360:memberOf ?h . ?node c360:memberOf ?h . FILTER(?node != ?customer)
          OPTIONAL { ?node c360:givenName ?g } OPTIONAL { ?node c360:surname ?sn } BIND(CONCAT(COALESCE(?g, ""), " ", COALESCE(?sn, "")) AS ?label) BIND("member" AS ?kind) }
  UNION { SELECT DISTINCT ?node ?label ?kind WHERE { ?o c360:placedBy ?customer ; c360:contains ?node . ?node c360:name ?label . BIND("product" AS ?kind) } }
  UNION { ?node c360:raisedBy ?customer ; c360:subject ?label . BIND("ticket" AS ?kind) }
} LIMIT 100""", {"customer": "iri"}, _CUST))

LIBRARY.add(NamedQuery(
    "segment_sizes", "Customers per segment and persona.",
    """SELECT ?segment ?persona (COUNT(?c) AS ?customers) WHERE { ?c c360:segment ?segment ; c360:persona ?persona }
GROUP BY ?segment ?persona ORDER BY ?segment""", {}))

_SAFE_IRI = re.compile(r"^https://laketown\.dev/c360/id/[A-Za-z0-9_%.\-]+/[A-Za-z0-9_%.\-]+$")


def _neighbours(runner: QueryRunner, nodes: list[str]) -> list[tuple[str, str, str]]:
    """(node, predicate, neighbour) for IRIs one hop from ``nodes``, either direction."""
    values = " ".join(f"<{n}>" for n in nodes if _SAFE_IRI.match(n))
    q = f"""SELECT ?s ?p ?n WHERE {{ VALUES ?s {{ {values} }}
      {{ ?s ?p ?n }} UNION {{ ?n ?p ?s }} FILTER(isIRI(?n) && ?p != <http://www.w3.org/1999/02/22-rdf-syntax-ns#type>) }}"""
    return [(r["s"], r["p"], r["n"]) for r in runner.query(q).rows()]


def path(runner: QueryRunner, a: str, b: str, max_hops: int = 4, max_frontier: int = 20_000) -> list[dict[str, str]]:
    """The shortest chain of links between customers ``a`` and ``b`` (breadth first over
    households, identities, orders, products, tickets), as steps {from, via, to}; [] if none
    within ``max_hops``."""
    start, goal = iri("customer", a), iri("customer", b)
    if start == goal:
        return []
    parent: dict[str, tuple[str, str]] = {start: ("", "")}
    frontier = deque([start])
    for _ in range(max_hops):
        if not frontier:
            break
        level = list(frontier)[:max_frontier]
        frontier.clear()
        for i in range(0, len(level), 1000):
            for s, p, n in _neighbours(runner, level[i:i + 1000]):
                if n in parent:
                    continue
                parent[n] = (s, p)
                if n == goal:
                    return _steps(parent, goal)
                frontier.append(n)
    return []


def _steps(parent: dict[str, tuple[str, str]], goal: str) -> list[dict[str, str]]:
    out = []
    node = goal
    while parent[node][0]:
        prev, pred = parent[node]
        out.append({"from": prev.removeprefix(ID), "via": pred.removeprefix(NS), "to": node.removeprefix(ID)})
        node = prev
    return out[::-1]

