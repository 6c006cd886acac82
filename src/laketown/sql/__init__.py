"""DuckDB SQL over the lake (read-only, locked down, run as a principal under its policies)."""

from laketown.sql.engine import (
    AccessPolicy,
    QueryEvent,
    QueryPolicy,
    QueryResult,
    SqlEngine,
)
from laketown.sql.errors import AccessDeniedError

__all__ = ["AccessDeniedError", "AccessPolicy", "QueryEvent", "QueryPolicy", "QueryResult", "SqlEngine"]
