"""The database cursor, the help desk API reader and the standardization's quarantine."""

from __future__ import annotations

import secrets

import pytest

import laketown
from laketown.apps.customer360 import shopdb, standardize, support
from laketown.apps.customer360.names import (
    CLEAN_ORDERS,
    QUARANTINE,
    RAW_ORDERS,
    RAW_TICKETS,
    SOURCE_RECORDS,
)
from laketown.errors import LaketownError


def _orders(start: int, n: int, day: str = "2026-01-01") -> list[dict]:
    return [{"order_id": f"O{i:05d}", "account_id": f"A{i % 7}", "product_id": "P01", "product_name": "Shoes",
             "category": "sport", "quantity": 1, "amount": 10.0 + i, "ordered_at": f"{day}T10:00:00Z",
             "updated_at": f"{day}T10:00:{i % 60:02d}Z"} for i in range(start, start + n)]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.service)])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shop.db'}"
    from sqlalchemy import create_engine, text

    base = request.getfixturevalue("postgres_url")
    schema = "c360_" + secrets.token_hex(4)
    eng = create_engine(base)
    with eng.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    eng.dispose()
    return f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"


def test_database_cursor_resumes_after_restart(tmp_path, db_url):
    path = tmp_path / "ws"
    shopdb.write_shop(db_url, [], _orders(0, 25))
    with laketown.connect(path) as ws:
        first = shopdb.pull(ws, db_url, shopdb.ORDERS, page_rows=10)
        assert first["rows"] == 25 and first["pages"] == 3
    # the shop keeps selling; one old order is corrected (a newer updated_at)
    changed = _orders(3, 1)[0] | {"amount": 999.0, "updated_at": "2026-02-01T00:00:00Z"}
    shopdb.write_shop(db_url, [], _orders(25, 6, day="2026-01-02") + [changed])
    with laketown.connect(path) as ws:  # a new process would see the same: the watermark is in the lake
        assert shopdb.watermark(ws, shopdb.ORDERS) == ("2026-01-01T10:00:24Z", "O00024")
        second = shopdb.pull(ws, db_url, shopdb.ORDERS, page_rows=10)
        assert second["rows"] == 7
        assert second["watermark"] == ["2026-02-01T00:00:00Z", "O00003"]
        rows = ws.lake.table(RAW_ORDERS).scan(columns=["order_id", "amount"]).to_pylist()
        assert len(rows) == 32 and len({r["order_id"] for r in rows}) == 31
        assert shopdb.pull(ws, db_url, shopdb.ORDERS)["rows"] == 0
        standardize.run(ws)
        clean = {r["order_id"]: r["amount"] for r in ws.lake.table(CLEAN_ORDERS).scan().to_pylist()}
        assert len(clean) == 31 and clean["O00003"] == 999.0  # the newest version wins in clean


def test_bad_database_url_is_a_clear_error(ws):
    with pytest.raises(LaketownError, match="shop database|reading 'orders'"):
        shopdb.pull(ws, "sqlite:///" + str(ws.path / "missing" / "x.db"), shopdb.ORDERS)


def _tickets(n: int, start: int = 0, day: str = "2026-03-01") -> list[dict]:
    return [{"id": f"TK{i:04d}", "subject": "Refund", "status": "open", "priority": "normal", "channel": "email",
             "requester": {"id": f"R{i % 9}", "name": f"Ann Lee{i % 9}", "email": f"ann{i % 9}@example.com", "phone": "07000000000"},
             "created_at": f"{day}T09:00:00Z", "updated_at": f"{day}T09:{i % 60:02d}:00Z"} for i in range(start, start + n)]


def test_http_source_pages_retries_and_reads_incrementally(ws, tmp_path):
    desk = support.HelpDesk(tmp_path / "desk.json")
    desk.put(_tickets(50))
    with support.HelpDeskServer(desk, fault_rate=0.35, seed=4, token="s3cret") as server:
        first = support.pull(ws, server.url, token="s3cret", per_page=7, backoff_s=0.001)
        assert first["rows"] == 50 and first["pages"] == 8
        assert first["retries"] > 0 and server.faults == first["retries"]  # every fault was retried, none lost
        desk.put(_tickets(2, start=50, day="2026-03-02") + [_tickets(1, start=4)[0] | {"status": "solved", "updated_at": "2026-03-03T00:00:00Z"}])
        second = support.pull(ws, server.url, token="s3cret", per_page=7, backoff_s=0.001)
        assert second["rows"] == 3
        assert support.pull(ws, server.url, token="s3cret", backoff_s=0.001)["rows"] == 0
    ids = ws.lake.table(RAW_TICKETS).scan(columns=["ticket_id"]).column("ticket_id").to_pylist()
    assert len(ids) == 53 and len(set(ids)) == 52


