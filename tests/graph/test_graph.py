"""The graph layer: store, query workers with deadlines, named queries, SPARQL 1.1 endpoint."""

from __future__ import annotations

import csv
import io

import pyoxigraph as ox
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from laketown.graph import (
    GraphStore,
    NamedQuery,
    QueryLibrary,
    QueryRunner,
    QueryTimeoutError,
    SparqlError,
    sparql_router,
)

EX = "http://example.org/"
# every ?a ?b ?c combination of 3,000 triples: 2.7e10 rows, far past any deadline
RUNAWAY = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?p ?o . ?b ?q ?r . ?c ?x ?y }"


def _people(n: int) -> list:
    out = []
    for i in range(n):
        s = ox.NamedNode(f"{EX}p{i}")
        out.append(ox.Quad(s, ox.NamedNode(EX + "name"), ox.Literal(f"person {i}")))
        out.append(ox.Quad(s, ox.NamedNode(EX + "knows"), ox.NamedNode(f"{EX}p{(i + 1) % n}")))
        out.append(ox.Quad(s, ox.NamedNode(EX + "age"), ox.Literal(str(20 + i % 50), datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#integer"))))
    return out


@pytest.fixture
def store_dir(tmp_path):
    store = GraphStore(tmp_path / "g")
    store.replace(_people(1000))
    store.close()
    return tmp_path / "g"


@pytest.fixture
def runner(store_dir):
    with QueryRunner(store_dir, timeout_s=2.0) as r:
        yield r


def test_select_results_as_json_and_csv(runner):
    rows = runner.query(f"SELECT ?name WHERE {{ <{EX}p3> <{EX}name> ?name }}").rows()
    assert rows == [{"name": "person 3"}]
    res = runner.query(f"SELECT ?s ?age WHERE {{ ?s <{EX}age> ?age FILTER(?age > 68) }} ORDER BY ?s", fmt="csv")
    assert res.content_type.startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(res.body.decode())))
    assert len(table) == 20 and all(int(r["age"]) == 69 for r in table)


def test_readers_see_a_new_generation_after_a_write(store_dir, runner):
    count = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
    assert runner.query(count).rows() == [{"n": 3000}]
    store = GraphStore(store_dir)
    store.extend([ox.Quad(ox.NamedNode(EX + "new"), ox.NamedNode(EX + "name"), ox.Literal("new"))])
    store.close()
    assert runner.query(count).rows() == [{"n": 3001}]


def test_replace_switches_readers_to_the_new_content_and_drops_old_folders(store_dir, runner):
    names = f"SELECT ?n WHERE {{ ?s <{EX}name> ?n }} ORDER BY ?n LIMIT 1"
    assert runner.query(names).rows() == [{"n": "person 0"}]
    for gen in (1, 2):
        store = GraphStore(store_dir)
        store.replace([ox.Quad(ox.NamedNode(EX + "x"), ox.NamedNode(EX + "name"), ox.Literal(f"generation {gen}"))])
        store.close()
        assert runner.query(names).rows() == [{"n": f"generation {gen}"}]
    assert sorted(p.name for p in store_dir.glob("store-*")) == ["store-2", "store-3"]  # the fixture built store-1


def test_runaway_query_is_stopped_and_the_next_query_still_runs(runner):
    with pytest.raises(QueryTimeoutError, match="longer than 2 s"):
        runner.query(RUNAWAY)
    assert runner.query("ASK { ?s ?p ?o }").boolean() is True


def test_syntax_error_is_a_sparql_error(runner):
    with pytest.raises(SparqlError, match="syntax"):
        runner.query("SELECT WHERE {")


def test_named_query_parameters_cannot_change_the_query(runner):
    lib = QueryLibrary({"ex": EX})
    lib.add(NamedQuery("name_of", "a person's name", "SELECT ?name WHERE { ?person ex:name ?name }",
                       {"person": "iri"}, {"person": EX}))
    lib.add(NamedQuery("by_name", "who has this name", "SELECT ?s WHERE { ?s ex:name ?name }", {"name": "literal"}))
    assert lib.run(runner, "name_of", person="p7") == [{"name": "person 7"}]
    assert lib.run(runner, "by_name", name="person 9") == [{"s": EX + "p9"}]
    with pytest.raises(SparqlError, match="not an IRI"):
        lib.run(runner, "name_of", person="p1> } UNION { ?person ?x ?name")
    assert lib.run(runner, "by_name", name='person 9" } UNION { ?s ?p "x') == []
    with pytest.raises(SparqlError, match="needs parameter 'person'"):
        lib.run(runner, "name_of")


@pytest.fixture
def client(runner):
    app = FastAPI()
    app.include_router(sparql_router("/sparql", runner))
    with TestClient(app) as c:
        yield c


def test_endpoint_speaks_the_sparql_protocol(client):
    q = f"SELECT ?name WHERE {{ <{EX}p1> <{EX}name> ?name }}"
    got = client.get("/sparql", params={"query": q})
    assert got.status_code == 200 and got.headers["content-type"].startswith("application/sparql-results+json")
    assert got.json()["results"]["bindings"][0]["name"]["value"] == "person 1"
    post = client.post("/sparql", content=q, headers={"Content-Type": "application/sparql-query", "Accept": "text/csv"})
    assert post.status_code == 200 and post.text.splitlines() == ["name", "person 1"]
    form = client.post("/sparql", data={"query": q}, headers={"Accept": "text/tab-separated-values"})
    assert form.status_code == 200 and form.text.splitlines()[1] == '"person 1"'
    construct = client.get("/sparql", params={"query": f"CONSTRUCT {{ ?s <{EX}n> ?o }} WHERE {{ <{EX}p1> <{EX}name> ?o BIND(<{EX}p1> AS ?s) }}"},
                           headers={"Accept": "text/turtle"})
    assert construct.status_code == 200 and construct.headers["content-type"].startswith("text/turtle")
    assert "person 1" in construct.text


def test_endpoint_refuses_updates_and_leaves_the_store_unchanged(client):
    update = f'INSERT DATA {{ <{EX}x> <{EX}name> "intruder" }}'
    for resp in (
        client.post("/sparql", content=update, headers={"Content-Type": "application/sparql-update"}),
        client.post("/sparql", data={"update": update}),
        client.get("/sparql", params={"query": update}),
        client.post("/sparql", content="DELETE WHERE { ?s ?p ?o }", headers={"Content-Type": "application/sparql-query"}),
    ):
        assert resp.status_code == 400, resp.text
        assert "read-only" in resp.json()["detail"] or "updates" in resp.json()["detail"]
    count = client.get("/sparql", params={"query": "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"})
    assert count.json()["results"]["bindings"][0]["n"]["value"] == "3000"


def test_endpoint_stops_runaway_queries_with_503(client):
    resp = client.get("/sparql", params={"query": RUNAWAY})
    assert resp.status_code == 503 and "stopped" in resp.json()["detail"]
    assert client.get("/sparql", params={"query": "ASK { ?s ?p ?o }"}).json()["boolean"] is True


def test_endpoint_explains_a_missing_query(client):
    resp = client.get("/sparql")
    assert resp.status_code == 400 and "no SPARQL query" in resp.json()["detail"]
    resp = client.post("/sparql", content=b"x", headers={"Content-Type": "text/plain"})
    assert resp.status_code == 415
