"""The scoring API: a FastAPI router under ``/api/fraud``, a thin skin over :class:`Scorer`
and :class:`CaseQueue`.

Every request is signed (see :mod:`laketown.apps.fraud.signing`): unsigned, expired, replayed or
tampered requests get 401 with the reason; the signature is checked before the body is parsed.
Malformed payloads get 422 naming the field.

* ``POST /api/fraud/score``: one transaction object, or ``{"transactions": [...]}`` with at most
  :data:`MAX_BATCH` of them. Each returns its anomaly score, fraud probability, outcome, matched
  rule, top reasons and the model versions. Reasons (SHAP values, ~1 ms a transaction) come for
  every single transaction, and in a batch for those not approved; ``?reasons=all`` or
  ``?reasons=flagged`` chooses.
* ``GET /api/fraud/cases?status=open&limit=100``: the review queue.
* ``POST /api/fraud/cases/{case_id}/label``: ``{"label": 0|1, "analyst": "...", "note": "..."}``.
* ``GET /api/fraud/models``: versions served; ``POST /api/fraud/models/reload``: hot-swap to the
  latest registered versions (or ``{"classifier": N, "anomaly": M}``) without dropping requests.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from laketown.apps.fraud.cases import CaseQueue
from laketown.apps.fraud.scoring import Publish, Scorer, load_models, scorer_for
from laketown.apps.fraud.signing import SignatureError, Verifier, load_keys
from laketown.errors import LaketownError

PREFIX = "/api/fraud"
MAX_BATCH = 1000
MAX_BODY_BYTES = 2_000_000


class Transaction(BaseModel):
    """One card payment; entity columns the model needs (``customer_id``, ``terminal_id``, ...)
    and any other variables come as further fields."""

    model_config = ConfigDict(extra="allow")

    transaction_id: str | int
    timestamp: datetime
    amount: float = Field(ge=0, allow_inf_nan=False)


class Batch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    transactions: list[Transaction] = Field(min_length=1, max_length=MAX_BATCH)


class LabelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: Literal[0, 1]
    analyst: str = Field(min_length=1, max_length=200)
    note: str = Field("", max_length=2000)


class Reload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    classifier: int | None = None
    anomaly: int | None = None


class FraudService:
    """What the router serves: the scorer (created on first use), the verifier and the queue."""

    def __init__(self, ws: Any, scorer: Scorer | None = None, keys: dict[str, str] | None = None,
                 publish: Publish | None = None, table: str = "raw.fraud_transactions"):
        self.ws = ws
        self.table = table
        self.verifier = Verifier(keys if keys is not None else load_keys(ws))
        self.cases = CaseQueue(ws)
        self.cases.writer.start()
        self._publish = publish
        self._scorer = scorer
        self._lock = threading.Lock()
        if scorer is not None:
            self._attach(scorer)

    def _attach(self, scorer: Scorer) -> None:
        scorer.on_flagged = self.cases.add
        if self._publish is not None:
            scorer.publish = self._publish

    @property
    def scorer(self) -> Scorer:
        if self._scorer is None:
            with self._lock:
                if self._scorer is None:
                    scorer = scorer_for(self.ws, self.table)
                    self._attach(scorer)
                    self._scorer = scorer
        return self._scorer

    def close(self) -> None:
        """Write the queued cases and stop the writer process (on server shutdown)."""
        self.cases.close()

    def set_publish(self, publish: Publish | None) -> None:
        """The hook scored rows go to (the stream to ``curated.fraud_scored_transactions``)."""
        self._publish = publish
        if self._scorer is not None:
            self._scorer.publish = publish

    async def verified_body(self, request: Request) -> bytes:
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            raise HTTPException(413, f"request body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}")
        try:
            query = request.url.query
            self.verifier.verify(request.method, request.url.path + (f"?{query}" if query else ""), request.headers, body)
        except SignatureError as exc:
            raise HTTPException(401, exc.reason, headers={"WWW-Authenticate": "HMAC-SHA256"}) from None
        return body


def _parse(model: type[BaseModel], body: bytes | Any) -> Any:
    try:
        if isinstance(body, (bytes, str)):
            return model.model_validate_json(body or b"{}")
        return model.model_validate(body)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False, include_context=False)]
        ) from None


def _json(content: Any, status: int = 200) -> Response:
    return Response(json.dumps(content, default=str, separators=(",", ":")), status, media_type="application/json")


def create_router(ws: Any, scorer: Scorer | None = None, keys: dict[str, str] | None = None,
                  publish: Publish | None = None) -> APIRouter:
    """The ``/api/fraud`` router. Without ``scorer`` the workspace's latest registered models are
    loaded on the first request; without ``keys`` the workspace's key file is used."""
    service = FraudService(ws, scorer, keys, publish)
    router = APIRouter(prefix=PREFIX, tags=["fraud"])
    router.service = service  # type: ignore[attr-defined] - reachable for the server and tests
    router.add_event_handler("shutdown", service.close)

    @router.post("/score")
    async def score(request: Request, reasons: Literal["all", "flagged"] | None = None) -> Response:
        """Score one transaction or a batch (at most 1,000)."""
        body = await service.verified_body(request)
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise RequestValidationError([{"type": "json_invalid", "loc": ("body",), "msg": f"invalid JSON: {exc}"}]) from None
        single = not (isinstance(payload, dict) and "transactions" in payload)
        txs = [_parse(Transaction, payload)] if single else _parse(Batch, payload).transactions
        scorer = service.scorer
        needed = [c for e in scorer.models.feature_set.entities for c in e]
        rows = []
        for i, tx in enumerate(txs):
            row = tx.model_dump()
            missing = [c for c in needed if row.get(c) is None]
            if missing:
                loc = ("body", missing[0]) if single else ("body", "transactions", i, missing[0])
                raise RequestValidationError([{"type": "missing", "loc": loc, "msg": "Field required"}])
            rows.append(row)
        try:
            scored = scorer.score(rows, reasons or ("all" if single else "flagged"))
        except (TypeError, ValueError) as exc:
            raise RequestValidationError([{"type": "value_error", "loc": ("body",), "msg": str(exc)}]) from None
        return _json(scored[0] if single else {"results": scored})

    @router.get("/cases")
    async def cases(request: Request, status: str = "open", limit: int = 100) -> Response:
        """The review queue, highest fraud probability first."""
        await service.verified_body(request)
        if not 1 <= limit <= 1000:
            raise RequestValidationError([{"type": "value_error", "loc": ("query", "limit"), "msg": "limit must be 1..1000"}])
        try:
            return _json({"cases": service.cases.list(status, limit)})
        except LaketownError as exc:
            raise HTTPException(400, str(exc)) from None

    @router.post("/cases/{case_id}/label")
    async def label(case_id: str, request: Request) -> Response:
        """Store an analyst's label; the next training run uses it."""
        body = await service.verified_body(request)
        data = _parse(LabelIn, body)
        try:
            stored = service.cases.label(case_id, data.label, data.analyst, data.note)
        except LaketownError as exc:
            raise HTTPException(404, str(exc)) from None
        if service._scorer is not None:
            service._scorer.label({"transaction_id": stored["transaction_id"], "customer_id": stored["customer_id"],
                                   "terminal_id": stored["terminal_id"]}, data.label)
        return _json(stored)

    @router.get("/models")
    async def models(request: Request) -> Response:
        """The model versions and rule set being served."""
        await service.verified_body(request)
        s = service.scorer
        return _json({"model_versions": s.models.versions, "rule_set": s.rules.label, "features": s.models.feature_set.names})

    @router.post("/models/reload")
    async def reload(request: Request) -> Response:
        """Hot-swap to the latest (or given) registered versions."""
        body = await service.verified_body(request)
        data = _parse(Reload, body)
        try:
            pair = load_models(service.ws, data.classifier, data.anomaly)
            old = service.scorer.swap(pair)
        except LaketownError as exc:
            raise HTTPException(409, str(exc)) from None
        return _json({"previous": old, "model_versions": pair.versions})

    return router
