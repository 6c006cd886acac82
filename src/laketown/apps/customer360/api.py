"""The Customer 360 API (``/api/c360``), a thin skin over :class:`~.service.Customer360`.

Profiles, next-best actions, search, real-time resolution, segments and personas, named graph
queries and the read-only SPARQL 1.1 endpoint (``/api/c360/sparql``). Every route needs an
API key, like the rest of ``/api``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from laketown.apps.customer360.queries import LIBRARY
from laketown.apps.customer360.service import Customer360, CustomerNotFoundError
from laketown.graph import QueryTimeoutError, SparqlError, sparql_router

PREFIX = "/api/c360"


class SourceRecord(BaseModel):
    """A record to resolve: the resolver's input columns (any may be missing)."""

    model_config = ConfigDict(extra="forbid")

    record_id: str | None = Field(None, examples=["web:signup-1"])
    source: str | None = Field(None, examples=["web"])
    source_id: str | None = None
    given_name: str | None = Field(None, examples=["Liz"])
    surname: str | None = Field(None, examples=["Taylor"])
    email: str | None = None
    phone: str | None = None
    street: str | None = None
    city: str | None = None
    postcode: str | None = None
    dob: str | None = Field(None, description="ISO date", examples=["1980-03-10"])
    updated_at: str | None = Field(None, description="ISO timestamp")


class ResolveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    record: SourceRecord
    commit: bool = Field(False, description="also add the record to the resolved customers")


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except CustomerNotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    except QueryTimeoutError as exc:
        raise HTTPException(503, str(exc)) from None


def build_router(service: Customer360) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["customer360"])

    @router.get("/customers/{customer_id}")
    def customer_profile(customer_id: str) -> dict[str, Any]:
        """Unified profile: golden record, the source records behind it, features, segment,
        persona, churn propensity and the journey (orders, tickets, events; newest first)."""
        return _call(service.profile, customer_id)

    @router.get("/customers/{customer_id}/next-best-action")
    def next_best_action(customer_id: str) -> dict[str, Any]:
        """Ranked actions (rules over propensity, value, open tickets) with products from the
        recommendations API when configured and reachable, else from the graph."""
        return _call(service.next_best_action, customer_id)

    @router.get("/customers/{customer_id}/graph")
    def customer_graph(customer_id: str) -> dict[str, Any]:
        """The customer's neighbourhood in the knowledge graph."""
        return _call(service.neighbourhood, customer_id)

    @router.get("/search")
    def search(q: str = Query(..., min_length=1), limit: int = Query(20, ge=1, le=200)) -> dict[str, Any]:
        """Customers matching every word of ``q`` (name, email, postcode, city, id) or a phone number."""
        return {"q": q, "customers": service.search(q, limit)}

    @router.post("/resolve")
    def resolve_one(body: ResolveRequest) -> dict[str, Any]:
        """Resolve one record in real time: its customer id, match probability and matches."""
        record = {k: v for k, v in body.record.model_dump().items() if v is not None}
        return service.resolve_one(record, commit=body.commit)

    @router.get("/sources")
    def sources() -> dict[str, Any]:
        """Ingestion state: rows per raw table, cursor watermarks, landed files, quarantine reasons."""
        return service.sources()

    @router.get("/segments")
    def segments() -> dict[str, Any]:
        """Segments with persona names, sizes and centroid traits."""
        return service.segments()

    @router.get("/path")
    def path(a: str, b: str) -> dict[str, Any]:
        """The shortest chain of links between two customers in the graph."""
        return {"a": a, "b": b, "steps": _call(service.path, a, b)}

    @router.get("/queries")
    def named_queries() -> dict[str, Any]:
        """The library of named SPARQL queries."""
        return {"queries": LIBRARY.describe()}

    @router.get("/queries/{name}")
    def run_named_query(name: str, request: Request) -> dict[str, Any]:
        """Run a named query; its parameters come as query-string values."""
        params = dict(request.query_params)
        try:
            return {"name": name, "rows": _call(service.graph_query, name, **params)}
        except SparqlError as exc:
            raise HTTPException(400, str(exc)) from None

    return router


def mount_routes(app: Any, service: Customer360) -> None:
    app.include_router(build_router(service))
    app.include_router(sparql_router(PREFIX + "/sparql", lambda: service.runner, tags=["customer360"]))
