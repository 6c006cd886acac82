"""Data quality (Glue Data Quality): declarative rules per table, checked on write.

Row rules — not_null, unique, range, allowed_values, regex, referential, freshness — mark
the rows that break them; those rows go to ``<zone>.<table>_quarantine`` with the rules they
broke, the others are written. Table rules — row_count_change — pass or fail the batch as a
whole and never move rows. Each check is stored with its score (share of good rows, times the
share of table rules passed) so a table's quality can be followed over time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from laketown.governance.errors import GovernanceError
from laketown.governance.store import iso, now
from laketown.lake.schema import to_arrow_table
from laketown.sql.database import quote_ident

if TYPE_CHECKING:
    from laketown.governance import Governance

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS quality_rules (id INTEGER PRIMARY KEY AUTOINCREMENT, table_name TEXT NOT NULL,
       kind TEXT NOT NULL, params TEXT NOT NULL, created_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS quality_runs (id INTEGER PRIMARY KEY AUTOINCREMENT, table_name TEXT NOT NULL,
       ts TEXT NOT NULL, rows INTEGER NOT NULL, good INTEGER NOT NULL, quarantined INTEGER NOT NULL,
       score REAL NOT NULL, failures TEXT NOT NULL)""",
]
#: kind -> (required parameters, optional parameters)
RULES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "not_null": (("column",), ()),
    "unique": (("column",), ()),
    "range": (("column",), ("min", "max")),
    "allowed_values": (("column", "values"), ()),
    "regex": (("column", "pattern"), ()),
    "referential": (("column", "ref_table", "ref_column"), ()),
    "freshness": (("column", "max_age_s"), ()),
    "row_count_change": (("max_change",), ()),
}
TABLE_RULES = ("row_count_change",)
QUARANTINE_COLUMNS = [("_dq_rules", pa.string()), ("_dq_checked_at", pa.timestamp("us", tz="UTC"))]


@dataclass(frozen=True)
class Rule:
    id: int
    table: str
    kind: str
    params: dict[str, Any]

    @property
    def label(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.kind}({args})"


@dataclass
class CheckResult:
    """The outcome of one check: good rows, quarantined rows (with ``_dq_rules``), score."""

    good: pa.Table
    quarantined: pa.Table
    score: float
    failures: dict[str, int]

    def __iter__(self):  # ``good, quarantined = check(...)``
        return iter((self.good, self.quarantined))


def quarantine_name(table: str) -> str:
    return f"{table}_quarantine"


