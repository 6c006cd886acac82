"""Endpoints: users with channels (email, webhook URL), attributes, timezone and consent.

Kept in the operational store (an unsubscribe takes effect for the very next send) and handed
to segments and the lake as Arrow: ``user_id, email, webhook_url, timezone, opt_in,
unsubscribed`` plus one column per attribute (string, double, bool or timestamp)."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa

from laketown.apps.engagement.store import Store, now
from laketown.errors import LaketownError

BASE_COLUMNS = ["user_id", "email", "webhook_url", "timezone", "opt_in", "unsubscribed"]
LAKE_TABLE = "clean.engagement_endpoints"
C360_TABLE = "curated.c360_segments"
TRUE = {"1", "true", "yes", "y", "t", "on"}
#: one plain address: no spaces, line breaks, lists or display names (they would reach SMTP headers)
EMAIL = re.compile(r"^[^@\s<>,;:\"()\[\]\\]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]+$")


class EndpointError(LaketownError):
    """An endpoint or an endpoint file is malformed."""


def _bool(value: Any, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in TRUE


def check_timezone(tz: str | None, user_id: str) -> str:
    tz = tz or "UTC"
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise EndpointError(f"user {user_id!r}: unknown timezone {tz!r}; use an IANA name like 'Europe/Paris'") from None
    return tz


def _attr_value(value: Any) -> Any:
    """CSV cells become numbers or booleans where they clearly are one."""
    if not isinstance(value, str):
        return value
    s = value.strip()
    if s == "":
        return None
    if s.lower() in ("true", "false"):
        return s.lower() == "true"
    try:
        return float(s) if any(c in s for c in ".eE") else int(s)
    except ValueError:
        return s


class Endpoints:
    """Create, import, update and read endpoints of a workspace."""

    def __init__(self, store: Store):
        self.store = store

    def upsert(self, rows: Iterable[dict[str, Any]]) -> int:
        """Insert or update endpoints; keys other than the base columns are attributes (merged
        into the existing ones)."""
        n = 0
        with self.store.tx() as db:
            for row in rows:
                uid = row.get("user_id")
                if uid is None or str(uid).strip() == "":
                    raise EndpointError(f"endpoint without user_id: {dict(list(row.items())[:4])!r}; every row needs one")
                uid = str(uid).strip()
                email = (row.get("email") or None)
                if email is not None and not EMAIL.match(str(email)):
                    raise EndpointError(f"user {uid!r}: email {email!r} is not a plain address like name@example.com")
                hook = row.get("webhook_url") or None
                if hook is not None and not str(hook).startswith(("http://", "https://")):
                    raise EndpointError(f"user {uid!r}: webhook_url {hook!r} must start with http:// or https://")
                tz = check_timezone(row.get("timezone") or None, uid)
                attrs = {k: v for k, v in row.items() if k not in BASE_COLUMNS and k != "attributes"}
                attrs.update(row.get("attributes") or {})
                old = db.execute("SELECT * FROM endpoints WHERE user_id=?", (uid,)).fetchone()
                if old is not None:
                    merged = {**json.loads(old["attributes"]), **attrs}
                    db.execute(
                        "UPDATE endpoints SET email=coalesce(?,email), webhook_url=coalesce(?,webhook_url), "
                        "timezone=?, opt_in=?, unsubscribed=?, attributes=?, updated_at=? WHERE user_id=?",
                        (email, hook, tz if row.get("timezone") else old["timezone"],
                         int(_bool(row.get("opt_in"), bool(old["opt_in"]))),
                         int(_bool(row.get("unsubscribed"), bool(old["unsubscribed"]))),
                         json.dumps(merged, default=str), now(), uid))
                else:
                    db.execute(
                        "INSERT INTO endpoints VALUES (?,?,?,?,?,?,?,?)",
                        (uid, email, hook, tz, int(_bool(row.get("opt_in"), True)),
                         int(_bool(row.get("unsubscribed"), False)), json.dumps(attrs, default=str), now()))
                n += 1
        return n

    def import_csv(self, path: str | Path) -> int:
        """A CSV with a ``user_id`` column; ``email, webhook_url, timezone, opt_in, unsubscribed``
        are optional; every other column becomes an attribute."""
        path = Path(path)
        if not path.is_file():
            raise EndpointError(f"endpoint file {str(path)!r} does not exist")
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or "user_id" not in reader.fieldnames:
                raise EndpointError(f"{path.name}: no 'user_id' column; columns: {', '.join(reader.fieldnames or [])}")
            rows = [{k: (_attr_value(v) if k not in BASE_COLUMNS else v) for k, v in r.items()} for r in reader]
        return self.upsert(rows)

    def import_c360(self, ws: Any) -> int:
        """Endpoints from the Customer 360 app's ``curated.c360_segments`` (read through the lake;
        the apps never import each other). Returns 0 when that table does not exist yet."""
        if not ws.lake.exists(C360_TABLE):
            return 0
        t = ws.table(C360_TABLE).to_arrow()
        keep = [c for c in ("customer_id", "email", "given_name", "surname", "segment", "persona",
                            "churn_propensity", "exported_at") if c in t.column_names]
        rows = []
        for r in t.select(keep).to_pylist():
            uid = r.pop("customer_id")
            if uid is None:
                continue
            r["user_id"] = str(uid)
            if r.get("email") is not None and not EMAIL.match(str(r["email"])):
                r["email"] = None  # another app's data: keep the customer, without the email channel
            if r.get("exported_at") is not None:
                r["exported_at"] = r["exported_at"].isoformat()
            rows.append(r)
        return self.upsert(rows)

    def get(self, user_id: str) -> dict[str, Any] | None:
        row = self.store.one("SELECT * FROM endpoints WHERE user_id=?", (user_id,))
        return None if row is None else _row(row)

    def all(self) -> list[dict[str, Any]]:
        return [_row(r) for r in self.store.query("SELECT * FROM endpoints ORDER BY user_id")]

    def count(self) -> int:
        return self.store.one("SELECT count(*) AS n FROM endpoints")["n"]

    def unsubscribe(self, user_id: str) -> bool:
        """Takes effect for the very next send (checked right before each one)."""
        return self.store.execute("UPDATE endpoints SET unsubscribed=1, updated_at=? WHERE user_id=?", (now(), user_id)) > 0

    def set_consent(self, user_id: str, opt_in: bool) -> bool:
        return self.store.execute("UPDATE endpoints SET opt_in=?, updated_at=? WHERE user_id=?", (int(opt_in), now(), user_id)) > 0

    def to_arrow(self) -> pa.Table:
        return to_arrow(self.all())

    def export_to_lake(self, ws: Any) -> int:
        """Replace ``clean.engagement_endpoints`` with the current endpoints (for SQL)."""
        table = self.to_arrow()
        if ws.lake.exists(LAKE_TABLE):
            ws.lake.drop_table(LAKE_TABLE)
        ws.lake.write(LAKE_TABLE, table)
        return table.num_rows


def _row(r: Any) -> dict[str, Any]:
    return {"user_id": r["user_id"], "email": r["email"], "webhook_url": r["webhook_url"], "timezone": r["timezone"],
            "opt_in": bool(r["opt_in"]), "unsubscribed": bool(r["unsubscribed"]), "attributes": json.loads(r["attributes"])}


def _timestamp(v: Any) -> dt.datetime | None:
    if not isinstance(v, str) or len(v) < 10 or v[4] != "-":
        return None
    try:
        t = dt.datetime.fromisoformat(v)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def to_arrow(endpoints: list[dict[str, Any]]) -> pa.Table:
    """Endpoints as Arrow, attributes flattened into typed columns."""
    cols: dict[str, list[Any]] = {c: [e[c] for e in endpoints] for c in BASE_COLUMNS}
    types = {"user_id": pa.string(), "email": pa.string(), "webhook_url": pa.string(), "timezone": pa.string(),
             "opt_in": pa.bool_(), "unsubscribed": pa.bool_()}
    keys = sorted({k for e in endpoints for k in e["attributes"]} - set(BASE_COLUMNS))
    for k in keys:
        values = [e["attributes"].get(k) for e in endpoints]
        present = [v for v in values if v is not None]
        if present and all(isinstance(v, bool) for v in present):
            cols[k], types[k] = values, pa.bool_()
        elif present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
            cols[k], types[k] = [None if v is None else float(v) for v in values], pa.float64()
        elif present and all(_timestamp(v) is not None for v in present):
            cols[k], types[k] = [None if v is None else _timestamp(v) for v in values], pa.timestamp("us", tz="UTC")
        else:
            cols[k], types[k] = [None if v is None else str(v) for v in values], pa.string()
    return pa.table({k: pa.array(v, type=types[k]) for k, v in cols.items()})
