"""The campaigns API (``/api/recs``): a thin skin over :class:`RecsService`.

Handlers are ``async``: each answer is about a millisecond of NumPy work, run on the event
loop without a hop through the thread pool.

Bad input (filters, ids, parameters) answers 400/404 with the error's message; nothing a
client sends can produce a 500 by design.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from laketown.apps.recommendations import experiments as ab
from laketown.apps.recommendations.filters import FilterError
from laketown.apps.recommendations.service import MAX_N, NotFoundError, RecsService
from laketown.errors import LaketownError


class RankRequest(BaseModel):
    user_id: str = Field(min_length=1, max_length=256)
    item_ids: list[str] = Field(max_length=1000)
    filter: str | None = Field(None, max_length=4000)
    filter_values: dict[str, Any] | None = None
    campaign: str | None = None


class Event(BaseModel):
    item_id: str = Field(min_length=1, max_length=256)
    event_type: str = Field("click", max_length=64)
    timestamp: int | None = None
    value: float | None = None


class EventsRequest(BaseModel):
    user_id: str = Field(min_length=1, max_length=256)
    session_id: str | None = None
    events: list[Event] = Field(min_length=1, max_length=100)


class ExperimentRequest(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    variants: dict[str, str]
    weights: list[float] | None = None


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    except FilterError as exc:
        raise HTTPException(400, {"error": str(exc), "position": exc.position}) from None
    except LaketownError as exc:
        raise HTTPException(400, str(exc)) from None


def build_router(service: RecsService) -> APIRouter:
    """The ``/api/recs`` router over one service (mount with ``app.include_router``)."""
    router = APIRouter(prefix="/api/recs", tags=["recommendations"])

    @router.get("/users/{user_id}")
    async def recommend(user_id: str, n: int = Query(10, ge=1, le=MAX_N), filter: str | None = Query(None, max_length=4000),
                  filter_values: str | None = Query(None, max_length=8000), campaign: str | None = None) -> dict:
        """Recommendations for a user (popular items for an unknown one, flagged ``fallback``)."""
        return _call(service.recommend, user_id, n=n, filter=filter, filter_values=filter_values, campaign=campaign)

    @router.get("/items/{item_id}/similar")
    async def similar(item_id: str, n: int = Query(10, ge=1, le=MAX_N), filter: str | None = Query(None, max_length=4000),
                filter_values: str | None = Query(None, max_length=8000), user_id: str | None = None,
                campaign: str | None = None) -> dict:
        """Items similar to an item."""
        return _call(service.similar_items, item_id, n=n, filter=filter, filter_values=filter_values,
                     user_id=user_id, campaign=campaign)

    @router.post("/rank")
    async def rank(req: RankRequest) -> dict:
        """Re-rank the given items for the user."""
        return _call(service.rank, req.user_id, req.item_ids, filter=req.filter, filter_values=req.filter_values,
                     campaign=req.campaign)

    @router.post("/events")
    async def put_events(req: EventsRequest) -> dict:
        """PutEvents: the user's next recommendations use these events at once."""
        return _call(service.put_events, req.user_id, [e.model_dump() for e in req.events])

    @router.get("/campaigns")
    async def campaigns() -> dict:
        """Campaigns with their solution version and offline metrics."""
        return service.campaigns()

    @router.post("/experiments")
    async def add_experiment(req: ExperimentRequest) -> dict:
        """Start an A/B test between campaigns."""
        _call(lambda: service.add_experiment(ab.Experiment(req.name, req.variants, req.weights)))
        return {"experiment": req.name, "variants": req.variants}

    @router.get("/experiments/{name}/users/{user_id}")
    async def experiment_recommend(name: str, user_id: str, n: int = Query(10, ge=1, le=MAX_N)) -> dict:
        """Recommendations from the user's variant (the exposure is logged)."""
        return _call(service.recommend_in_experiment, name, user_id, n=n)

    @router.get("/experiments")
    async def experiment_reports() -> list:
        """Every experiment with its per-variant CTR and conversion."""
        return _call(service.experiment_reports)

    @router.get("/experiments/{name}")
    async def experiment_report(name: str) -> dict:
        """Per-variant CTR and conversion with 95 % Wilson intervals."""
        return _call(service.experiment_report, name)

    return router


def service_for_workspace(ws: Any) -> RecsService:
    """A service holding the workspace's current solution (``laketown recs train`` or the demo);
    empty, answering 404 with what to do, when none was trained yet."""
    from laketown.apps.recommendations import solutions

    try:
        return RecsService(solutions.load(ws))
    except LaketownError:
        return RecsService()


def router_for_workspace(ws: Any) -> APIRouter:
    """The ``/api/recs`` router for a workspace, for ``create_app(ws)`` to include."""
    return build_router(service_for_workspace(ws))
