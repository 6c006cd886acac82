"""Named SPARQL queries: a query text with typed parameters, run through a :class:`QueryRunner`.

Parameters replace their ``?variable`` as one checked RDF term: an IRI with no character
that could end it, a literal with every quote and backslash escaped, a number that parses.
So a parameter value cannot change the query's shape (pyoxigraph's own substitution would
need the variable in the projection).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from laketown.graph.errors import SparqlError

if TYPE_CHECKING:
    from laketown.graph.runner import QueryRunner

KINDS = ("iri", "literal", "int", "float")
_IRI_BAD = re.compile(r'[<>"{}|^`\\\s]')


def term(kind: str, value: Any) -> str:
    """``value`` as SPARQL term text of ``kind``; raises on a value that is not one."""
    if kind == "iri":
        text = str(value)
        if _IRI_BAD.search(text) or ":" not in text:
            raise SparqlError(f"{text!r} is not an IRI (no spaces, quotes or <>{{}}|^` allowed)")
        return f"<{text}>"
    if kind == "int":
        try:
            return str(int(value))
        except (TypeError, ValueError):
            raise SparqlError(f"{value!r} is not an integer") from None
    if kind == "float":
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise SparqlError(f"{value!r} is not a number") from None
        return repr(number) if not math.isnan(number) else '"NaN"^^<http://www.w3.org/2001/XMLSchema#double>'
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


@dataclass(frozen=True)
class NamedQuery:
    """``params`` maps a variable name (without ``?``) to its kind: iri, literal, int or float.
    ``iri_prefix`` turns a short id into an IRI for ``iri`` parameters (``c:`` + id)."""

    name: str
    description: str
    sparql: str
    params: dict[str, str] = field(default_factory=dict)
    iri_prefix: dict[str, str] = field(default_factory=dict)

    def bindings(self, values: dict[str, Any]) -> dict[str, tuple[str, Any]]:
        missing = [p for p in self.params if values.get(p) in (None, "")]
        if missing:
            raise SparqlError(f"query {self.name!r} needs parameter {missing[0]!r}; parameters: {', '.join(self.params)}")
        unknown = [k for k in values if k not in self.params]
        if unknown:
            raise SparqlError(f"query {self.name!r} has no parameter {unknown[0]!r}; parameters: {', '.join(self.params) or 'none'}")
        out = {}
        for name, kind in self.params.items():
            value = values[name]
            if kind == "iri" and name in self.iri_prefix and "://" not in str(value):
                value = self.iri_prefix[name] + str(value)
            out[name] = (kind, value)
        return out


class QueryLibrary:
    """A set of named queries with a common prefix block."""

    def __init__(self, prefixes: dict[str, str] | None = None):
        self.prefixes = dict(prefixes or {})
        self._queries: dict[str, NamedQuery] = {}

    def add(self, query: NamedQuery) -> NamedQuery:
        bad = [k for k in query.params.values() if k not in KINDS]
        if bad:
            raise SparqlError(f"query {query.name!r}: parameter kind {bad[0]!r} is not one of {', '.join(KINDS)}")
        self._queries[query.name] = query
        return query

    def get(self, name: str) -> NamedQuery:
        try:
            return self._queries[name]
        except KeyError:
            raise SparqlError(f"unknown named query {name!r}; queries: {', '.join(sorted(self._queries))}") from None

    def names(self) -> list[str]:
        return sorted(self._queries)

    def describe(self) -> list[dict[str, Any]]:
        return [{"name": q.name, "description": q.description, "params": q.params, "sparql": self.text(q)}
                for q in (self._queries[n] for n in self.names())]

    def text(self, query: NamedQuery) -> str:
        head = "".join(f"PREFIX {p}: <{iri}>\n" for p, iri in self.prefixes.items())
        return head + query.sparql

    def render(self, name: str, /, **params: Any) -> str:
        """The query text with ``params`` in place of their variables."""
        query = self.get(name)
        text = self.text(query)
        for var, (kind, value) in query.bindings(params).items():
            rendered = term(kind, value)
            text = re.sub(rf"[?$]{re.escape(var)}\b", lambda _m, t=rendered: t, text)
        return text

    def run(self, runner: QueryRunner, name: str, /, **params: Any) -> list[dict[str, Any]]:
        """Rows of the named query with ``params`` bound (within the runner's deadline)."""
        return runner.query(self.render(name, **params)).rows()
