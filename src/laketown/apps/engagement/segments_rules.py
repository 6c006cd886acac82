"""Segment rules: JSON conditions checked against the endpoint schema and compiled to DuckDB SQL.

A rule is ``{"all": [...]}``, ``{"any": [...]}``, ``{"not": rule}`` or one condition:

- ``{"attr": NAME, "op": "eq|ne|lt|lte|gt|gte|in|contains|exists", "value": V}`` on an
  endpoint column (string, number, bool or timestamp; ``exists`` takes an optional bool);
- ``{"event": TYPE, "op": "count_gte|count_lt", "value": N, "within_days": D}``: how many
  events of that type the user had (in the last ``D`` days when given);
- ``{"model": NAME, "op": "gte|gt|lte|lt", "value": P}``: the user's latest
  ``NAME_probability`` score.

Every condition is false for a missing value (a null attribute, no score), so ``not`` is the
exact complement. Values are bound as parameters; column names only reach the SQL after they
were found in the endpoint schema, and are quoted.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from laketown.errors import LaketownError
from laketown.sql.database import quote_ident

ATTR_OPS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "contains", "exists")
EVENT_OPS = ("count_gte", "count_lt")
MODEL_OPS = ("gte", "gt", "lte", "lt")
_SQL_OP = {"eq": "=", "ne": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
_MODEL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
MAX_DEPTH = 32
MAX_IN_VALUES = 10_000


class RuleError(LaketownError, ValueError):
    """A segment rule is malformed: the message names the part (``rule.all[1].op``) and value."""


@dataclass(frozen=True)
class EventCount:
    """One per-user event count a rule needs: type and window (days; ``None`` for all time)."""

    event_type: str
    within_days: float | None


@dataclass
class CompiledRule:
    """The WHERE condition over ``e`` (endpoints), ``ev`` (event counts ``cN``) and ``mN``
    (each model's latest score ``p``), with its parameters."""

    where: str
    params: dict[str, Any]
    events: dict[EventCount, str] = field(default_factory=dict)  # count -> column alias in ev
    models: dict[str, str] = field(default_factory=dict)  # model name -> relation alias mN
    event_select: str = ""  # "count(*) FILTER (WHERE ...) AS c0, ..." over the events
    event_where: str = "TRUE"  # the event rows any of those counts can use

    @property
    def needs_events(self) -> bool:
        return bool(self.events)

    @property
    def needs_scores(self) -> bool:
        return bool(self.models)


def _kind(t: pa.DataType) -> str | None:
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t):
        return "string"
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "number"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "timestamp"
    return None


