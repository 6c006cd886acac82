"""Rules (IoT Core rules engine): a topic filter plus a subset of IoT SQL, evaluated on Arrow.

    SELECT device_id, temp, pressure * 2 AS p2 FROM 'devices/+/telemetry' WHERE temp > 50 AND NOT stuck

The statement is tokenized and parsed by hand (recursive descent) into a small tree of
:class:`Node` objects; nothing is ever passed to ``eval``. Evaluation works on a whole batch
(a ``pyarrow.Table`` of records plus a ``topic`` column) with ``pyarrow.compute``.

Grammar (case-insensitive keywords)::

    statement  := SELECT items FROM 'filter' [WHERE expr]
    items      := '*' | item (',' item)*          item := expr [AS name]
    expr       := and (OR and)*                   and  := not (AND not)*
    not        := NOT not | cmp                   cmp  := sum [(=|<>|!=|<|<=|>|>=) sum | IS [NOT] NULL]
    sum        := prod ((+|-) prod)*              prod := unary ((*|/|%) unary)*
    unary      := '-' unary | atom
    atom       := number | 'string' | TRUE | FALSE | NULL | name('.' name)* | func '(' [expr (',' expr)*] ')' | '(' expr ')'

Functions: ``topic(n)`` (n-th level of the topic, from 1), ``abs``, ``round``, ``lower``, ``upper``,
``coalesce``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from laketown.errors import LaketownError


class RuleSyntaxError(LaketownError, ValueError):
    """A rule statement that does not parse; the message shows where."""

    def __init__(self, message: str, sql: str, pos: int):
        self.pos = pos
        super().__init__(f"{message} at position {pos + 1}:\n  {sql}\n  {' ' * pos}^")


_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>\d+\.\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|\d+(?:[eE][-+]?\d+)?)
  | (?P<str>'(?:[^']|'')*')
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><>|!=|<=|>=|[=<>+\-*/%(),.])
""", re.VERBOSE)
KEYWORDS = {"SELECT", "FROM", "WHERE", "AS", "AND", "OR", "NOT", "IS", "NULL", "TRUE", "FALSE"}
FUNCTIONS = {"topic": (1, 1), "abs": (1, 1), "round": (1, 2), "lower": (1, 1), "upper": (1, 1),
             "coalesce": (1, 16)}


@dataclass(frozen=True)
class Token:
    kind: str  # num, str, name, kw, op, end
    text: str
    pos: int


def tokenize(sql: str) -> list[Token]:
    out, pos = [], 0
    while pos < len(sql):
        m = _TOKEN.match(sql, pos)
        if not m:
            if sql[pos] == "'":
                raise RuleSyntaxError("unterminated string", sql, pos)
            raise RuleSyntaxError(f"unexpected character {sql[pos]!r}", sql, pos)
        kind = m.lastgroup
        if kind != "ws":
            text = m.group()
            if kind == "name" and text.upper() in KEYWORDS:
                out.append(Token("kw", text.upper(), pos))
            else:
                out.append(Token(kind, text, pos))
        pos = m.end()
    out.append(Token("end", "", len(sql)))
    return out


# -- the tree -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Node:
    def columns(self) -> set[str]:
        return set()


@dataclass(frozen=True)
class Literal(Node):
    value: Any


@dataclass(frozen=True)
class Field(Node):
    path: tuple[str, ...]

    def columns(self) -> set[str]:
        return {self.path[0]}


@dataclass(frozen=True)
class Call(Node):
    name: str
    args: tuple[Node, ...]

    def columns(self) -> set[str]:
        return set().union(*(a.columns() for a in self.args)) if self.args else set()


@dataclass(frozen=True)
class Unary(Node):
    op: str  # '-', 'NOT', 'IS NULL', 'IS NOT NULL'
    arg: Node

    def columns(self) -> set[str]:
        return self.arg.columns()