def test_http_source_gives_up_with_a_clear_error(ws, tmp_path):
    desk = support.HelpDesk()
    desk.put(_tickets(3))
    with support.HelpDeskServer(desk, fault_rate=1.0) as server, pytest.raises(LaketownError, match="kept failing .* after 3 retries"):
        support.pull(ws, server.url, retries=3, backoff_s=0.001)
    assert server.requests == 4
    with support.HelpDeskServer(desk, token="right") as server, pytest.raises(LaketownError, match="refused .*HTTP 401"):
        support.pull(ws, server.url, token="wrong")
    with pytest.raises(LaketownError, match="must be http"):
        support.pull(ws, "file:///etc/passwd")


def test_bad_source_rows_are_quarantined_with_reasons(ws, tmp_path):
    from laketown.apps.customer360 import landing

    good = {"contact_id": "C1", "first_name": "Ann", "last_name": "Lee", "email": "Ann@Example.com", "phone": "+44 7700 900123",
            "address_line": "1 High Street", "city": "York", "zip": "yo1 7hh", "birth_date": "1980-03-10",
            "modified_at": "2026-01-01T00:00:00Z"}
    rows = [good,
            good | {"contact_id": ""},
            good | {"contact_id": "C3", "birth_date": "1987-02-31"},
            good | {"contact_id": "C4", "modified_at": "yesterday"},
            good | {"contact_id": "C5", "email": "nobody"},
            good | {"contact_id": "C6", "first_name": "", "last_name": "", "email": "", "phone": ""}]
    landing.drop_file(ws, "crm.csv", rows)
    landing.ingest(ws)
    shopdb.write_shop(f"sqlite:///{tmp_path / 's.db'}", [], _orders(0, 2) + [_orders(2, 1)[0] | {"amount": -3.0}])
    shopdb.pull(ws, f"sqlite:///{tmp_path / 's.db'}", shopdb.ORDERS)
    out = standardize.run(ws)
    assert out["quarantined"]["crm"] == 5 and out["quarantined"]["orders"] == 1
    reasons = {(r["source"], r["source_id"]): r["reason"] for r in ws.lake.table(QUARANTINE).scan().to_pylist()}
    assert reasons[("crm", None)] == "missing id"
    assert reasons[("crm", "crm:C3")] == "date of birth is not a date: 1987-02-31"
    assert reasons[("crm", "crm:C4")] == "updated_at is not a timestamp: yesterday"
    assert reasons[("crm", "crm:C5")] == "email is not an address: nobody"
    assert reasons[("crm", "crm:C6")] == "no name, email or phone to identify the person"
    assert reasons[("orders", "O00002")] == "amount is not a positive number: -3.0"
    [rec] = ws.lake.table(SOURCE_RECORDS).scan().to_pylist()
    assert (rec["record_id"], rec["email"], rec["phone"], rec["postcode"], rec["dob"]) == (
        "crm:C1", "ann@example.com", "07700900123", "YO1 7HH", "1980-03-10")
    standardize.run(ws)  # a rerun replaces, never repeats, its quarantine rows
    assert ws.lake.table(QUARANTINE).count() == 6


def test_events_reach_raw_once_and_bad_ones_are_dead_lettered_with_the_reason(ws):
    from laketown.apps.customer360 import events
    from laketown.apps.customer360.names import (
        CLEAN_EVENTS,
        EVENTS_DEAD_LETTERS,
        EVENTS_STREAM,
        RAW_EVENTS,
    )

    good = [{"event_id": f"E{i}", "account_id": "A1", "session_id": "S1", "event_type": "page_view",
             "product_id": "P01", "ts": "2026-03-01T10:00:00Z"} for i in range(5)]
    events.publish(ws, good + [good[0] | {"event_id": "E9", "ts": "later"}])
    with ws.streams.producer(EVENTS_STREAM) as producer:
        producer.produce([b"{not json"], keys=[b"A1"])
    first = events.deliver(ws, idle_exit_s=0.3)
    assert (first["records_written"], first["dead_letters"]) == (6, 1)
    assert events.deliver(ws, idle_exit_s=0.3)["records_written"] == 0  # a restarted sink resumes, no repeat
    assert ws.lake.table(RAW_EVENTS).count() == 6
    [dead] = ws.lake.table(EVENTS_DEAD_LETTERS).scan().to_pylist()
    assert dead["value"] == b"{not json" and dead["error"]
    out = standardize.run(ws)
    assert out[CLEAN_EVENTS] == 5 and out["quarantined"]["events"] == 1
    reasons = [r["reason"] for r in ws.lake.table(QUARANTINE).scan().to_pylist() if r["source"] == "events"]
    assert reasons == ["ts is not a timestamp: later"]
