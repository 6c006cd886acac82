"""Errors of the graph layer."""

from laketown.errors import LaketownError


class SparqlError(LaketownError):
    """A SPARQL query failed: syntax, unknown prefix, store error."""


class QueryRefusedError(SparqlError):
    """The endpoint refused the request (an update, a missing query)."""


class QueryTimeoutError(SparqlError):
    """A query ran past its deadline and was stopped."""