@dataclass(frozen=True)
class Binary(Node):
    op: str
    left: Node
    right: Node

    def columns(self) -> set[str]:
        return self.left.columns() | self.right.columns()


@dataclass(frozen=True)
class Statement:
    items: tuple[tuple[Node, str], ...] | None  # None: SELECT *
    topic_filter: str
    where: Node | None
    sql: str = field(compare=False, default="")


class _Parser:
    def __init__(self, sql: str):
        self.sql = sql
        self.tokens = tokenize(sql)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def fail(self, what: str) -> RuleSyntaxError:
        t = self.tok
        got = "end of statement" if t.kind == "end" else repr(t.text)
        return RuleSyntaxError(f"expected {what}, got {got}", self.sql, t.pos)

    def accept(self, kind: str, text: str | None = None) -> Token | None:
        t = self.tok
        if t.kind == kind and (text is None or t.text == text):
            self.i += 1
            return t
        return None

    def expect(self, kind: str, text: str | None = None, what: str | None = None) -> Token:
        t = self.accept(kind, text)
        if t is None:
            raise self.fail(what or text or kind)
        return t

    def statement(self) -> Statement:
        self.expect("kw", "SELECT")
        items: list[tuple[Node, str]] | None = []
        if self.accept("op", "*"):
            items = None
        else:
            while True:
                start = self.tok.pos
                expr = self.expr()
                if self.accept("kw", "AS"):
                    alias = self.expect("name", what="a column name after AS").text
                elif isinstance(expr, Field):
                    alias = expr.path[-1]
                else:
                    raise RuleSyntaxError("an expression in SELECT needs a name: add AS <name>", self.sql, start)
                items.append((expr, alias))
                if not self.accept("op", ","):
                    break
        self.expect("kw", "FROM", what="FROM")
        t = self.expect("str", what="a quoted topic filter, e.g. 'devices/+/telemetry'")
        topic_filter = t.text[1:-1].replace("''", "'")
        _check_filter(topic_filter, self.sql, t.pos)
        where = None
        if self.accept("kw", "WHERE"):
            where = self.expr()
        if self.tok.kind != "end":
            raise self.fail("end of statement")
        return Statement(None if items is None else tuple(items), topic_filter, where, self.sql)

    def expr(self) -> Node:
        node = self.conj()
        while self.accept("kw", "OR"):
            node = Binary("OR", node, self.conj())
        return node

    def conj(self) -> Node:
        node = self.neg()
        while self.accept("kw", "AND"):
            node = Binary("AND", node, self.neg())
        return node

    def neg(self) -> Node:
        if self.accept("kw", "NOT"):
            return Unary("NOT", self.neg())
        return self.cmp()

    def cmp(self) -> Node:
        node = self.sum()
        t = self.tok
        if t.kind == "op" and t.text in ("=", "<>", "!=", "<", "<=", ">", ">="):
            self.i += 1
            return Binary("<>" if t.text == "!=" else t.text, node, self.sum())
        if self.accept("kw", "IS"):
            negate = self.accept("kw", "NOT") is not None
            self.expect("kw", "NULL", what="NULL after IS")
            return Unary("IS NOT NULL" if negate else "IS NULL", node)
        return node

    def sum(self) -> Node:
        node = self.prod()
        while self.tok.kind == "op" and self.tok.text in "+-":
            op = self.tok.text
            self.i += 1
            node = Binary(op, node, self.prod())
        return node

    def prod(self) -> Node:
        node = self.unary()
        while self.tok.kind == "op" and self.tok.text in ("*", "/", "%"):
            op = self.tok.text
            self.i += 1
            node = Binary(op, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.accept("op", "-"):
            return Unary("-", self.unary())
        return self.atom()

    def atom(self) -> Node:
        t = self.tok
        if self.accept("num"):
            return Literal(float(t.text) if any(c in t.text for c in ".eE") else int(t.text))
        if self.accept("str"):
            return Literal(t.text[1:-1].replace("''", "'"))
        if t.kind == "kw" and t.text in ("TRUE", "FALSE", "NULL"):
            self.i += 1
            return Literal({"TRUE": True, "FALSE": False, "NULL": None}[t.text])
        if self.accept("op", "("):
            node = self.expr()
            self.expect("op", ")", what="')'")
            return node
        if self.accept("name"):
            if self.accept("op", "("):
                return self.call(t)
            path = [t.text]
            while self.accept("op", "."):
                path.append(self.expect("name", what="a field name after '.'").text)
            return Field(tuple(path))
        raise self.fail("a value, a field name or '('")

    def call(self, name: Token) -> Node:
        fn = name.text.lower()
        if fn not in FUNCTIONS:
            raise RuleSyntaxError(f"unknown function {name.text!r}; functions: {', '.join(sorted(FUNCTIONS))}",
                                  self.sql, name.pos)
        args: list[Node] = []
        if not self.accept("op", ")"):
            while True:
                args.append(self.expr())
                if self.accept("op", ")"):
                    break
                self.expect("op", ",", what="',' or ')'")
        lo, hi = FUNCTIONS[fn]
        if not lo <= len(args) <= hi:
            raise RuleSyntaxError(f"{fn}() takes {lo}" + (f" to {hi}" if hi != lo else "") +
                                  f" argument(s), got {len(args)}", self.sql, name.pos)
        if fn == "topic" and not (isinstance(args[0], Literal) and isinstance(args[0].value, int)):
            raise RuleSyntaxError("topic() takes a whole number, e.g. topic(2)", self.sql, name.pos)
        return Call(fn, tuple(args))


def parse(sql: str) -> Statement:
    """Parse an IoT SQL statement; raises :class:`RuleSyntaxError` with the position."""
    if not isinstance(sql, str) or not sql.strip():
        raise RuleSyntaxError("empty rule statement; write SELECT ... FROM 'topic/filter'", str(sql or ""), 0)
    return _Parser(sql).statement()


def parse_expression(text: str) -> Node:
    """Parse a lone expression (asset transforms use the same language)."""
    p = _Parser(text)
    node = p.expr()
    if p.tok.kind != "end":
        raise p.fail("end of expression")
    return node


def _check_filter(f: str, sql: str, pos: int) -> None:
    levels = f.split("/")
    for i, level in enumerate(levels):
        if ("#" in level and (level != "#" or i != len(levels) - 1)) or ("+" in level and level != "+"):
            raise RuleSyntaxError(f"topic filter {f!r} is not valid: '+' must be a whole level and '#' the last one",
                                  sql, pos)
    if not f:
        raise RuleSyntaxError("empty topic filter", sql, pos)


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT topic filter matching (``+`` one level, ``#`` the rest)."""
    fl, tl = topic_filter.split("/"), topic.split("/")
    for i, f in enumerate(fl):
        if f == "#":
            return True
        if i >= len(tl) or (f != "+" and f != tl[i]):
            return False
    return len(fl) == len(tl)


# -- evaluation -----------------------------------------------------------------------------------

_ARITH = {"+": "add", "-": "subtract", "*": "multiply", "%": None, "/": "divide"}
_CMP = {"=": "equal", "<>": "not_equal", "<": "less", "<=": "less_equal", ">": "greater", ">=": "greater_equal"}


def evaluate(node: Node, table: pa.Table) -> Any:
    """The value of ``node`` for every row of ``table`` (an Arrow array or a scalar). A field the
    batch does not have is NULL, as in IoT SQL; comparing with NULL gives NULL (not true)."""
    n = table.num_rows
    if isinstance(node, Literal):
        return pa.scalar(node.value)
    if isinstance(node, Field):
        if node.path[0] not in table.column_names:
            return pa.nulls(n)
        value = table.column(node.path[0])
        for name in node.path[1:]:
            if not pa.types.is_struct(value.type) or value.type.get_field_index(name) < 0:
                return pa.nulls(n)
            value = pc.struct_field(value, name)
        return value
    if isinstance(node, Unary):
        arg = evaluate(node.arg, table)
        if node.op == "-":
            return pc.negate(arg)
        if node.op == "NOT":
            return pc.invert(_bool(arg))
        return pc.is_null(arg) if node.op == "IS NULL" else pc.is_valid(arg)
    if isinstance(node, Binary):
        left, right = evaluate(node.left, table), evaluate(node.right, table)
        if node.op == "AND":
            return pc.and_kleene(_bool(left), _bool(right))
        if node.op == "OR":
            return pc.or_kleene(_bool(left), _bool(right))
        if node.op in _CMP:
            return getattr(pc, _CMP[node.op])(left, right)
        left, right = _numeric(left), _numeric(right)
        if node.op == "/":
            return pc.divide(pc.cast(left, pa.float64()), pc.cast(right, pa.float64()))
        if node.op == "%":
            return pc.subtract(left, pc.multiply(pc.floor(pc.divide(pc.cast(left, pa.float64()), right)), right))
        return getattr(pc, _ARITH[node.op])(left, right)
    if isinstance(node, Call):
        args = [evaluate(a, table) for a in node.args]
        if node.name == "topic":
            if "topic" not in table.column_names:
                return pa.nulls(n, pa.string())
            parts = pc.split_pattern(table.column("topic"), "/")
            level = node.args[0].value - 1
            return pc.list_element(parts, level) if level >= 0 else pa.nulls(n, pa.string())
        if node.name == "round":
            return pc.round(args[0], int(args[1].as_py()) if len(args) > 1 else 0)
        if node.name == "coalesce":
            return pc.coalesce(*args)
        return getattr(pc, {"abs": "abs", "lower": "utf8_lower", "upper": "utf8_upper"}[node.name])(args[0])
    raise TypeError(f"not a rule node: {node!r}")


def _bool(value: Any) -> Any:
    if isinstance(value, pa.Scalar):
        return pa.scalar(None if not value.is_valid else bool(value.as_py()), pa.bool_())
    return value if pa.types.is_boolean(value.type) else pc.cast(value, pa.bool_())


def _numeric(value: Any) -> Any:
    if isinstance(value, (pa.Array, pa.ChunkedArray)) and pa.types.is_null(value.type):
        return pc.cast(value, pa.float64())
    return value


@dataclass
class Rule:
    """A named rule: a statement and the stream its output goes to."""

    name: str
    sql: str
    stream: str
    statement: Statement = field(init=False)

    def __post_init__(self) -> None:
        self.statement = parse(self.sql)

    @property
    def topic_filter(self) -> str:
        return self.statement.topic_filter

    def apply(self, records: pa.Table) -> pa.Table:
        """The rule's output rows for ``records`` (which has a ``topic`` column)."""
        st = self.statement
        topics = records.column("topic").to_pylist() if records.num_rows else []
        cache: dict[str, bool] = {}
        mask = [cache.setdefault(t, topic_matches(st.topic_filter, t)) for t in topics]
        rows = records.filter(pa.array(mask, pa.bool_())) if records.num_rows else records
        if st.where is not None and rows.num_rows:
            keep = _bool(evaluate(st.where, rows))
            if isinstance(keep, pa.Scalar):
                keep = pa.array([bool(keep.as_py())] * rows.num_rows)
            rows = rows.filter(pc.fill_null(keep, False))
        if st.items is None:
            return rows
        cols = {}
        for expr, alias in st.items:
            value = evaluate(expr, rows)
            if isinstance(value, pa.Scalar):
                value = pa.array([value.as_py()] * rows.num_rows, value.type)
            cols[alias] = value
        return pa.table(cols) if cols else rows.select([])
