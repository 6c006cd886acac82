"""Golden records by survivorship rules, with lineage to the source record of every value.

Rules per attribute: ``most_recent`` (newest ``updated_at``), ``most_frequent`` (the value
most records of the customer agree on, case-insensitively) and ``source_priority`` (the first
source of :attr:`Survivorship.source_priority` that has a value). Ties fall to the newer
record, then the source priority, then the smaller record id, so the result is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from laketown.apps.customer360.identity.standardize import ATTRIBUTES
from laketown.errors import LaketownError

RULES = ("most_recent", "most_frequent", "source_priority")

DEFAULT_RULES = {
    "given_name": "most_frequent", "surname": "most_recent", "email": "most_recent",
    "phone": "most_recent", "street": "most_recent", "city": "most_recent",
    "postcode": "most_recent", "dob": "most_frequent",
}

GOLDEN_SCHEMA = pa.schema(
    [("customer_id", pa.string())] + [(a, pa.string()) for a in ATTRIBUTES] + [
        ("record_ids", pa.list_(pa.string())), ("sources", pa.list_(pa.string())),
        ("record_count", pa.int64()), ("updated_at", pa.timestamp("us", tz="UTC")),
    ]
)
LINEAGE_SCHEMA = pa.schema([
    ("customer_id", pa.string()), ("attribute", pa.string()), ("value", pa.string()),
    ("record_id", pa.string()), ("source", pa.string()), ("rule", pa.string()),
])


@dataclass
class Survivorship:
    """Which rule picks each attribute; ``source_priority`` lists sources, best first."""

    rules: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_RULES))
    source_priority: list[str] = field(default_factory=lambda: ["crm", "ecommerce", "support", "web"])

    def __post_init__(self) -> None:
        for attr, rule in self.rules.items():
            if attr not in ATTRIBUTES:
                raise LaketownError(f"survivorship names unknown attribute {attr!r}; attributes: {', '.join(ATTRIBUTES)}")
            if rule not in RULES:
                raise LaketownError(f"unknown survivorship rule {rule!r} for {attr!r}; rules: {', '.join(RULES)}")

    def rule(self, attr: str) -> str:
        return self.rules.get(attr, "most_recent")


def build(records: pa.Table, customer_ids: pa.Array, rules: Survivorship) -> tuple[pa.Table, pa.Table]:
    """(golden records, lineage) for the customers of ``records`` (the original columns plus
    ``customer_id`` given aligned in ``customer_ids``)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    cols = ["record_id", "source", "updated_at", *ATTRIBUTES]
    con.register("recs", records.select(cols).append_column("customer_id", customer_ids))
    priority = "[" + ", ".join("'" + s.replace("'", "''") + "'" for s in rules.source_priority) + "]"
    parts = [
        f"SELECT customer_id, record_id, source, updated_at, '{a}' AS attribute, trim({a}) AS value, "
        f"'{rules.rule(a)}' AS rule FROM recs WHERE nullif(trim({a}), '') IS NOT NULL"
        for a in ATTRIBUTES
    ]
    con.execute(
        f"""
        CREATE TEMP TABLE picked AS
        WITH long AS ({' UNION ALL '.join(parts)}),
        scored AS (
          SELECT *, count(*) OVER (PARTITION BY customer_id, attribute, lower(value)) AS freq,
                 coalesce(list_position({priority}, source), 1000) AS prio
          FROM long
        )
        SELECT customer_id, attribute, value, record_id, source, rule FROM (
          SELECT *, row_number() OVER (
            PARTITION BY customer_id, attribute
            ORDER BY CASE WHEN rule = 'most_frequent' THEN -freq ELSE 0 END,
                     CASE WHEN rule = 'source_priority' THEN prio ELSE 0 END,
                     updated_at DESC NULLS LAST, prio, record_id) AS rn
          FROM scored) WHERE rn = 1
        """
    )
    lineage = con.execute("SELECT * FROM picked ORDER BY customer_id, attribute").to_arrow_table()
    pivot = ", ".join(f"max(value) FILTER (WHERE attribute = '{a}') AS {a}" for a in ATTRIBUTES)
    golden = con.execute(
        f"""
        WITH members AS (
          SELECT customer_id, list(record_id ORDER BY record_id) AS record_ids,
                 list(DISTINCT source ORDER BY source) AS sources, count(*) AS record_count,
                 max(updated_at) AS updated_at
          FROM recs GROUP BY customer_id
        ), attrs AS (SELECT customer_id, {pivot} FROM picked GROUP BY customer_id)
        SELECT m.customer_id, {', '.join('a.' + a for a in ATTRIBUTES)}, m.record_ids, m.sources,
               m.record_count, m.updated_at
        FROM members m LEFT JOIN attrs a USING (customer_id) ORDER BY m.customer_id
        """
    ).to_arrow_table()
    con.close()
    return golden.cast(GOLDEN_SCHEMA), lineage.cast(LINEAGE_SCHEMA)
