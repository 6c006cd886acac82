"""Amazon Personalize's filter expressions, parsed into a syntax tree and evaluated safely.

Grammar (keywords in any case)::

    filter     := expression ('|' expression)*
    expression := ('EXCLUDE' | 'INCLUDE') 'ItemID' 'WHERE' or
    or         := and ('OR' and)*
    and        := condition ('AND' condition)*
    condition  := '(' or ')' | field ['NOT'] 'IN' '(' value (',' value)* ')' | field op value
    field      := ('Items' | 'Interactions' | 'Users') '.' NAME
    op         := '=' | '!=' | '<' | '<=' | '>' | '>='
    value      := "string" | number | $PARAM

Semantics: ``Items.x`` tests the item's metadata (a value ``a|b`` is multi-valued and matches
if any part does); ``Interactions.x`` is true for items the user has an interaction with that
matches; ``Users.x`` tests the requesting user. The result keeps an item when it satisfies
every INCLUDE expression and no EXCLUDE expression. Nothing is ever passed to ``eval``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from laketown.errors import LaketownError

MAX_LENGTH = 4000
MAX_DEPTH = 32
DATASETS = ("items", "interactions", "users")
_OPS = ("=", "!=", "<", "<=", ">", ">=")
_KEYWORDS = {"EXCLUDE", "INCLUDE", "ITEMID", "WHERE", "AND", "OR", "NOT", "IN"}


class FilterError(LaketownError, ValueError):
    """A filter expression is invalid (with the position) or cannot be applied."""

    def __init__(self, message: str, position: int | None = None):
        self.position = position
        super().__init__(message if position is None else f"{message} at position {position}")


# -- syntax tree -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Literal:
    value: str | float


@dataclass(frozen=True)
class Param:
    name: str
    position: int


Value = Literal | Param


@dataclass(frozen=True)
class Field:
    dataset: str  # items | interactions | users
    name: str
    position: int


@dataclass(frozen=True)
class Compare:
    field: Field
    op: str
    value: Value


@dataclass(frozen=True)
class In:
    field: Field
    values: tuple[Value, ...]
    negated: bool = False


@dataclass(frozen=True)
class BoolOp:
    op: str  # and | or
    left: Node
    right: Node


Node = Compare | In | BoolOp


@dataclass(frozen=True)
class Expression:
    action: str  # include | exclude
    condition: Node


@dataclass(frozen=True)
class Filter:
    expressions: tuple[Expression, ...]
    text: str

    def uses(self, dataset: str) -> bool:
        """Whether any condition reads a field of ``dataset`` (items, interactions, users)."""
        def walk(node: Any) -> bool:
            if isinstance(node, BoolOp):
                return walk(node.left) or walk(node.right)
            return node.field.dataset == dataset

        return any(walk(e.condition) for e in self.expressions)

    def params(self) -> list[str]:
        """Names of the ``$PARAM`` placeholders, in order of appearance."""
        out: list[str] = []

        def walk(node: Any) -> None:
            if isinstance(node, BoolOp):
                walk(node.left)
                walk(node.right)
            else:
                for v in node.values if isinstance(node, In) else (node.value,):
                    if isinstance(v, Param) and v.name not in out:
                        out.append(v.name)

        for e in self.expressions:
            walk(e.condition)
        return out


# -- tokenizer -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Token:
    kind: str  # word, string, number, param, op, punct, end
    text: str
    value: Any
    position: int


_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def tokenize(text: str) -> list[Token]:
    """Tokens of a filter expression; any character outside the language is an error."""
    tokens, pos, n = [], 0, len(text)
    while pos < n:
        ch = text[pos]
        if ch.isspace():
            pos += 1
        elif ch == '"':
            end, buf = pos + 1, []
            while end < n and text[end] != '"':
                if text[end] == "\\" and end + 1 < n:
                    end += 1
                buf.append(text[end])
                end += 1
            if end >= n:
                raise FilterError("unterminated string (missing closing \")", pos)
            tokens.append(Token("string", text[pos:end + 1], "".join(buf), pos))
            pos = end + 1
        elif ch == "$":
            m = _WORD.match(text, pos + 1)
            if not m:
                raise FilterError("'$' must be followed by a parameter name like $GENRES", pos)
            tokens.append(Token("param", m.group(0), m.group(0), pos))
            pos = m.end()
        elif ch.isdigit() or (ch == "-" and pos + 1 < n and text[pos + 1].isdigit()):
            m = _NUMBER.match(text, pos)
            assert m is not None
            tokens.append(Token("number", m.group(0), float(m.group(0)), pos))
            pos = m.end()
        elif ch.isascii() and (ch.isalpha() or ch == "_"):
            m = _WORD.match(text, pos)
            assert m is not None
            tokens.append(Token("word", m.group(0), m.group(0).upper(), pos))
            pos = m.end()
        elif text.startswith(("!=", "<=", ">="), pos):
            tokens.append(Token("op", text[pos:pos + 2], text[pos:pos + 2], pos))
            pos += 2
        elif ch in "=<>":
            tokens.append(Token("op", ch, ch, pos))
            pos += 1
        elif ch in "(),.|":
            tokens.append(Token("punct", ch, ch, pos))
            pos += 1
        else:
            raise FilterError(f"unexpected character {ch!r}", pos)
    tokens.append(Token("end", "", None, n))
    return tokens


# -- parser ----------------------------------------------------------------------------------
class _Parser:
    def __init__(self, text: str):
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def _describe(self, t: Token) -> str:
        return "end of filter" if t.kind == "end" else repr(t.text)

    def expect_word(self, *words: str) -> Token:
        t = self.tok
        if t.kind != "word" or t.value not in words:
            raise FilterError(f"expected {' or '.join(words)}, found {self._describe(t)}", t.position)
        self.i += 1
        return t

    def expect_punct(self, ch: str) -> Token:
        t = self.tok
        if t.kind != "punct" or t.value != ch:
            raise FilterError(f"expected {ch!r}, found {self._describe(t)}", t.position)
        self.i += 1
        return t

    def parse(self, text: str) -> Filter:
        exprs = [self.expression()]
        while self.tok.kind == "punct" and self.tok.value == "|":
            self.i += 1
            exprs.append(self.expression())
        if self.tok.kind != "end":
            raise FilterError(f"expected '|' or end of filter, found {self._describe(self.tok)}", self.tok.position)
        return Filter(tuple(exprs), text)

    def expression(self) -> Expression:
        action = self.expect_word("EXCLUDE", "INCLUDE").value.lower()
        self.expect_word("ITEMID")
        self.expect_word("WHERE")
        return Expression(action, self.or_())

    def or_(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FilterError(f"conditions nested deeper than {MAX_DEPTH} levels", self.tok.position)
        node = self.and_()
        while self.tok.kind == "word" and self.tok.value == "OR":
            self.i += 1
            node = BoolOp("or", node, self.and_())
        self.depth -= 1
        return node

    def and_(self) -> Node:
        node = self.condition()
        while self.tok.kind == "word" and self.tok.value == "AND":
            self.i += 1
            node = BoolOp("and", node, self.condition())
        return node

    def condition(self) -> Node:
        if self.tok.kind == "punct" and self.tok.value == "(":
            self.i += 1
            node = self.or_()
            self.expect_punct(")")
            return node
        field = self.field()
        t = self.tok
        if t.kind == "op":
            self.i += 1
            return Compare(field, t.value, self.value())
        negated = False
        if t.kind == "word" and t.value == "NOT":
            negated = True
            self.i += 1
        self.expect_word("IN")
        self.expect_punct("(")
        values = [self.value()]
        while self.tok.kind == "punct" and self.tok.value == ",":
            self.i += 1
            values.append(self.value())
        self.expect_punct(")")
        return In(field, tuple(values), negated)

    def field(self) -> Field:
        t = self.tok
        if t.kind != "word" or t.value.lower() not in DATASETS:
            raise FilterError(
                f"expected a field like Items.GENRE or Interactions.EVENT_TYPE, found {self._describe(t)}", t.position
            )
        self.i += 1
        self.expect_punct(".")
        name = self.tok
        if name.kind != "word":
            raise FilterError(f"expected a field name after '{t.text}.', found {self._describe(name)}", name.position)
        self.i += 1
        return Field(t.value.lower(), name.text, t.position)

    def value(self) -> Value:
        t = self.tok
        self.i += 1
        if t.kind in ("string", "number"):
            return Literal(t.value)
        if t.kind == "param":
            return Param(t.value, t.position)
        raise FilterError(f"expected a \"string\", a number or a $PARAMETER, found {self._describe(t)}", t.position)


def parse(text: str) -> Filter:
    """Parse a filter expression; a :class:`FilterError` says what was expected and where."""
    if not isinstance(text, str):
        raise FilterError(f"a filter must be text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise FilterError(f"filter is {len(text)} characters long; the limit is {MAX_LENGTH}")
    if not text.strip():
        raise FilterError("filter is empty; write e.g. EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN (\"purchase\")", 0)
    return _Parser(text).parse(text)


def parse_values(raw: str | Mapping[str, Any] | None) -> dict[str, list[Any]]:
    """Parameter values from a request: a JSON object (``{"GENRES": ["Comedy", "Drama"]}``), whose
    string values may use Personalize's form ``"\\"Comedy\\",\\"Drama\\""``."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise FilterError(f"filter_values must be a JSON object like {{\"GENRES\": [\"Comedy\"]}} ({exc.msg})") from None
    if not isinstance(raw, Mapping):
        raise FilterError("filter_values must be a JSON object mapping parameter names to values")
    out: dict[str, list[Any]] = {}
    for name, value in raw.items():
        key = str(name).lstrip("$").upper()
        if isinstance(value, list):
            out[key] = [v for v in value if isinstance(v, (str, int, float)) and not isinstance(v, bool)]
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = [value]
        elif isinstance(value, str):
            out[key] = _personalize_list(value)
        else:
            raise FilterError(f"filter value for ${key} must be a string, number or list, got {type(value).__name__}")
    return out