class _Compiler:
    def __init__(self, schema: pa.Schema, now: datetime):
        self.kinds = {f.name: _kind(f.type) for f in schema}
        self.now = now
        self.out = CompiledRule("", {})

    def param(self, value: Any) -> str:
        name = f"p{len(self.out.params)}"
        self.out.params[name] = value
        return f"${name}"

    # -- structure -------------------------------------------------------------------------
    def node(self, rule: Any, path: str, depth: int) -> str:
        if depth > MAX_DEPTH:
            raise RuleError(f"{path}: rule nested deeper than {MAX_DEPTH} levels; flatten it")
        if not isinstance(rule, dict):
            raise RuleError(f"{path}: expected an object like {{\"all\": [...]}} or a condition; got {rule!r:.80}")
        groups = [k for k in ("all", "any", "not") if k in rule]
        leaves = [k for k in ("attr", "event", "model") if k in rule]
        if len(groups) + len(leaves) != 1:
            found = ", ".join(sorted(rule)) or "nothing"
            raise RuleError(f"{path}: give exactly one of all, any, not, attr, event, model; found {found}")
        if groups:
            key = groups[0]
            extra = sorted(set(rule) - {key})
            if extra:
                raise RuleError(f"{path}: unexpected key {extra[0]!r} beside {key!r}")
            if key == "not":
                return f"(NOT {self.node(rule['not'], f'{path}.not', depth + 1)})"
            items = rule[key]
            if not isinstance(items, list):
                raise RuleError(f"{path}.{key}: expected a list of conditions; got {items!r:.80}")
            if not items:
                return "TRUE" if key == "all" else "FALSE"
            joiner = " AND " if key == "all" else " OR "
            return "(" + joiner.join(self.node(c, f"{path}.{key}[{i}]", depth + 1) for i, c in enumerate(items)) + ")"
        return {"attr": self.attr, "event": self.event, "model": self.model}[leaves[0]](rule, path)

    @staticmethod
    def _keys(rule: dict, path: str, allowed: set[str]) -> None:
        extra = sorted(set(rule) - allowed)
        if extra:
            raise RuleError(f"{path}: unexpected key {extra[0]!r}; this condition takes {', '.join(sorted(allowed))}")

    @staticmethod
    def _op(rule: dict, path: str, ops: tuple[str, ...]) -> str:
        op = rule.get("op")
        if op not in ops:
            raise RuleError(f"{path}.op: unknown operator {op!r}; use one of {', '.join(ops)}")
        return op

    # -- attributes ------------------------------------------------------------------------
    def attr(self, rule: dict, path: str) -> str:
        self._keys(rule, path, {"attr", "op", "value"})
        name = rule["attr"]
        if not isinstance(name, str) or name not in self.kinds:
            known = ", ".join(n for n, k in self.kinds.items() if k) or "none"
            raise RuleError(f"{path}.attr: unknown attribute {name!r}; endpoint attributes: {known}")
        kind = self.kinds[name]
        if kind is None:
            raise RuleError(f"{path}.attr: attribute {name!r} is not a string, number, bool or timestamp")
        op = self._op(rule, path, ATTR_OPS)
        col = f"e.{quote_ident(name)}"
        if kind == "timestamp":
            col = f"CAST({col} AS TIMESTAMPTZ)"
        value = rule.get("value")
        if op == "exists":
            if "value" in rule and not isinstance(value, bool):
                raise RuleError(f"{path}.value: exists takes true or false; got {value!r:.80}")
            return f"({col} IS NOT NULL)" if value in (None, True) else f"({col} IS NULL)"
        if "value" not in rule:
            raise RuleError(f"{path}: operator {op!r} needs a value")
        if op == "in":
            if not isinstance(value, list) or not value or len(value) > MAX_IN_VALUES:
                raise RuleError(f"{path}.value: 'in' takes a non-empty list of up to {MAX_IN_VALUES} values; got {value!r:.80}")
            values = [self.value(v, kind, name, f"{path}.value[{i}]") for i, v in enumerate(value)]
            return f"COALESCE({col} IN ({', '.join(self.param(v) for v in values)}), FALSE)"
        if op == "contains":
            if kind != "string" or not isinstance(value, str):
                raise RuleError(f"{path}: 'contains' needs a string attribute and a string value; {name!r} is {kind}, value {value!r:.80}")
            return f"COALESCE(contains({col}, {self.param(value)}), FALSE)"
        if kind == "bool" and op not in ("eq", "ne"):
            raise RuleError(f"{path}.op: bool attribute {name!r} takes eq, ne, in or exists; got {op!r}")
        return f"COALESCE({col} {_SQL_OP[op]} {self.param(self.value(value, kind, name, f'{path}.value'))}, FALSE)"

    def value(self, v: Any, kind: str, name: str, path: str) -> Any:
        ok = {
            "string": isinstance(v, str),
            "bool": isinstance(v, bool),
            "number": isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v),
            "timestamp": isinstance(v, str | datetime),
        }[kind]
        if not ok:
            raise RuleError(f"{path}: attribute {name!r} holds {kind} values; got {v!r:.80}")
        if kind == "timestamp":
            return parse_time(v, path)
        return float(v) if kind == "number" else v

    # -- behaviour and models --------------------------------------------------------------
    def event(self, rule: dict, path: str) -> str:
        self._keys(rule, path, {"event", "op", "value", "within_days"})
        etype = rule["event"]
        if not isinstance(etype, str) or not etype:
            raise RuleError(f"{path}.event: event type must be a non-empty string; got {etype!r:.80}")
        op = self._op(rule, path, EVENT_OPS)
        n = rule.get("value")
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise RuleError(f"{path}.value: event counts take a whole number >= 0; got {n!r:.80}")
        days = rule.get("within_days")
        if days is not None and (isinstance(days, bool) or not isinstance(days, int | float) or not 0 < days <= 36_500):
            raise RuleError(f"{path}.within_days: give a number of days > 0 (up to 36500); got {days!r:.80}")
        key = EventCount(etype, None if days is None else float(days))
        alias = self.out.events.setdefault(key, f"c{len(self.out.events)}")
        cmp = ">=" if op == "count_gte" else "<"
        return f"(COALESCE(ev.{alias}, 0) {cmp} {self.param(n)})"

    def model(self, rule: dict, path: str) -> str:
        self._keys(rule, path, {"model", "op", "value"})
        name = rule["model"]
        if not isinstance(name, str) or not _MODEL_NAME.match(name):
            raise RuleError(f"{path}.model: model name must be lower case letters, digits, _ (e.g. 'churn'); got {name!r:.80}")
        op = self._op(rule, path, MODEL_OPS)
        p = rule.get("value")
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p <= 1:
            raise RuleError(f"{path}.value: a model condition takes a probability between 0 and 1; got {p!r:.80}")
        alias = self.out.models.setdefault(name, f"m{len(self.out.models)}")
        return f"COALESCE({alias}.p {_SQL_OP[op]} {self.param(float(p))}, FALSE)"


