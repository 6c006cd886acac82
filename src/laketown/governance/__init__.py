"""Governance: principals, API keys, grants, row filters, masks, tags and audit (Lake Formation).

``ws.governance`` is a :class:`Governance`; the SQL engine enforces its policies in every
query, and the HTTP server authenticates requests with :func:`authenticate_request`.
"""

from laketown.governance.api import Governance
from laketown.governance.errors import (
    AccessDeniedError,
    AuthenticationError,
    GovernanceError,
)
from laketown.governance.http import authenticate_request

__all__ = ["AccessDeniedError", "AuthenticationError", "Governance", "GovernanceError", "authenticate_request"]