def _personalize_list(text: str) -> list[Any]:
    if '"' not in text:
        return [text]
    try:
        toks = tokenize(text)
    except FilterError:
        return [text]
    vals = [t.value for t in toks if t.kind in ("string", "number")]
    return vals or [text]


# -- evaluation ------------------------------------------------------------------------------
@dataclass
class Context:
    """What a filter is evaluated against: the catalog (rows aligned to item indices), the
    user's interactions (``i``, event_type, value, timestamp...) and the user's metadata."""

    items: pd.DataFrame | None
    n_items: int
    user_events: pd.DataFrame
    user: Mapping[str, Any] | None = None
    #: prepared item columns, kept by the caller across requests for the same catalog
    cache: dict[str, Any] | None = None


def _column(frame_cols: list[str], name: str, dataset: str, pos: int) -> str:
    lookup = {c.lower(): c for c in frame_cols}
    col = lookup.get(name.lower())
    if col is None:
        raise FilterError(f"{dataset.title()} has no field {name!r}; fields: {', '.join(frame_cols) or 'none'}", pos)
    return col


class _Evaluator:
    def __init__(self, ctx: Context, values: Mapping[str, list[Any]]):
        self.ctx = ctx
        self.values = values

    def resolve(self, values: tuple[Value, ...]) -> list[Any]:
        out: list[Any] = []
        for v in values:
            if isinstance(v, Literal):
                out.append(v.value)
            elif v.name.upper() in self.values:
                out += list(self.values[v.name.upper()])
            else:
                raise FilterError(f"filter parameter ${v.name} has no value; pass filter_values={{\"{v.name}\": [...]}}",
                                  v.position)
        return out

    def node(self, node: Node) -> np.ndarray:
        if isinstance(node, BoolOp):
            left, right = self.node(node.left), self.node(node.right)
            return (left & right) if node.op == "and" else (left | right)
        field = node.field
        if isinstance(node, In):
            op, vals, negated = "in", self.resolve(node.values), node.negated
        else:
            op, vals, negated = node.op, self.resolve((node.value,)), False
        if field.dataset == "items":
            items = self.ctx.items
            if items is None:
                raise FilterError("this solution has no items dataset, so Items fields cannot be used", field.position)
            col = _column([c for c in items.columns if c != "dataset"], field.name, "items", field.position)
            cache = self.ctx.cache if self.ctx.cache is not None else {}
            if col not in cache:
                cache[col] = _prepare(items[col])
            hit = _test(items[col], op, vals, field, cache[col])
            return ~hit if negated else hit
        if field.dataset == "interactions":
            ev = self.ctx.user_events
            cols = [c for c in ev.columns if c not in ("u", "i", "user_id")]
            col = _column(cols, field.name, "interactions", field.position)
            hit = _test(ev[col], op, vals, field) if len(ev) else np.zeros(0, bool)
            if negated:
                hit = ~hit
            out = np.zeros(self.ctx.n_items, bool)
            out[ev["i"].to_numpy()[hit].astype(np.int64)] = True
            return out
        user = self.ctx.user or {}
        if not user:
            return np.zeros(self.ctx.n_items, bool)
        col = _column(list(user), field.name, "users", field.position)
        hit = bool(_test(pd.Series([user[col]]), op, vals, field)[0])
        return np.full(self.ctx.n_items, hit != negated)


