"""raw -> clean: the sources' rows in one shape, bad rows quarantined with their reason.

``clean.c360_source_records`` holds one row per identity source record (CRM contact, shop
account, help-desk requester) in the resolver's input shape: record_id (``source:id``),
source, source_id, given_name, surname, email, phone, street, city, postcode, dob (ISO),
updated_at. The newest version of each record wins. Orders, tickets and events are typed
into ``clean.c360_orders``/``_tickets``/``_events``. Everything is recomputed from raw (the
batch engine, DuckDB, over Arrow), so the quarantine rows of this step are replaced each run.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from laketown.apps.customer360 import quarantine
from laketown.apps.customer360.names import (
    CLEAN_EVENTS,
    CLEAN_ORDERS,
    CLEAN_TICKETS,
    QUARANTINE,
    RAW_ACCOUNTS,
    RAW_CRM,
    RAW_EVENTS,
    RAW_ORDERS,
    RAW_TICKETS,
    SOURCE_RECORDS,
)

RECORD_SCHEMA = pa.schema([
    ("record_id", pa.string()), ("source", pa.string()), ("source_id", pa.string()), ("given_name", pa.string()),
    ("surname", pa.string()), ("email", pa.string()), ("phone", pa.string()), ("street", pa.string()),
    ("city", pa.string()), ("postcode", pa.string()), ("dob", pa.string()), ("updated_at", pa.timestamp("us", tz="UTC")),
])
ORIGIN = "standardize"

_TEXT = "NULLIF(TRIM({0}), '')"
_DOB = "COALESCE(TRY_STRPTIME(NULLIF(TRIM({0}), ''), '%Y-%m-%d'), TRY_STRPTIME(NULLIF(TRIM({0}), ''), '%d/%m/%Y'))::DATE::VARCHAR"
_PHONE = ("CASE WHEN regexp_replace(COALESCE({0}, ''), '[^0-9]', '', 'g') = '' THEN NULL "
          "WHEN regexp_replace({0}, '[^0-9]', '', 'g') LIKE '44%' THEN '0' || substr(regexp_replace({0}, '[^0-9]', '', 'g'), 3) "
          "ELSE regexp_replace({0}, '[^0-9]', '', 'g') END")


def _person_sql(source: str, table: str, cols: dict[str, str]) -> str:
    """One source's rows in the record shape plus a ``reason`` (NULL for a good row)."""
    c = {k: (v if v.startswith("(") else _TEXT.format(v)) for k, v in cols.items()}
    dob_raw = _TEXT.format(cols["dob"])
    return f"""
    WITH s AS (
      SELECT {c['source_id']} AS source_id, {c['given_name']} AS given_name, {c['surname']} AS surname,
             lower({c['email']}) AS email, {_PHONE.format(cols['phone'])} AS phone, {c['street']} AS street,
             {c['city']} AS city, upper({c['postcode']}) AS postcode, {dob_raw} AS dob_raw,
             {_DOB.format(cols['dob'])} AS dob, TRY_CAST({c['updated_at']} AS TIMESTAMPTZ) AS updated_at,
             {c['updated_at']} AS updated_raw, _ingested_at, to_json(t) AS payload
      FROM {table} t
    )
    SELECT '{source}:' || source_id AS record_id, '{source}' AS source, *,
      CASE WHEN source_id IS NULL THEN 'missing id'
           WHEN updated_at IS NULL THEN 'updated_at is not a timestamp: ' || COALESCE(updated_raw, 'empty')
           WHEN dob_raw IS NOT NULL AND dob IS NULL THEN 'date of birth is not a date: ' || dob_raw
           WHEN email IS NOT NULL AND email NOT LIKE '%_@_%._%' THEN 'email is not an address: ' || email
           WHEN given_name IS NULL AND surname IS NULL AND email IS NULL AND phone IS NULL
                THEN 'no name, email or phone to identify the person'
      END AS reason
    FROM s"""


SOURCES = {
    "crm": (RAW_CRM, {"source_id": "contact_id", "given_name": "first_name", "surname": "last_name", "email": "email",
                      "phone": "phone", "street": "address_line", "city": "city", "postcode": "zip", "dob": "birth_date",
                      "updated_at": "modified_at"}),
    "shop": (RAW_ACCOUNTS, {"source_id": "account_id", "given_name": "first_name", "surname": "last_name", "email": "email",
                            "phone": "phone", "street": "street", "city": "city", "postcode": "postcode",
                            "dob": "birth_date", "updated_at": "updated_at"}),
    "support": (RAW_TICKETS, {"source_id": "requester_id",
                              "given_name": "(NULLIF(split_part(TRIM(requester_name), ' ', 1), ''))",
                              "surname": "(NULLIF(TRIM(substr(TRIM(requester_name), strpos(TRIM(requester_name) || ' ', ' ') + 1)), ''))",
                              "email": "requester_email", "phone": "requester_phone", "street": "NULL", "city": "NULL",
                              "postcode": "NULL", "dob": "NULL", "updated_at": "updated_at"}),
}

