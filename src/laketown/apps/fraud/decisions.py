"""Decisions in the style of Amazon Fraud Detector: versioned rule sets over transaction
variables and model scores, evaluated in order; the first rule that matches gives the outcome,
and the matched rule is stored with each decision.

Conditions are parsed by Python's ``ast`` module and walked with an allow-list (comparisons,
``and``/``or``/``not``, + - * /, numbers, strings, variable names); nothing is ever ``eval``-ed.

    fraud_probability > 0.9                  -> block
    anomaly_score > 0.8 and amount > 500     -> review
    (otherwise)                              -> approve
"""

from __future__ import annotations

import ast
import json
import operator
import re
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from laketown.errors import LaketownError

OUTCOMES = ("approve", "review", "block")
_COMPARE = {
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}
_ARITH = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_MAX_LENGTH = 1000


class RuleError(LaketownError, ValueError):
    """A rule expression or rule set is malformed."""


class Condition:
    """A parsed, checked boolean expression; call it with a dict of variables."""

    def __init__(self, text: str, variables: Iterable[str] | None = None):
        if not isinstance(text, str) or not text.strip():
            raise RuleError("a rule condition must be a non-empty string such as 'fraud_probability > 0.9'")
        if len(text) > _MAX_LENGTH:
            raise RuleError(f"rule condition is {len(text)} characters long; the limit is {_MAX_LENGTH}")
        self.text = text
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as exc:
            raise RuleError(f"cannot parse rule condition {text!r}: {exc.msg} at column {exc.offset}") from None
        self.names: set[str] = set()
        self._check(tree.body)
        known = set(variables) if variables is not None else None
        if known is not None and not self.names <= known:
            bad = min(self.names - known)
            raise RuleError(f"rule condition {text!r} uses unknown variable {bad!r}; variables: {', '.join(sorted(known))}")
        self._tree = tree.body

    def _check(self, node: ast.AST) -> None:
        if isinstance(node, ast.BoolOp) and isinstance(node.op, (ast.And, ast.Or)):
            for v in node.values:
                self._check(v)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
            self._check(node.operand)
        elif isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
            for v in (node.left, *node.comparators):
                self._check(v)
        elif isinstance(node, ast.BinOp) and type(node.op) in _ARITH:
            self._check(node.left)
            self._check(node.right)
        elif isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool)):
            pass
        elif isinstance(node, ast.Name):
            if node.id in ("true", "false", "True", "False"):
                return
            self.names.add(node.id)
        else:
            piece = ast.get_source_segment(self.text.strip(), node) or type(node).__name__
            raise RuleError(
                f"rule condition {self.text!r}: {piece!r} is not allowed; use comparisons (> >= < <= == !=), "
                "and/or/not, + - * /, numbers, 'strings' and variable names"
            )

    def __call__(self, variables: dict[str, Any]) -> bool:
        return bool(self._eval(self._tree, variables))

    def _eval(self, node: ast.AST, env: dict[str, Any]) -> Any:
        if isinstance(node, ast.BoolOp):
            if isinstance(node.op, ast.And):
                return all(self._eval(v, env) for v in node.values)
            return any(self._eval(v, env) for v in node.values)
        if isinstance(node, ast.UnaryOp):
            value = self._eval(node.operand, env)
            return (not value) if isinstance(node.op, ast.Not) else -value
        if isinstance(node, ast.Compare):
            left = self._eval(node.left, env)
            for op, comp in zip(node.ops, node.comparators):
                right = self._eval(comp, env)
                if left is None or right is None:
                    return False
                try:
                    if not _COMPARE[type(op)](left, right):
                        return False
                except TypeError:
                    raise RuleError(f"rule condition {self.text!r} compares {left!r} with {right!r}") from None
                left = right
            return True
        if isinstance(node, ast.BinOp):
            left, right = self._eval(node.left, env), self._eval(node.right, env)
            if left is None or right is None:
                return None
            try:
                return _ARITH[type(node.op)](left, right)
            except ZeroDivisionError:
                return None
        if isinstance(node, ast.Constant):
            return node.value
        assert isinstance(node, ast.Name)
        if node.id in ("true", "True"):
            return True
        if node.id in ("false", "False"):
            return False
        if node.id not in env:
            raise RuleError(f"rule condition {self.text!r} needs variable {node.id!r}; given: {', '.join(sorted(env))}")
        return env[node.id]


