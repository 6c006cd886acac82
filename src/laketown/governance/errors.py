"""Errors of the governance layer."""

from __future__ import annotations

from laketown.errors import LaketownError
from laketown.sql.errors import AccessDeniedError

__all__ = ["AccessDeniedError", "AuthenticationError", "GovernanceError"]


class GovernanceError(LaketownError, ValueError):
    """A policy, principal, tag or rule given to the governance API is malformed or unknown."""


class AuthenticationError(LaketownError):
    """An API key is missing, malformed, unknown, revoked or expired (HTTP 401)."""
