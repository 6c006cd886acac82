"""Column masks as DuckDB expressions: hash, redact, partial (last N characters), null.

``hash`` is a salted SHA-256 (the salt is per workspace, so equal values still join but a
dictionary of common values cannot be looked up); ``partial`` keeps the last 4 characters
(``partial:2`` keeps 2) and stars the rest; ``redact`` gives a fixed text; ``null`` a NULL of
the column's type.
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
        return f"sha256({quote_literal(salt)} || {text})"
    m = _PARTIAL.match(kind)
    if m:
        keep = int(m.group(1) or 4)
        return (f"CASE WHEN {column_sql} IS NULL THEN NULL ELSE "
                f"repeat('*', greatest(length({text}) - {keep}, 0)) || right({text}, {keep}) END")
    raise GovernanceError(f"unknown mask {kind!r}")
