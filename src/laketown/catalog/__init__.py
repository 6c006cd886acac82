"""The data catalog (Glue Data Catalog): descriptions, owners, column docs, tags, PII
classification with review, search, schema history and column statistics.

``ws.governance.catalog`` is a :class:`Catalog`. Its metadata lives in the governance
database beside the policies; tags are the governance tags, so a reviewed PII class becomes a
``pii=<class>`` tag that tag-based grants and masks act on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from laketown.catalog.classify import CLASSES, classify_table
from laketown.catalog.history import schema_history
from laketown.catalog.stats import ColumnStats
from laketown.governance.errors import GovernanceError
from laketown.governance.store import iso, now

if TYPE_CHECKING:
    from laketown.governance import Governance

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS table_meta (table_name TEXT PRIMARY KEY, description TEXT NOT NULL DEFAULT '',
       owner TEXT NOT NULL DEFAULT '', updated_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS column_meta (table_name TEXT NOT NULL, column_name TEXT NOT NULL,
       doc TEXT NOT NULL, PRIMARY KEY (table_name, column_name))""",
    """CREATE TABLE IF NOT EXISTS classifications (table_name TEXT NOT NULL, column_name TEXT NOT NULL,
       pii TEXT NOT NULL, confidence REAL NOT NULL, source TEXT NOT NULL, state TEXT NOT NULL,
       detected_at TEXT NOT NULL, reviewed_by TEXT, PRIMARY KEY (table_name, column_name))""",
]
STATES = ("proposed", "accepted", "rejected")

__all__ = ["CLASSES", "Catalog", "classify_table", "schema_history"]


