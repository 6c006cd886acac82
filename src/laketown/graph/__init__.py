"""The platform's graph layer (Neptune's part): an RDF store queried with SPARQL 1.1.

* :class:`GraphStore` — a pyoxigraph store on disk that a writer fills (bulk loads, replace).
* :class:`QueryRunner` — runs read-only queries in worker processes with a deadline: a
  runaway query is stopped by ending its worker, never by waiting for it.
* :class:`QueryLibrary` / :class:`NamedQuery` — named, parameterised queries an app offers.
* :func:`sparql_router` — a SPARQL 1.1 protocol endpoint (GET ``?query=``, POST
  ``application/sparql-query`` or form) answering JSON, CSV, TSV or XML by ``Accept``, and
  refusing updates.

Generic: nothing here knows an app. pyoxigraph is imported only when a store is opened (extra
``c360``).
"""

from laketown.graph.errors import QueryRefusedError, QueryTimeoutError, SparqlError
from laketown.graph.queries import NamedQuery, QueryLibrary
from laketown.graph.runner import QueryResult, QueryRunner
from laketown.graph.store import GraphStore

__all__ = [
    "GraphStore", "NamedQuery", "QueryLibrary", "QueryRefusedError", "QueryResult", "QueryRunner",
    "QueryTimeoutError", "SparqlError", "sparql_router",
]


def sparql_router(*args, **kwargs):
    """See :func:`laketown.graph.endpoint.sparql_router`."""
    from laketown.graph.endpoint import sparql_router as build

    return build(*args, **kwargs)
