"""A read-only SPARQL 1.1 protocol endpoint over a :class:`~laketown.graph.runner.QueryRunner`.

``GET <path>?query=...``, ``POST`` with ``Content-Type: application/sparql-query`` (the query
is the body) or ``application/x-www-form-urlencoded`` (``query=...``). Results by ``Accept``:
SPARQL JSON (default), CSV, TSV or XML; CONSTRUCT/DESCRIBE answer N-Triples or Turtle. Updates
(``update=`` or ``application/sparql-update``) get 400; a query past its deadline gets 503.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from laketown.graph.errors import QueryRefusedError, QueryTimeoutError, SparqlError
from laketown.graph.runner import QueryRunner

_ACCEPT = [
    ("application/sparql-results+json", "json"), ("application/json", "json"),
    ("text/csv", "csv"), ("text/tab-separated-values", "tsv"),
    ("application/sparql-results+xml", "xml"), ("application/xml", "xml"),
]
_RDF_ACCEPT = [("text/turtle", "ttl"), ("application/n-triples", "nt"), ("application/rdf+xml", "xml")]


def negotiate(accept: str | None) -> tuple[str, str]:
    """(results format, RDF format) for an ``Accept`` header, in the client's order of preference."""
    fmt = rdf = None
    ranked = []
    for i, part in enumerate((accept or "").split(",")):
        media, _, params = part.strip().partition(";")
        q = 1.0
        for p in params.split(";"):
            k, _, v = p.strip().partition("=")
            if k == "q":
                try:
                    q = float(v)
                except ValueError:
                    q = 0.0
        ranked.append((-q, i, media.strip().lower()))
    for _, _, media in sorted(ranked):
        fmt = fmt or next((f for m, f in _ACCEPT if m == media), None)
        rdf = rdf or next((f for m, f in _RDF_ACCEPT if m == media), None)
    return fmt or "json", rdf or "nt"


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status)


def sparql_router(path: str, runner: QueryRunner | Callable[[], QueryRunner], tags: list[str] | None = None) -> APIRouter:
    """A router serving the endpoint at ``path``. ``runner`` may be a callable (looked up per
    request, so the store can be built after the server starts)."""
    router = APIRouter(tags=tags or ["sparql"])

    def _runner() -> QueryRunner:
        return runner() if callable(runner) and not isinstance(runner, QueryRunner) else runner

    async def _run(request: Request, query: str | None, update: str | None) -> Response:
        if update is not None:
            return _error(400, "this SPARQL endpoint is read-only: updates are refused; send a query")
        if not query or not query.strip():
            return _error(400, "no SPARQL query: send ?query=..., a form field 'query', or an application/sparql-query body")
        fmt, rdf = negotiate(request.headers.get("accept"))
        try:
            result = await run_in_threadpool(_runner().query, query, fmt, rdf)
        except QueryTimeoutError as exc:
            return _error(503, str(exc))
        except QueryRefusedError as exc:
            return _error(400, str(exc))
        except SparqlError as exc:
            message = str(exc)
            if "INSERT" in query.upper() or "DELETE" in query.upper() or "LOAD" in query.upper():
                message = f"this SPARQL endpoint is read-only (updates are refused): {message}"
            return _error(400, message)
        return Response(result.body, media_type=result.content_type,
                        headers={"X-Query-Elapsed-Ms": str(result.elapsed_ms)})

    @router.get(path, summary="SPARQL 1.1 query (GET)")
    async def sparql_get(request: Request, query: str | None = None, update: str | None = None) -> Response:
        """Run the read-only SPARQL query ``query``; results format by ``Accept``."""
        return await _run(request, query, update)

    @router.post(path, summary="SPARQL 1.1 query (POST)")
    async def sparql_post(request: Request) -> Response:
        """Body ``application/sparql-query`` or a form with ``query``; updates are refused."""
        ctype = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        body = (await request.body()).decode("utf-8", errors="replace")
        if ctype == "application/sparql-update":
            return await _run(request, None, body)
        if ctype == "application/sparql-query":
            return await _run(request, body, None)
        if ctype in ("application/x-www-form-urlencoded", ""):
            form = parse_qs(body, keep_blank_values=True)
            update = form.get("update", [None])[0]
            return await _run(request, form.get("query", [None])[0], update)
        return _error(415, f"unsupported Content-Type {ctype!r}; use application/sparql-query or a form")

    return router