class Catalog:
    """Business metadata and technical metadata of the lake's tables."""

    def __init__(self, governance: Governance):
        self.gov = governance
        self.store = governance.store
        for sql in SCHEMA:
            self.store.execute(sql)
        self.stats = ColumnStats(self.store, governance.ws.sql_engine)

    @property
    def lake(self):
        return self.gov.ws.lake

    # -- descriptions, owners, docs --------------------------------------------------------
    def describe(self, table: str, description: str | None = None, owner: str | None = None,
                 columns: dict[str, str] | None = None) -> None:
        """Set a table's description and owner, and docs of its columns (``{column: doc}``)."""
        known = self.lake.table(table).schema.names
        for col in columns or {}:
            if col not in known:
                raise GovernanceError(f"table {table!r} has no column {col!r}; columns: {', '.join(known)}")
        if owner is not None:
            self.gov.principals.get(owner)
        with self.store.transaction() as con:
            con.execute("INSERT OR IGNORE INTO table_meta (table_name, updated_at) VALUES (?, ?)", [table, iso(now())])
            if description is not None:
                con.execute("UPDATE table_meta SET description = ?, updated_at = ? WHERE table_name = ?",
                            [description, iso(now()), table])
            if owner is not None:
                con.execute("UPDATE table_meta SET owner = ?, updated_at = ? WHERE table_name = ?", [owner, iso(now()), table])
            for col, doc in (columns or {}).items():
                con.execute("INSERT INTO column_meta VALUES (?, ?, ?) ON CONFLICT (table_name, column_name) "
                            "DO UPDATE SET doc = excluded.doc", [table, col, doc])

    def table_info(self, table: str) -> dict[str, Any]:
        """Everything known about a table: description, owner, tags, columns (type, doc, tags,
        PII, statistics), snapshots and row count — the console's table page."""
        t = self.lake.table(table)
        meta = self.store.rows("SELECT * FROM table_meta WHERE table_name = ?", [table])
        docs = {r["column_name"]: r["doc"] for r in self.store.rows("SELECT * FROM column_meta WHERE table_name = ?", [table])}
        pii = {r["column_name"]: dict(r) for r in self.store.rows("SELECT * FROM classifications WHERE table_name = ?", [table])}
        stats = {r["column_name"]: r for r in self.column_stats(table)}
        pol = self.gov.policies
        columns = [{"name": f.name, "type": str(f.type), "nullable": f.nullable, "doc": docs.get(f.name, ""),
                    "tags": pol.tags_of(f"{table}.{f.name}"), "pii": pii.get(f.name), "stats": stats.get(f.name)}
                   for f in t.schema]
        return {"table": table, "description": meta[0]["description"] if meta else "",
                "owner": meta[0]["owner"] if meta else "", "tags": pol.tags_of(table), "columns": columns,
                **{k: v for k, v in t.stats().items() if k in ("rows", "snapshots", "snapshot_id", "partitioning")}}

    # -- PII classification ----------------------------------------------------------------
    def classify(self, table: str, sample_rows: int = 1000) -> list[dict[str, Any]]:
        """Detect PII in a table's columns from names and a sample; stores proposals for review.
        A column already reviewed keeps its review unless the detected class changed."""
        sample = self.lake.table(table).scan(limit=sample_rows)
        found = classify_table(sample, sample_rows)
        with self.store.transaction() as con:
            for c in found:
                old = con.execute("SELECT pii, state FROM classifications WHERE table_name = ? AND column_name = ?",
                                  [table, c.column]).fetchone()
                state = old["state"] if old and old["pii"] == c.pii else "proposed"
                con.execute(
                    "INSERT INTO classifications VALUES (?, ?, ?, ?, ?, ?, ?, NULL) ON CONFLICT (table_name, column_name) "
                    "DO UPDATE SET pii = excluded.pii, confidence = excluded.confidence, source = excluded.source, "
                    "state = ?, detected_at = excluded.detected_at",
                    [table, c.column, c.pii, c.confidence, c.source, state, iso(now()), state])
        return self.classifications(table)

    def classifications(self, table: str | None = None, state: str | None = None) -> list[dict[str, Any]]:
        """Stored PII classifications, optionally of one table or in one review state."""
        where, params = [], []
        if table:
            where.append("table_name = ?")
            params.append(table)
        if state:
            where.append("state = ?")
            params.append(state)
        sql = "SELECT * FROM classifications" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY 1, 2"
        return [dict(r) for r in self.store.rows(sql, params)]

    def review(self, table: str, column: str, accept: bool, by: str | None = None, pii: str | None = None) -> None:
        """Accept (tagging the column ``pii=<class>``) or reject a proposed classification;
        ``pii`` corrects the class while accepting."""
        rows = self.store.rows("SELECT * FROM classifications WHERE table_name = ? AND column_name = ?", [table, column])
        if not rows and pii is None:
            raise GovernanceError(f"no PII classification for {table}.{column}; run classify first or pass pii=")
        if pii is not None and pii not in CLASSES:
            raise GovernanceError(f"unknown PII class {pii!r}; classes: {', '.join(CLASSES)}")
        cls = pii or rows[0]["pii"]
        state = "accepted" if accept else "rejected"
        self.store.execute(
            "INSERT INTO classifications VALUES (?, ?, ?, 1.0, 'review', ?, ?, ?) ON CONFLICT (table_name, column_name) "
            "DO UPDATE SET pii = excluded.pii, state = excluded.state, reviewed_by = excluded.reviewed_by",
            [table, column, cls, state, iso(now()), by or self.gov.actor])
        self.gov.tag(f"{table}.{column}", pii=cls if accept else None)

    # -- search, history, statistics -------------------------------------------------------
    def search(self, text: str, principal: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Tables and columns whose name, description, doc, tag or PII class contains every word
        of ``text``; only tables ``principal`` may read (all for admins)."""
        words = [w.lower() for w in text.split() if w]
        if not words:
            raise GovernanceError("empty search; give one or more words, e.g. 'email customers'")
        who = principal or self.gov.actor
        tables = self.gov.visible_tables(who)
        meta = {r["table_name"]: r for r in self.store.rows("SELECT * FROM table_meta")}
        docs = {(r["table_name"], r["column_name"]): r["doc"] for r in self.store.rows("SELECT * FROM column_meta")}
        pii = {(r["table_name"], r["column_name"]): r["pii"] for r in self.store.rows(
            "SELECT * FROM classifications WHERE state <> 'rejected'")}
        snap = self.gov.policies.snapshot()
        hits = []
        for table in tables:
            m = meta.get(table)
            tags = " ".join(f"{k}={v}" for k, v in snap.tags.get(table, {}).items())
            text_t = f"{table} {m['description'] if m else ''} {m['owner'] if m else ''} {tags}".lower()
            if all(w in text_t for w in words):
                hits.append({"kind": "table", "table": table, "column": None, "match": text_t.strip()})
            zone, name = table.split(".", 1)
            columns = self.gov.ws.sql_engine._columns.get((zone, name), [])
            for col, typ in columns:
                ctags = " ".join(f"{k}={v}" for k, v in snap.tags.get(f"{table}.{col}", {}).items())
                text_c = f"{table} {col} {typ} {docs.get((table, col), '')} {ctags} {pii.get((table, col), '')}".lower()
                if all(w in text_c for w in words):
                    hits.append({"kind": "column", "table": table, "column": col, "match": text_c.strip()})
        return hits[:limit]

    def schema_history(self, table: str) -> list[dict[str, Any]]:
        """Schemas a table went through, with the snapshot that introduced each and the change."""
        return schema_history(self.lake.table(table))

    def column_stats(self, table: str, refresh: bool = False) -> list[dict[str, Any]]:
        """Null count, distinct count (approximate), min and max per column, as of the table's
        current snapshot (refreshed here when the background refresh after a write is behind)."""
        stored = self.stats.get(table)
        current = self.lake.table(table).stats()["snapshot_id"]
        if refresh or not stored or stored[0].get("snapshot_id") != current:
            return self.stats.refresh(table, current)
        return stored
