"""Errors of the SQL layer that callers tell apart from plain SQL failures."""

from __future__ import annotations

from laketown.errors import SqlError


class AccessDeniedError(SqlError, PermissionError):
    """A principal asked for something its policies do not allow (audited as a denial)."""
