"""E-commerce accounts and orders from an operational database, read incrementally.

The database is any SQLAlchemy URL: SQLite by default (a file in the workspace), PostgreSQL
with ``postgresql+psycopg://...``. Each table is read in pages ordered by a cursor column and
the key (``updated_at, order_id``); the watermark — the last (cursor, key) landed — is stored
in the raw table's snapshot summary together with the rows of the page (one commit), so a
reader restarted after any crash resumes exactly after the last page it landed.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from laketown.apps.customer360.names import RAW_ACCOUNTS, RAW_ORDERS
from laketown.errors import LaketownError
from laketown.streams.delivery import latest_properties

WATERMARK_PREFIX = "laketown.c360.cursor."
ACCOUNT_COLUMNS = ["account_id", "email", "first_name", "last_name", "phone", "street", "city", "postcode",
                   "birth_date", "created_at", "updated_at"]
ORDER_COLUMNS = ["order_id", "account_id", "product_id", "product_name", "category", "quantity", "amount",
                 "ordered_at", "updated_at"]
_NUMERIC = {"quantity": "INTEGER", "amount": "DOUBLE PRECISION"}


@dataclass(frozen=True)
class CursorTable:
    """One source table: its name in the database, key, cursor column and raw lake table."""

    table: str
    key: str
    cursor: str
    raw_table: str
    columns: tuple[str, ...]


ACCOUNTS = CursorTable("accounts", "account_id", "updated_at", RAW_ACCOUNTS, tuple(ACCOUNT_COLUMNS))
ORDERS = CursorTable("orders", "order_id", "updated_at", RAW_ORDERS, tuple(ORDER_COLUMNS))


def engine(url: str) -> Any:
    from sqlalchemy import create_engine

    try:
        return create_engine(url)
    except Exception as exc:
        raise LaketownError(f"cannot open the shop database {url.split('@')[-1]!r}: {exc}") from exc


def write_shop(url: str, accounts: list[dict[str, Any]], orders: list[dict[str, Any]]) -> None:
    """Create the shop tables if needed and insert (or update, by key) rows: the generator's
    way of acting as the web shop."""
    from sqlalchemy import text

    eng = engine(url)
    with eng.begin() as conn:
        for spec, rows in ((ACCOUNTS, accounts), (ORDERS, orders)):
            cols = ", ".join(f"{c} {_NUMERIC.get(c, 'TEXT')}" + (" PRIMARY KEY" if c == spec.key else "") for c in spec.columns)
            conn.execute(text(f"CREATE TABLE IF NOT EXISTS {spec.table} ({cols})"))
            conn.execute(text(f"CREATE INDEX IF NOT EXISTS {spec.table}_cursor ON {spec.table} ({spec.cursor}, {spec.key})"))
            if rows:
                names = ", ".join(spec.columns)
                params = ", ".join(f":{c}" for c in spec.columns)
                updates = ", ".join(f"{c} = excluded.{c}" for c in spec.columns if c != spec.key)
                conn.execute(text(f"INSERT INTO {spec.table} ({names}) VALUES ({params}) "
                                  f"ON CONFLICT ({spec.key}) DO UPDATE SET {updates}"),
                             [{c: r.get(c) for c in spec.columns} for r in rows])
    eng.dispose()


def _schema(spec: CursorTable) -> pa.Schema:
    return pa.schema([(c, pa.string()) for c in spec.columns] + [("_ingested_at", pa.timestamp("us", tz="UTC"))])


def watermark(ws: Any, spec: CursorTable) -> tuple[str, str] | None:
    """The last (cursor value, key) landed from ``spec``, or None before the first page."""
    if not ws.lake.exists(spec.raw_table):
        return None
    found = latest_properties(ws.lake.table(spec.raw_table), WATERMARK_PREFIX).get(spec.table)
    return tuple(json.loads(found)) if found else None


def pull(ws: Any, url: str, spec: CursorTable, page_rows: int = 50_000) -> dict[str, Any]:
    """Land every row of ``spec`` past the stored watermark, page by page. Returns counts."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    table = ws.lake.create_table(spec.raw_table, schema=_schema(spec), exist_ok=True)
    mark = watermark(ws, spec)
    eng = engine(url)
    names = ", ".join(spec.columns)
    landed = pages = 0
    try:
        with eng.connect() as conn:
            while True:
                where, params = "", {"n": page_rows}
                if mark is not None:
                    where = f"WHERE {spec.cursor} > :c OR ({spec.cursor} = :c AND {spec.key} > :k)"
                    params.update(c=mark[0], k=mark[1])
                sql = f"SELECT {names} FROM {spec.table} {where} ORDER BY {spec.cursor}, {spec.key} LIMIT :n"
                rows = conn.execute(text(sql), params).fetchall()
                if not rows:
                    break
                now = dt.datetime.now(dt.UTC)
                cols = {c: [None if r[i] is None else str(r[i]) for r in rows] for i, c in enumerate(spec.columns)}
                data = pa.table({**cols, "_ingested_at": [now] * len(rows)}, schema=_schema(spec))
                last = rows[-1]
                mark = (str(last[spec.columns.index(spec.cursor)]), str(last[spec.columns.index(spec.key)]))
                table.append(data, properties={WATERMARK_PREFIX + spec.table: json.dumps(list(mark))})
                landed += len(rows)
                pages += 1
                if len(rows) < page_rows:
                    break
    except SQLAlchemyError as exc:
        raise LaketownError(f"reading {spec.table!r} from the shop database failed: {str(exc).splitlines()[0]}") from exc
    finally:
        eng.dispose()
    return {"table": spec.table, "rows": landed, "pages": pages, "watermark": list(mark) if mark else None}


def pull_all(ws: Any, url: str, page_rows: int = 50_000) -> dict[str, Any]:
    return {spec.table: pull(ws, url, spec, page_rows) for spec in (ACCOUNTS, ORDERS)}