def _prepare(col: pd.Series) -> dict[str, Any]:
    """An item column ready for fast tests: numbers as floats; text, and for multi-valued text
    (``a|b``) an index from each value to the mask of items holding it."""
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        return {"kind": "num"}
    text = col.astype(object).where(col.notna(), "").astype(str).to_numpy()
    index: dict[str, np.ndarray] | None = None
    if any("|" in t for t in text):
        index = {}
        for k, t in enumerate(text):
            for part in t.split("|"):
                index.setdefault(part, np.zeros(len(text), bool))[k] = True
    return {"kind": "text", "text": text, "index": index}


def _test(col: pd.Series, op: str, vals: list[Any], field: Field, prepared: dict[str, Any] | None = None) -> np.ndarray:
    if prepared is not None and prepared["kind"] == "text" and op not in ("<", "<=", ">", ">="):
        index = prepared["index"]
        if index is None:
            hit = np.isin(prepared["text"], [str(v) for v in vals])
        else:
            hit = np.zeros(len(prepared["text"]), bool)
            for v in {str(v) for v in vals}:
                if v in index:
                    hit |= index[v]
        return ~hit if op == "!=" else hit
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        try:
            nums = [float(v) for v in vals]
        except (TypeError, ValueError):
            raise FilterError(
                f"{field.dataset.title()}.{field.name} is numeric; compare it with numbers, got {vals[:3]!r}",
                field.position) from None
        x = col.to_numpy(dtype=np.float64, na_value=np.nan)
        if op == "in":
            return np.isin(x, nums)
        v = nums[0]
        return {"=": x == v, "!=": x != v, "<": x < v, "<=": x <= v, ">": x > v, ">=": x >= v}[op]
    strs = {str(v) for v in vals}
    if op in ("<", "<=", ">", ">="):
        raise FilterError(f"{field.dataset.title()}.{field.name} holds text; use =, != or IN with it", field.position)
    text = col.astype(object).where(col.notna(), "").astype(str).to_numpy()
    if any("|" in t for t in text):
        hit = np.fromiter((not strs.isdisjoint(t.split("|")) for t in text), bool, len(text))
    else:
        hit = np.isin(text, list(strs))
    return ~hit if op == "!=" else hit


def apply(flt: Filter, ctx: Context, values: Mapping[str, list[Any]] | None = None) -> np.ndarray:
    """Boolean mask over item indices: True where the item may be recommended."""
    ev = _Evaluator(ctx, {k.upper(): v for k, v in (values or {}).items()})
    keep = np.ones(ctx.n_items, bool)
    for e in flt.expressions:
        hit = ev.node(e.condition)
        keep &= hit if e.action == "include" else ~hit
    return keep