@dataclass
class Rule:
    """``name``: when ``condition`` holds, the decision is ``outcome``."""

    name: str
    condition: str
    outcome: str

    def compile(self, variables: Iterable[str] | None = None) -> Condition:
        if self.outcome not in OUTCOMES:
            raise RuleError(f"rule {self.name!r} has outcome {self.outcome!r}; outcomes: {', '.join(OUTCOMES)}")
        return Condition(self.condition, variables)


@dataclass
class Decision:
    outcome: str
    rule: str
    rule_set: str


@dataclass
class RuleSet:
    """Ordered rules and the default outcome when none matches; versions are numbered."""

    rules: list[Rule]
    default: str = "approve"
    name: str = "fraud"
    version: int = 0
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def __post_init__(self) -> None:
        if self.default not in OUTCOMES:
            raise RuleError(f"default outcome {self.default!r} is not one of {', '.join(OUTCOMES)}")
        names = [r.name for r in self.rules]
        if len(set(names)) != len(names):
            raise RuleError(f"rule names must be unique in a rule set; got {names}")
        self._compiled = [(r, r.compile()) for r in self.rules]

    @property
    def label(self) -> str:
        return f"{self.name}@v{self.version}"

    def decide(self, variables: dict[str, Any]) -> Decision:
        """The first matching rule's outcome, or the default (rule ``"default"``)."""
        for rule, cond in self._compiled:
            if cond(variables):
                return Decision(rule.outcome, rule.name, self.label)
        return Decision(self.default, "default", self.label)

    def check(self, variables: Iterable[str]) -> None:
        """Fail if a rule uses a variable that scoring does not provide."""
        for r in self.rules:
            r.compile(variables)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "created_at": self.created_at, "default": self.default,
                "rules": [asdict(r) for r in self.rules]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RuleSet:
        try:
            rules = [Rule(str(r["name"]), str(r["condition"]), str(r["outcome"])) for r in data["rules"]]
        except (KeyError, TypeError) as exc:
            raise RuleError(f"a rule set needs 'rules': a list of {{name, condition, outcome}} ({exc})") from None
        extra = {k: data[k] for k in ("default", "name", "version", "created_at") if k in data}
        return cls(rules, **extra)


DEFAULT_RULES = RuleSet(
    [
        Rule("high_fraud_probability", "fraud_probability > 0.9", "block"),
        Rule("unusual_large_amount", "anomaly_score > 0.8 and amount > 500", "review"),
        Rule("likely_fraud", "fraud_probability > 0.5", "review"),
    ],
    version=1,
)
_FILE = re.compile(r"^v(\d+)\.json$")


class RuleStore:
    """Rule-set versions as JSON files under ``<workspace>/fraud/rules/v<N>.json``; a new
    version never overwrites an old one, so every stored decision can be traced to its rules."""

    def __init__(self, ws: Any):
        self.dir = Path(ws.path) / "fraud" / "rules"
        self._lock = threading.Lock()

    def versions(self) -> list[int]:
        if not self.dir.is_dir():
            return []
        return sorted(int(m.group(1)) for p in self.dir.iterdir() if (m := _FILE.match(p.name)))

    def save(self, rules: RuleSet | dict[str, Any], variables: Iterable[str] | None = None) -> RuleSet:
        """Store ``rules`` as the next version and return it with its version number."""
        rs = rules if isinstance(rules, RuleSet) else RuleSet.from_dict(rules)
        if variables is not None:
            rs.check(variables)
        with self._lock:
            self.dir.mkdir(parents=True, exist_ok=True)
            version = max(self.versions(), default=0) + 1
            stored = RuleSet(rs.rules, rs.default, rs.name, version)
            (self.dir / f"v{version}.json").write_text(json.dumps(stored.to_dict(), indent=2))
        return stored

    def load(self, version: int | None = None) -> RuleSet:
        """A stored version (the latest when ``None``); the built-in rules when none is stored."""
        versions = self.versions()
        if not versions:
            if version not in (None, 0, 1):
                raise RuleError(f"no rule set version {version}; none stored yet")
            return DEFAULT_RULES
        version = versions[-1] if version is None else version
        if version not in versions:
            raise RuleError(f"no rule set version {version}; versions: {', '.join(map(str, versions))}")
        return RuleSet.from_dict(json.loads((self.dir / f"v{version}.json").read_text()))