class Quality:
    """Rules, checks, quarantine and scores of the lake's tables."""

    def __init__(self, governance: Governance):
        self.gov = governance
        self.store = governance.store
        for sql in SCHEMA:
            self.store.execute(sql)

    # -- rules -----------------------------------------------------------------------------
    def add_rule(self, table: str, kind: str, **params: Any) -> Rule:
        """Add a rule: ``add_rule("raw.orders", "range", column="amount", min=0, max=10_000)``."""
        if kind not in RULES:
            raise GovernanceError(f"unknown quality rule {kind!r}; rules: {', '.join(RULES)}")
        required, optional = RULES[kind]
        missing = [p for p in required if p not in params]
        unknown = [p for p in params if p not in required + optional]
        if missing or unknown:
            raise GovernanceError(f"rule {kind} takes {', '.join(required + optional)}; "
                                  f"missing {missing or 'none'}, unknown {unknown or 'none'}")
        if kind == "regex":
            try:
                re.compile(params["pattern"])
            except re.error as exc:
                raise GovernanceError(f"rule regex: bad pattern {params['pattern']!r}: {exc}") from None
        with self.store.transaction() as con:
            cur = con.execute("INSERT INTO quality_rules (table_name, kind, params, created_at) VALUES (?, ?, ?, ?)",
                              [table, kind, json.dumps(params, default=str), iso(now())])
            rule_id = cur.lastrowid
        return Rule(rule_id, table, kind, params)

    def rules(self, table: str) -> list[Rule]:
        return [Rule(r["id"], r["table_name"], r["kind"], json.loads(r["params"]))
                for r in self.store.rows("SELECT * FROM quality_rules WHERE table_name = ? ORDER BY id", [table])]

    def drop_rule(self, rule_id: int) -> None:
        if not self.store.execute("DELETE FROM quality_rules WHERE id = ?", [rule_id]):
            raise GovernanceError(f"no quality rule with id {rule_id}")

    # -- checks ----------------------------------------------------------------------------
    def _distinct(self, table: str, column: str) -> pa.Array:
        zone, name = table.split(".", 1)
        if not self.gov.ws.lake.exists(table):
            return pa.array([])
        sql = f"SELECT DISTINCT {quote_ident(column)} AS v FROM {zone}.{quote_ident(name)}"
        return self.gov.ws.sql_engine.internal_query(sql).column("v").combine_chunks()

    def _failing(self, rule: Rule, data: pa.Table) -> pa.Array:
        p, col = rule.params, data.column(rule.params["column"]) if "column" in rule.params else None
        false = pa.array([False] * data.num_rows)
        if rule.kind == "not_null":
            return pc.is_null(col)
        if rule.kind == "unique":
            existing = self._distinct(rule.table, p["column"])
            seen = pc.is_in(col, value_set=existing.cast(col.type)) if len(existing) else false
            counts = pc.value_counts(col.combine_chunks())
            dupes = pc.filter(counts.field("values"), pc.greater(counts.field("counts"), 1))
            in_batch = pc.is_in(col, value_set=dupes) if len(dupes) else false
            return pc.fill_null(pc.or_(seen, in_batch), False)
        if rule.kind == "range":
            low = pc.less(col, p["min"]) if p.get("min") is not None else false
            high = pc.greater(col, p["max"]) if p.get("max") is not None else false
            return pc.fill_null(pc.or_(low, high), False)
        if rule.kind == "allowed_values":
            return pc.fill_null(pc.invert(pc.is_in(col, value_set=pa.array(p["values"]).cast(col.type))), False)
        if rule.kind == "regex":
            text = col.cast(pa.string())
            return pc.fill_null(pc.invert(pc.match_substring_regex(text, f"^(?:{p['pattern']})$")), False)
        if rule.kind == "referential":
            ref = self._distinct(p["ref_table"], p["ref_column"])
            ok = pc.is_in(col, value_set=ref.cast(col.type)) if len(ref) else false
            return pc.fill_null(pc.and_(pc.invert(ok), pc.is_valid(col)), False)
        if rule.kind == "freshness":
            cutoff = datetime.now(timezone.utc) - timedelta(seconds=float(p["max_age_s"]))
            scalar = pa.scalar(cutoff if col.type.tz else cutoff.replace(tzinfo=None), col.type)
            return pc.fill_null(pc.less(col, scalar), False)
        raise GovernanceError(f"rule {rule.kind} is not a row rule")

    def _table_rule_passes(self, rule: Rule, data: pa.Table) -> bool:
        last = self.store.rows("SELECT rows FROM quality_runs WHERE table_name = ? ORDER BY id DESC LIMIT 1", [rule.table])
        if not last or not last[0]["rows"]:
            return True
        change = abs(data.num_rows - last[0]["rows"]) / last[0]["rows"]
        return change <= float(rule.params["max_change"])

    def check(self, table: str, data: Any, record: bool = True) -> CheckResult:
        """Split ``data`` into good rows and quarantined rows (``_dq_rules`` names the broken
        rules) by the table's rules; records the run and its score unless ``record=False``."""
        batch = to_arrow_table(data)
        rules = self.rules(table)
        failures: dict[str, int] = {}
        labels: list[list[str]] = [[] for _ in range(batch.num_rows)]
        bad_any = pa.array([False] * batch.num_rows)
        table_rules = passed = 0
        for rule in rules:
            if rule.kind in TABLE_RULES:
                table_rules += 1
                if self._table_rule_passes(rule, batch):
                    passed += 1
                else:
                    failures[rule.label] = batch.num_rows
                continue
            if rule.params.get("column") not in batch.column_names:
                raise GovernanceError(f"rule {rule.label} on {table!r}: the data has no column {rule.params['column']!r}")
            bad = self._failing(rule, batch)
            n = pc.sum(bad).as_py() or 0
            if n:
                failures[rule.label] = n
                for i in pc.indices_nonzero(bad).to_pylist():
                    labels[i].append(rule.label)
                bad_any = pc.or_(bad_any, bad)
        good = batch.filter(pc.invert(bad_any))
        quarantined = batch.filter(bad_any)
        stamp = datetime.now(timezone.utc)
        rule_text = pa.array(["; ".join(lab) for lab in labels if lab], pa.string())
        quarantined = quarantined.append_column("_dq_rules", rule_text).append_column(
            "_dq_checked_at", pa.array([stamp] * quarantined.num_rows, pa.timestamp("us", tz="UTC")))
        share = good.num_rows / batch.num_rows if batch.num_rows else 1.0
        score = round(share * ((passed / table_rules) if table_rules else 1.0), 6)
        if record:
            self.store.execute(
                "INSERT INTO quality_runs (table_name, ts, rows, good, quarantined, score, failures) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [table, iso(now()), batch.num_rows, good.num_rows, quarantined.num_rows, score, json.dumps(failures)])
        return CheckResult(good, quarantined, score, failures)

    def write(self, table: str, data: Any, mode: str = "append", on: Sequence[str] = ()) -> CheckResult:
        """Check, write the good rows to ``table`` and the bad ones to its quarantine table."""
        result = self.check(table, data)
        lake = self.gov.ws.lake
        if result.good.num_rows or not lake.exists(table):
            lake.write(table, result.good if result.good.num_rows else to_arrow_table(data).slice(0, 0), mode=mode, on=on)
        self.quarantine(table, result.quarantined)
        return result

    def quarantine(self, table: str, rows: pa.Table) -> int:
        """Append rows returned as quarantined by :meth:`check` to ``<table>_quarantine`` (for a
        sink that writes the good rows in its own commit)."""
        if not rows.num_rows:
            return 0
        q = self.gov.ws.lake.create_table(quarantine_name(table), schema=_nullable(rows.schema), exist_ok=True)
        return q.append(rows)

    def scores(self, table: str, limit: int = 100) -> list[dict[str, Any]]:
        """The table's checks, newest first: time, rows, good, quarantined, score, failures."""
        rows = self.store.rows("SELECT * FROM quality_runs WHERE table_name = ? ORDER BY id DESC LIMIT ?", [table, limit])
        return [{**dict(r), "failures": json.loads(r["failures"])} for r in rows]


def _nullable(schema: pa.Schema) -> pa.Schema:
    return pa.schema([pa.field(f.name, f.type, True) for f in schema])
