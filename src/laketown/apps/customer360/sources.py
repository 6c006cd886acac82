"""The four sources end to end: the generator plays the source systems, then each is ingested
into raw by its own connector (landing folder, database cursor, HTTP API, stream)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pyarrow as pa

from laketown.apps.customer360 import events, landing, shopdb, support
from laketown.apps.customer360.generator import Sources, generate
from laketown.apps.customer360.names import TRUTH, shop_db_url, support_file

CRM_FILE_ROWS = 5_000


def play_sources(ws: Any, src: Sources, tag: str = "batch0") -> dict[str, int]:
    """Put generated data where each source system keeps it: CSV exports in the landing folder,
    rows in the shop database, tickets in the help desk, events on the stream; and the ground
    truth in ``raw.c360_ground_truth``."""
    for i in range(0, len(src.crm), CRM_FILE_ROWS):
        landing.drop_file(ws, f"crm-{tag}-{i // CRM_FILE_ROWS:04d}.csv", src.crm[i:i + CRM_FILE_ROWS])
    shopdb.write_shop(shop_db_url(ws), src.accounts, src.orders)
    support.HelpDesk(support_file(ws)).put(src.tickets)
    events.publish(ws, src.events)
    truth = pa.Table.from_pylist(src.truth, schema=pa.schema([("record_id", pa.string()), ("person_id", pa.string())]))
    ws.lake.write(TRUTH, truth, mode="upsert", on=["record_id"])  # a second batch may restate a record
    return {"crm_contacts": len(src.crm), "shop_accounts": len(src.accounts), "orders": len(src.orders),
            "tickets": len(src.tickets), "events": len(src.events), "identity_records": src.records,
            "persons": src.persons}


@contextmanager
def helpdesk(ws: Any, url: str | None = None) -> Iterator[str]:
    """The help desk's URL: ``url`` if given, else a local server over the workspace's desk."""
    if url:
        yield url
        return
    with support.HelpDeskServer(support.HelpDesk(support_file(ws))) as server:
        yield server.url


def ingest_all(ws: Any, helpdesk_url: str | None = None, db_url: str | None = None) -> dict[str, Any]:
    """Every connector once: new landing files, new database rows, changed tickets, events."""
    out: dict[str, Any] = {"crm": landing.ingest(ws)}
    out.update(shopdb.pull_all(ws, db_url or shop_db_url(ws)))
    with helpdesk(ws, helpdesk_url) as url:
        out["tickets"] = support.pull(ws, url)
    out["events"] = {k: v for k, v in events.deliver(ws).items() if k in ("records_in", "records_written", "dead_letters")}
    return out


def generate_and_ingest(ws: Any, records: int = 10_000, seed: int = 7) -> dict[str, Any]:
    src = generate(records, seed=seed)
    played = play_sources(ws, src)
    return {"generated": played, "ingested": ingest_all(ws)}
