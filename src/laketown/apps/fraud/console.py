"""The fraud app in the server: the signed scoring API (``/api/fraud``), every scored
transaction appended to the ``fraud_scored`` stream (delivered to
``curated.fraud_scored_transactions`` by a sink, de-duplicated by transaction id), a small
console API (``/api/fraud-console``, behind the console's sign-in) and the page ``/apps/fraud``."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from laketown.server.auth import PrincipalDep

HERE = Path(__file__).parent
PAGE = "/apps/fraud"
SCORED_STREAM = "fraud_scored"
SCORED_TABLE = "curated.fraud_scored_transactions"
SCORED_SCHEMA = pa.schema([
    ("transaction_id", pa.string()), ("timestamp", pa.timestamp("us", tz="UTC")), ("amount", pa.float64()),
    ("customer_id", pa.string()), ("terminal_id", pa.string()),
    ("anomaly_score", pa.float64()), ("fraud_probability", pa.float64()),
    ("outcome", pa.string()), ("rule", pa.string()), ("rule_set", pa.string()),
    ("reasons", pa.string()), ("model_versions", pa.string()), ("scored_at", pa.timestamp("us", tz="UTC")),
])
#: how `laketown serve` keeps the scored stream flowing into the lake (AppSpec.sinks)
SINKS = [(SCORED_STREAM, SCORED_TABLE, ["--key", "transaction_id", "--buffer-seconds", "1"])]


def prepare(ws: Any) -> None:
    """The stream and the table the scoring API writes to (created once)."""
    ws.streams.create_stream(SCORED_STREAM, partitions=2, exist_ok=True)
    ws.lake.create_table(SCORED_TABLE, schema=SCORED_SCHEMA, partition_by=["day(timestamp)"], exist_ok=True)


def stream_publisher(ws: Any) -> Any:
    """``publish(scored_rows)`` for the scorer: appends to the stream and returns once the records
    are durable, before the API answers (at-least-once; the sink de-duplicates by id)."""
    prepare(ws)
    producer = ws.streams.producer(SCORED_STREAM)
    lock = threading.Lock()
    known = set(SCORED_SCHEMA.names)

    def publish(rows: list[dict[str, Any]]) -> None:
        out = []
        for row in rows:
            flat = {k: v for k, v in row.items() if k in known}
            flat["transaction_id"] = str(row["transaction_id"])
            for col in ("customer_id", "terminal_id"):
                if flat.get(col) is not None:
                    flat[col] = str(flat[col])
            flat["reasons"] = json.dumps(row.get("reasons", []), default=str)
            flat["model_versions"] = json.dumps(row.get("model_versions", {}), default=str)
            out.append(flat)
        with lock:
            producer.produce_json(out, key_field="transaction_id")

    return publish


def mount(app: Any, ws: Any) -> None:
    """Include the scoring API (it checks its own HMAC signatures) and the console page."""
    from laketown.apps.fraud.api import create_router
    from laketown.console import register_templates, render_page
    from laketown.server import mount_app_page

    router = create_router(ws, publish=stream_publisher(ws))
    app.state.fraud_service = router.service  # type: ignore[attr-defined]
    app.state.self_authenticated.append("/api/fraud/")
    app.include_router(router)

    register_templates(HERE / "templates")
    page = APIRouter()

    @page.get(PAGE, include_in_schema=False)
    def fraud_page(request: Request) -> HTMLResponse:
        return render_page(request, "fraud.html", title="Fraud detection")

    @page.get("/api/fraud-console/model")
    def model_report(principal: PrincipalDep) -> dict[str, Any]:
        """The served model versions and rule set, and the last training's test metrics and
        precision-recall curve."""
        report_path = Path(ws.path) / "fraud" / "last_test.json"
        report = json.loads(report_path.read_text()) if report_path.is_file() else {}
        try:
            scorer = router.service.scorer  # type: ignore[attr-defined]
            served = {"model_versions": scorer.models.versions, "rule_set": scorer.rules.label}
        except Exception as exc:  # noqa: BLE001 - no model trained yet: say so on the page
            served = {"error": str(exc)}
        return {"principal": principal, **served, **report}

    mount_app_page(app, "Fraud", PAGE, page, static_dir=HERE / "static")
