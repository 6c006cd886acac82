"""Column masks as DuckDB expressions: hash, redact, partial (last N characters), null.

``hash`` is a keyed MD5 pseudonym: MD5 over a secret per-workspace salt and the value, so
equal values still join and group, but without the salt (which only admins can see) a
dictionary of likely values cannot be hashed and looked up. MD5, not SHA-256: what a pseudonym
needs is preimage resistance, which MD5 keeps, and in DuckDB it costs about a third of SHA-256
per row — the dominant cost of masking a column read in full. ``partial`` shows ``****`` and the
last 4 characters (``partial:2`` keeps 2), hiding the length; a value no longer than that is
all stars. ``redact`` gives a fixed text; ``null`` a NULL of the column's type.
"""

from __future__ import annotations

import re

from laketown.governance.errors import GovernanceError
from laketown.sql.database import quote_literal

KINDS = ("hash", "redact", "partial", "null")
#: when several masks apply to one column the strongest wins
STRENGTH = {"partial": 1, "hash": 2, "redact": 3, "null": 4}
_PARTIAL = re.compile(r"^partial(?::(\d{1,2}))?$")
REDACTED = "[REDACTED]"


def check_kind(kind: str) -> str:
    """``hash``, ``redact``, ``null``, ``partial`` or ``partial:N``."""
    if kind in KINDS or _PARTIAL.match(kind or ""):
        return kind
    raise GovernanceError(f"unknown mask {kind!r}; use hash, redact, null, partial (last 4) or partial:N")


def strength(kind: str) -> int:
    return STRENGTH[kind.split(":", 1)[0]]


def mask_sql(kind: str, column_sql: str, duck_type: str, salt: str) -> str:
    """The expression that replaces ``column_sql`` (of DuckDB type ``duck_type``)."""
    text = f"CAST({column_sql} AS VARCHAR)"
    if kind == "null":
        return f"CAST(NULL AS {duck_type})"
    if kind == "redact":
        return f"CASE WHEN {column_sql} IS NULL THEN NULL ELSE {quote_literal(REDACTED)} END"
    if kind == "hash":
        return f"md5({quote_literal(salt)} || {text})"
    m = _PARTIAL.match(kind)
    if m:
        keep = int(m.group(1) or 4)
        return f"CASE WHEN length({text}) > {keep} THEN '****' || right({text}, {keep}) WHEN {column_sql} IS NOT NULL THEN '****' END"
    raise GovernanceError(f"unknown mask {kind!r}")