def parse_time(v: str | datetime, path: str = "value") -> datetime:
    """An aware UTC datetime from ISO 8601 text or a datetime (naive means UTC)."""
    if isinstance(v, str):
        try:
            v = datetime.fromisoformat(v)
        except ValueError:
            raise RuleError(f"{path}: {v!r} is not an ISO 8601 time such as 2026-01-31T12:00:00Z") from None
    return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)


def compile_rule(rule: Any, schema: pa.Schema, now: datetime | None = None) -> CompiledRule:
    """Check ``rule`` against the endpoint ``schema`` and compile it to a parameterized WHERE."""
    c = _Compiler(schema, parse_time(now) if now is not None else datetime.now(UTC))
    c.out.where = c.node(rule, "rule", 0)
    if c.out.events:
        c.out.event_select = _event_select(c.out, c.now)
    return c.out


def validate(rule: Any, schema: pa.Schema) -> None:
    """Raise :class:`RuleError` naming the bad part of ``rule``; return quietly if it is fine."""
    compile_rule(rule, schema)


def _event_select(compiled: CompiledRule, now: datetime) -> str:
    """The SELECT list of per-user event counts the rule needs; their values go to the params."""
    params = compiled.params
    parts = []
    for key, alias in compiled.events.items():
        params[f"{alias}_type"] = key.event_type
        cond = f"event_type = ${alias}_type"
        if key.within_days is not None:
            params[f"{alias}_since"] = now - timedelta(days=key.within_days)
            cond += f" AND CAST(ts AS TIMESTAMPTZ) >= ${alias}_since"
        parts.append(f"count(*) FILTER (WHERE {cond}) AS {alias}")
    # only rows some count can use reach the GROUP BY
    params["ev_types"] = sorted({k.event_type for k in compiled.events})
    where = "event_type IN (SELECT unnest($ev_types))"
    days = [k.within_days for k in compiled.events]
    if days and None not in days:
        params["ev_since"] = now - timedelta(days=max(days))
        where += " AND CAST(ts AS TIMESTAMPTZ) >= $ev_since"
    compiled.event_where = where
    return ", ".join(parts)