ORDERS_SQL = f"""
SELECT order_id, account_id, 'shop:' || account_id AS record_id, product_id, product_name, category,
       TRY_CAST(quantity AS INTEGER) AS quantity, TRY_CAST(amount AS DOUBLE) AS amount,
       TRY_CAST(ordered_at AS TIMESTAMPTZ) AS ordered_at, TRY_CAST(updated_at AS TIMESTAMPTZ) AS updated_at,
       to_json(t) AS payload,
       CASE WHEN order_id IS NULL OR account_id IS NULL THEN 'missing order or account id'
            WHEN TRY_CAST(amount AS DOUBLE) IS NULL OR TRY_CAST(amount AS DOUBLE) < 0 THEN 'amount is not a positive number: ' || COALESCE(amount, 'empty')
            WHEN TRY_CAST(ordered_at AS TIMESTAMPTZ) IS NULL THEN 'ordered_at is not a timestamp: ' || COALESCE(ordered_at, 'empty')
       END AS reason, _ingested_at
FROM {RAW_ORDERS} t"""
TICKETS_SQL = f"""
SELECT ticket_id, requester_id, 'support:' || requester_id AS record_id, subject, status, priority, channel,
       TRY_CAST(created_at AS TIMESTAMPTZ) AS created_at, TRY_CAST(updated_at AS TIMESTAMPTZ) AS updated_at,
       to_json(t) AS payload,
       CASE WHEN ticket_id IS NULL OR requester_id IS NULL THEN 'missing ticket or requester id'
            WHEN TRY_CAST(created_at AS TIMESTAMPTZ) IS NULL THEN 'created_at is not a timestamp' END AS reason,
       _ingested_at
FROM {RAW_TICKETS} t"""
EVENTS_SQL = f"""
SELECT event_id, account_id, CASE WHEN account_id IS NOT NULL THEN 'shop:' || account_id END AS record_id,
       session_id, event_type, product_id, TRY_CAST(ts AS TIMESTAMPTZ) AS ts, to_json(t) AS payload,
       CASE WHEN event_id IS NULL THEN 'missing event id'
            WHEN TRY_CAST(ts AS TIMESTAMPTZ) IS NULL THEN 'ts is not a timestamp: ' || COALESCE(ts, 'empty') END AS reason,
       0 AS _ingested_at
FROM {RAW_EVENTS} t"""


def _duck(ws: Any, tables: list[str]) -> Any:
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    for name in tables:
        if ws.lake.exists(name):
            con.register(name.replace(".", "__"), ws.lake.table(name).scan())
    return con


def _sql(sql: str) -> str:
    for name in (RAW_CRM, RAW_ACCOUNTS, RAW_TICKETS, RAW_ORDERS, RAW_EVENTS):
        sql = sql.replace(name, name.replace(".", "__"))
    return sql


def _split(con: Any, sql: str, key: str, order: str, source: str, keep: list[str]) -> tuple[pa.Table, list[tuple[Any, str, Any]]]:
    """Good rows (newest per key, ``keep`` columns) and quarantine items of one query."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE x AS {_sql(sql)}")
    bad = con.execute("SELECT " + key + ", reason, payload FROM x WHERE reason IS NOT NULL").fetchall()
    good = con.execute(
        f"SELECT {', '.join(keep)} FROM x WHERE reason IS NULL "
        f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {order} DESC NULLS LAST, _ingested_at DESC) = 1"
    ).to_arrow_table()
    return good, [(k, r, {"raw": p}) for k, r, p in bad]


def run(ws: Any) -> dict[str, Any]:
    """Recompute clean.* from raw.*; returns rows per table and quarantined rows per source."""
    present = [t for t in (RAW_CRM, RAW_ACCOUNTS, RAW_TICKETS, RAW_ORDERS, RAW_EVENTS) if ws.lake.exists(t)]
    con = _duck(ws, present)
    items: dict[str, list[tuple[Any, str, Any]]] = {}
    parts = []
    for source, (table, cols) in SOURCES.items():
        if table not in present:
            continue
        good, bad = _split(con, _person_sql(source, table, cols), "record_id", "updated_at", source, RECORD_SCHEMA.names)
        parts.append(good.cast(RECORD_SCHEMA))
        items[source] = bad
    records = pa.concat_tables(parts) if parts else RECORD_SCHEMA.empty_table()
    out: dict[str, Any] = {}
    ws.lake.create_table(SOURCE_RECORDS, schema=RECORD_SCHEMA, exist_ok=True).overwrite(records)
    out[SOURCE_RECORDS] = records.num_rows
    for table, sql, key, order, source, keep_drop in (
        (CLEAN_ORDERS, ORDERS_SQL, "order_id", "updated_at", "orders", RAW_ORDERS),
        (CLEAN_TICKETS, TICKETS_SQL, "ticket_id", "updated_at", "tickets", RAW_TICKETS),
        (CLEAN_EVENTS, EVENTS_SQL, "event_id", "ts", "events", RAW_EVENTS),
    ):
        if keep_drop not in present:
            continue
        cols = [c for c in con.execute(f"DESCRIBE {_sql(sql)}").fetchall()]
        keep = [c[0] for c in cols if c[0] not in ("payload", "reason", "_ingested_at")]
        good, bad = _split(con, sql, key, order, source, keep)
        ws.lake.write(table, good, mode="overwrite")
        out[table] = good.num_rows
        items.setdefault(source, []).extend(bad)
    qt = quarantine.table(ws)
    fresh = pa.concat_tables([quarantine.rows(src, rows, origin=ORIGIN) for src, rows in items.items()] or
                             [quarantine.SCHEMA.empty_table()])
    qt.overwrite(fresh, filter=f"origin = '{ORIGIN}'")
    out["quarantined"] = {src: len(rows) for src, rows in items.items()}
    out[QUARANTINE] = qt.count()
    con.close()
    return out
