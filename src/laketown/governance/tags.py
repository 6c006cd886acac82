"""Tags on zones, tables and columns (``pii=email``), and tag expressions for grants and masks.

A column's tags are its zone's, overridden by its table's, overridden by its own (per key), as
Lake Formation's LF-Tags inherit. An expression is a conjunction of clauses:
``domain=sales and pii in (none, low)``; ``key=*`` matches any value of the key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from laketown.governance.errors import GovernanceError

_WORD = r"[a-z0-9][a-z0-9_.-]*"
_TAG = re.compile(rf"^({_WORD})$")
_EQ = re.compile(rf"^\s*({_WORD})\s*=\s*({_WORD}|\*)(?:\s*\|\s*({_WORD}))*\s*$")
_IN = re.compile(rf"^\s*({_WORD})\s+in\s*\(\s*({_WORD}(?:\s*,\s*{_WORD})*)\s*\)\s*$")


def check_tag(key: str, value: str) -> None:
    """Tag keys and values: lower case letters, digits, ``_ . -``."""
    for part, what in ((key, "key"), (value, "value")):
        if not isinstance(part, str) or not _TAG.match(part):
            raise GovernanceError(f"bad tag {what} {part!r}: use lower case letters, digits, _ . - (e.g. pii=email)")


@dataclass(frozen=True)
class TagExpression:
    """``{key: allowed values}``; an empty set of values means any value."""

    text: str
    clauses: tuple[tuple[str, frozenset[str]], ...]

    def matches(self, tags: Mapping[str, str]) -> bool:
        return all(key in tags and (not values or tags[key] in values) for key, values in self.clauses)


def parse_expression(text: str) -> TagExpression:
    """Parse ``"domain=sales and pii in (none, low)"``; ``a=x|y`` is ``a in (x, y)``."""
    if not isinstance(text, str) or not text.strip():
        raise GovernanceError("empty tag expression; write e.g. 'domain=sales and pii=none'")
    clauses = []
    for part in re.split(r"\s+and\s+|\s*&\s*", text.strip().lower()):
        m_in = _IN.match(part)
        if m_in:
            clauses.append((m_in.group(1), frozenset(v.strip() for v in m_in.group(2).split(","))))
            continue
        if _EQ.match(part):
            key, _, values = part.partition("=")
            vals = frozenset(v.strip() for v in values.split("|"))
            clauses.append((key.strip(), frozenset() if vals == {"*"} else vals))
            continue
        raise GovernanceError(
            f"cannot read tag expression clause {part!r} in {text!r}; write key=value, key=v1|v2, "
            "key in (v1, v2) or key=*, joined by 'and'"
        )
    normal = " and ".join(f"{k}={'|'.join(sorted(v)) or '*'}" for k, v in sorted(clauses))
    return TagExpression(normal, tuple(sorted(clauses)))


def effective_tags(tags: Mapping[str, Mapping[str, str]], table: str, column: str | None = None) -> dict[str, str]:
    """Tags of ``table`` (or of one of its columns) after inheritance from zone and table."""
    zone = table.split(".", 1)[0]
    out = dict(tags.get(zone, {}))
    out.update(tags.get(table, {}))
    if column is not None:
        out.update(tags.get(f"{table}.{column}", {}))
    return out
