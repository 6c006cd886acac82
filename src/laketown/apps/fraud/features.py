"""Transaction features, defined once and computed two ways from the same definitions:

* offline, as one DuckDB SQL query over a lake table (window frames per entity), for training;
* online, per entity key in memory (:class:`OnlineFeatures`), for real-time scoring.

Windows are time ranges before the transaction: ``[t - days, t)`` for plain windows (the
transaction itself is then added to counts and means, as the Fraud Detection Handbook does),
and ``[t - delay - days, t - delay]`` for delayed ones, whose labels are known by then.
Transactions with the same timestamp never see each other, so both ways agree exactly.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from laketown.errors import LaketownError

Kind = Literal["nb_tx", "avg_amount", "amount_ratio", "amount_zscore", "risk", "nb_frauds"]
KINDS: tuple[str, ...] = ("nb_tx", "avg_amount", "amount_ratio", "amount_zscore", "risk", "nb_frauds")
DAY_US = 86_400_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class WindowFeature:
    """One aggregate of an entity's past transactions over ``days`` (ending ``delay_days`` ago).

    ``nb_tx`` count, ``avg_amount`` mean amount (both including the transaction itself when not
    delayed), ``amount_ratio`` amount / past mean, ``amount_zscore`` (amount - past mean) / past
    standard deviation, ``risk`` share of fraud and ``nb_frauds`` count of fraud (label needed)."""

    entity: tuple[str, ...]
    kind: str
    days: int
    delay_days: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise LaketownError(f"unknown feature kind {self.kind!r}; kinds: {', '.join(KINDS)}")
        if self.days < 1 or self.delay_days < 0:
            raise LaketownError(f"feature window must be >= 1 day with delay >= 0; got {self.days}, {self.delay_days}")

    @property
    def name(self) -> str:
        delay = f"_delay{self.delay_days}d" if self.delay_days else ""
        return f"{'_'.join(self.entity)}_{self.kind}_{self.days}d{delay}"

    @property
    def frame(self) -> tuple[tuple[str, ...], int, int]:
        return (self.entity, self.days, self.delay_days)

    @property
    def needs_label(self) -> bool:
        return self.kind in ("risk", "nb_frauds")


@dataclass(frozen=True)
class ColumnFeature:
    """The amount itself, or a calendar feature of the transaction time (``weekend``: Saturday
    or Sunday, ``night``: hour <= 6, ``hour``: 0-23), or a raw numeric column passed through."""

    kind: Literal["amount", "weekend", "night", "hour", "raw"]
    column: str = ""

    @property
    def name(self) -> str:
        return {"amount": "amount", "weekend": "tx_during_weekend", "night": "tx_during_night", "hour": "tx_hour"}.get(
            self.kind, self.column
        )


Feature = WindowFeature | ColumnFeature


def _aggregate(kind: str, n: float, s: float, ss: float, f: float, amount: float, delayed: bool) -> float:
    """The value of one window feature from the frame's count, sum, sum of squares and frauds."""
    if kind == "nb_tx":
        return float(n if delayed else n + 1)
    if kind == "avg_amount":
        return (s + amount) / (n + 1) if not delayed else (s / n if n else math.nan)
    if kind == "amount_ratio":
        return amount / (s / n) if n > 0 and s > 0 else math.nan
    if kind == "amount_zscore":
        if n < 2:
            return math.nan
        mean = s / n
        var = ss / n - mean * mean
        return (amount - mean) / math.sqrt(var) if var > 1e-6 else math.nan
    if kind == "risk":
        return f / n if n else 0.0
    return float(f)  # nb_frauds


_NEEDS: dict[str, tuple[str, ...]] = {
    "nb_tx": ("n",), "avg_amount": ("n", "s"), "amount_ratio": ("n", "s"),
    "amount_zscore": ("n", "s", "ss"), "risk": ("n", "f"), "nb_frauds": ("f",),
}


def _sql_aggregate(kind: str, w: str, amount: str, delayed: bool) -> str:
    """The SQL of one window feature over the frame aggregates ``{w}_n``, ``_s``, ``_ss``, ``_f``."""
    n, s, ss, f = f"{w}_n", f"{w}_s", f"{w}_ss", f"{w}_f"
    if kind == "nb_tx":
        return f"CAST({n} AS DOUBLE)" if delayed else f"CAST({n} + 1 AS DOUBLE)"
    if kind == "avg_amount":
        return f"({s} + {amount}) / ({n} + 1)" if not delayed else f"CASE WHEN {n} > 0 THEN {s} / {n} END"
    if kind == "amount_ratio":
        return f"CASE WHEN {n} > 0 AND {s} > 0 THEN {amount} / ({s} / {n}) END"
    if kind == "amount_zscore":
        var = f"({ss} / {n} - ({s} / {n}) * ({s} / {n}))"
        return f"CASE WHEN {n} >= 2 AND {var} > 1e-6 THEN ({amount} - {s} / {n}) / sqrt({var}) END"
    if kind == "risk":
        return f"CASE WHEN {n} > 0 THEN CAST({f} AS DOUBLE) / {n} ELSE 0.0::DOUBLE END"
    return f"CAST({f} AS DOUBLE)"


@dataclass(frozen=True)
class FeatureSet:
    """Feature definitions over a transactions table with an id, a timestamp, an amount and
    (for risk features) a 0/1 label column."""

    features: tuple[Feature, ...]
    id: str = "transaction_id"
    time: str = "tx_datetime"
    amount: str = "tx_amount"
    label: str = "tx_fraud"

    @cached_property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @cached_property
    def entities(self) -> list[tuple[str, ...]]:
        seen: dict[tuple[str, ...], None] = {}
        for f in self.features:
            if isinstance(f, WindowFeature):
                seen[f.entity] = None
        return list(seen)

    @property
    def horizon_days(self) -> int:
        """How far back the online state must remember transactions."""
        return max((f.days + f.delay_days for f in self.features if isinstance(f, WindowFeature)), default=0) + 1

    @property
    def input_columns(self) -> list[str]:
        """Columns a transaction must carry to compute these features."""
        cols = [self.time, self.amount] + [c for e in self.entities for c in e]
        cols += [f.column for f in self.features if isinstance(f, ColumnFeature) and f.kind == "raw"]
        return list(dict.fromkeys(cols))

    # -- offline ---------------------------------------------------------------------------
    def offline_sql(self, table: str, extra_columns: Sequence[str] = ("*",)) -> str:
        """One SELECT computing every feature over the lake table ``table``, ordered by time.

        Each distinct window frame is aggregated once (count, sum, sum of squares, frauds as
        needed) in an inner query; the features are arithmetic over those in the outer one."""
        frames: dict[tuple[tuple[str, ...], int, int], tuple[str, set[str]]] = {}
        exprs = []
        amount, label, time = _q(self.amount), _q(self.label), _q(self.time)
        for f in self.features:
            if isinstance(f, ColumnFeature):
                if not (f.kind == "raw" and tuple(extra_columns) == ("*",)):  # else already selected by *
                    exprs.append(f"{self._column_sql(f)} AS {_q(f.name)}")
                continue
            w, needs = frames.setdefault(f.frame, (f"w{len(frames)}", set()))
            needs.update(_NEEDS[f.kind])
            exprs.append(f"{_sql_aggregate(f.kind, w, amount, f.delay_days > 0)} AS {_q(f.name)}")
        aggs, defs = [], []
        for (entity, days, delay), (w, needs) in frames.items():
            part = ", ".join(_q(c) for c in entity)
            if delay:
                frame = f"RANGE BETWEEN INTERVAL {days + delay} DAY PRECEDING AND INTERVAL {delay} DAY PRECEDING"
            else:
                frame = f"RANGE BETWEEN INTERVAL {days} DAY PRECEDING AND INTERVAL 1 MICROSECOND PRECEDING"
            defs.append(f"{w} AS (PARTITION BY {part} ORDER BY {time} {frame})")
            sources = {"n": "count(*)", "s": f"sum({amount})", "ss": f"sum({amount} * {amount})", "f": f"sum({label})"}
            for agg in ("n", "s", "ss", "f"):
                if agg in needs:
                    fill = "" if agg == "n" else ", 0"
                    aggs.append(f"coalesce({sources[agg]} OVER {w}{fill}) AS {w}_{agg}" if fill else f"{sources[agg]} OVER {w} AS {w}_{agg}")
        names = [a.rsplit(" AS ", 1)[1] for a in aggs]
        head = ", ".join(extra_columns)
        if head == "*" and names:
            head = f"* EXCLUDE ({', '.join(names)})"
        inner = f"SELECT *{''.join(', ' + a for a in aggs)} FROM {table}"
        if defs:
            inner += f" WINDOW {', '.join(defs)}"
        return (
            f"SELECT {', '.join([head, *exprs])}\nFROM ({inner}) AS frames\n"
            f"ORDER BY {time}, {_q(self.id)}"
        )

    def _column_sql(self, f: ColumnFeature) -> str:
        t = _q(self.time)
        if f.kind == "amount":
            return f"CAST({_q(self.amount)} AS DOUBLE)"
        if f.kind == "weekend":
            return f"CASE WHEN dayofweek({t}) IN (0, 6) THEN 1.0::DOUBLE ELSE 0.0::DOUBLE END"
        if f.kind == "night":
            return f"CASE WHEN hour({t}) <= 6 THEN 1.0::DOUBLE ELSE 0.0::DOUBLE END"
        if f.kind == "hour":
            return f"CAST(hour({t}) AS DOUBLE)"
        return f"CAST({_q(f.column)} AS DOUBLE)"

    def compute_offline(self, ws: Any, table: str, extra_columns: Sequence[str] = ("*",)) -> pa.Table:
        """Features of every row of the lake table ``table`` with DuckDB (plus ``extra_columns``)."""
        return ws.sql(self.offline_sql(table, extra_columns), timeout_s=3600)

    def online(self) -> OnlineFeatures:
        """An empty in-memory state computing the same features transaction by transaction."""
        return OnlineFeatures(self)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def to_micros(value: Any) -> int:
    """A timestamp (datetime, ISO string, numpy datetime64 or epoch microseconds) as epoch µs UTC;
    naive datetimes are taken as UTC."""
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, np.datetime64):
        return int(value.astype("datetime64[us]").astype(np.int64))
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        delta = value - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    raise LaketownError(f"cannot read {value!r} as a timestamp; give an ISO 8601 string or a datetime")


@dataclass
class _History:
    """One key's transactions in time order, with prefix sums for O(log n) window aggregates."""

    ts: list[int] = field(default_factory=list)
    ids: list[Any] = field(default_factory=list)
    amount: list[float] = field(default_factory=list)
    label: list[int] = field(default_factory=list)
    cs: list[float] = field(default_factory=lambda: [0.0])
    css: list[float] = field(default_factory=lambda: [0.0])
    cf: list[int] = field(default_factory=lambda: [0])

    def add(self, ts: int, tx_id: Any, amount: float, label: int) -> None:
        if self.ts and ts < self.ts[-1]:  # late arrival: insert in order and rebuild the sums
            i = bisect.bisect_right(self.ts, ts)
            for lst, v in ((self.ts, ts), (self.ids, tx_id), (self.amount, amount), (self.label, label)):
                lst.insert(i, v)
            self._rebuild()
            return
        self.ts.append(ts)
        self.ids.append(tx_id)
        self.amount.append(amount)
        self.label.append(label)
        self.cs.append(self.cs[-1] + amount)
        self.css.append(self.css[-1] + amount * amount)
        self.cf.append(self.cf[-1] + label)

    def _rebuild(self) -> None:
        self.cs = [0.0, *np.cumsum(self.amount).tolist()] if self.amount else [0.0]
        self.css = [0.0, *np.cumsum(np.square(self.amount)).tolist()] if self.amount else [0.0]
        self.cf = [0, *np.cumsum(self.label).tolist()] if self.label else [0]

    def set_label(self, tx_id: Any, label: int) -> bool:
        try:
            i = self.ids.index(tx_id)
        except ValueError:
            return False
        self.label[i] = label
        self.cf = [0, *np.cumsum(self.label).tolist()]
        return True

    def prune(self, before: int) -> None:
        i = bisect.bisect_left(self.ts, before)
        if i:
            del self.ts[:i], self.ids[:i], self.amount[:i], self.label[:i]
            self._rebuild()

    def frame(self, lo: int, hi: int, closed_hi: bool) -> tuple[int, float, float, int]:
        a = bisect.bisect_left(self.ts, lo)
        b = bisect.bisect_right(self.ts, hi) if closed_hi else bisect.bisect_left(self.ts, hi)
        if b <= a:
            return 0, 0.0, 0.0, 0
        return b - a, self.cs[b] - self.cs[a], self.css[b] - self.css[a], self.cf[b] - self.cf[a]


class OnlineFeatures:
    """Per-key state of recent transactions; ``compute`` gives a transaction's features from the
    state, ``add`` records it (with its label when known), ``set_label`` records a late label."""

    def __init__(self, features: FeatureSet):
        self.fs = features
        self._state: dict[tuple[str, ...], dict[Any, _History]] = {e: {} for e in features.entities}
        self._lock = threading.Lock()
        self._latest = 0
        self._added = 0

    def _key(self, entity: tuple[str, ...], tx: dict[str, Any]) -> Any:
        # keys as text: 123 from the lake and "123" from a JSON client are one customer
        return str(tx[entity[0]]) if len(entity) == 1 else tuple(str(tx[c]) for c in entity)

    def compute(self, tx: dict[str, Any], features: FeatureSet | None = None) -> list[float]:
        """Feature values of one transaction (a dict with the feature set's input columns).

        ``features`` may be another feature set over the same entities (a newer model's)."""
        fs = features or self.fs
        ts = to_micros(tx[fs.time])
        amount = float(tx[fs.amount])
        out: list[float] = []
        with self._lock:
            for f in fs.features:
                if isinstance(f, ColumnFeature):
                    out.append(_column_value(f, ts, amount, tx))
                    continue
                keyed = self._state.get(f.entity)
                if keyed is None:
                    raise LaketownError(f"online state keeps no history per {f.entity!r}; it has {list(self._state)}")
                hist = keyed.get(self._key(f.entity, tx))
                if f.delay_days:
                    hi = ts - f.delay_days * DAY_US
                    n, s, ss, fr = hist.frame(hi - f.days * DAY_US, hi, True) if hist else (0, 0.0, 0.0, 0)
                else:
                    n, s, ss, fr = hist.frame(ts - f.days * DAY_US, ts, False) if hist else (0, 0.0, 0.0, 0)
                out.append(_aggregate(f.kind, n, s, ss, fr, amount, f.delay_days > 0))
        return out

    def add(self, tx: dict[str, Any], label: int | None = None) -> None:
        """Remember a transaction (``label`` 1 fraud, 0 genuine, None not known yet)."""
        fs = self.fs
        ts = to_micros(tx[fs.time])
        amount = float(tx[fs.amount])
        lab = int(label or 0)
        with self._lock:
            for entity, keyed in self._state.items():
                key = self._key(entity, tx)
                hist = keyed.get(key)
                if hist is None:
                    hist = keyed[key] = _History()
                hist.add(ts, tx.get(fs.id), amount, lab)
            self._latest = max(self._latest, ts)
            self._added += 1
            if self._added % 50_000 == 0:
                self._prune()

    def extend(self, rows: Iterable[dict[str, Any]]) -> int:
        """Add many transactions (with their labels, if the rows carry the label column)."""
        n = 0
        for row in rows:
            self.add(row, row.get(self.fs.label))
            n += 1
        return n

    def set_label(self, tx: dict[str, Any], label: int) -> bool:
        """Record the label of a transaction seen before (found by its id under its keys)."""
        found = False
        with self._lock:
            for entity, keyed in self._state.items():
                hist = keyed.get(self._key(entity, tx))
                if hist is not None:
                    found = hist.set_label(tx.get(self.fs.id), int(label)) or found
        return found

    def _prune(self) -> None:
        before = self._latest - self.fs.horizon_days * DAY_US
        for keyed in self._state.values():
            for key in [k for k, h in keyed.items() if h.ts and h.ts[-1] < before]:
                del keyed[key]
            for h in keyed.values():
                if h.ts and h.ts[0] < before:
                    h.prune(before)

    def keys(self) -> dict[str, int]:
        """How many keys each entity holds (for health pages)."""
        with self._lock:
            return {"_".join(e): len(k) for e, k in self._state.items()}


def _column_value(f: ColumnFeature, ts: int, amount: float, tx: dict[str, Any]) -> float:
    if f.kind == "amount":
        return amount
    if f.kind == "raw":
        v = tx.get(f.column)
        return math.nan if v is None else float(v)
    seconds = ts // 1_000_000
    hour = (seconds // 3600) % 24
    if f.kind == "hour":
        return float(hour)
    if f.kind == "night":
        return 1.0 if hour <= 6 else 0.0
    weekday = (seconds // 86_400 + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    return 1.0 if weekday >= 5 else 0.0


# -- the feature sets the app uses ------------------------------------------------------------
def handbook_features(customer: str = "customer_id", terminal: str = "terminal_id") -> tuple[Feature, ...]:
    """The Fraud Detection Handbook's 15 features (chapter 3.4)."""
    out: list[Feature] = [ColumnFeature("amount"), ColumnFeature("weekend"), ColumnFeature("night")]
    for d in (1, 7, 30):
        out += [WindowFeature((customer,), "nb_tx", d), WindowFeature((customer,), "avg_amount", d)]
    for d in (1, 7, 30):
        out += [WindowFeature((terminal,), "nb_tx", d, 7), WindowFeature((terminal,), "risk", d, 7)]
    return tuple(out)


def laketown_features(customer: str = "customer_id", terminal: str = "terminal_id") -> tuple[Feature, ...]:
    """The handbook's features plus the customer's spending-pattern deviation (amount against
    the past 7- and 30-day mean and spread), terminal risk over 3, 14 and 60 days and fraud
    counts over 7 and 14 days (all 7 days late), and the hour. Chosen on validation weeks
    before the handbook's test weeks."""
    out = list(handbook_features(customer, terminal)) + [ColumnFeature("hour")]
    for d in (7, 30):
        out += [WindowFeature((customer,), "amount_ratio", d), WindowFeature((customer,), "amount_zscore", d)]
    out += [WindowFeature((terminal,), "risk", d, 7) for d in (3, 14, 60)]
    out += [WindowFeature((terminal,), "nb_frauds", d, 7) for d in (7, 14)]
    return tuple(out)


def entity_features(entities: Sequence[tuple[str, ...]], days: Sequence[int] = (1, 7, 30), delay: int = 7) -> tuple[Feature, ...]:
    """Generic window features for any entity columns (users' data, IEEE-CIS)."""
    out: list[Feature] = [ColumnFeature("amount"), ColumnFeature("hour"), ColumnFeature("weekend")]
    for e in entities:
        for d in days:
            out += [WindowFeature(e, "nb_tx", d), WindowFeature(e, "avg_amount", d)]
        for d in days[1:]:
            out += [WindowFeature(e, "amount_ratio", d), WindowFeature(e, "amount_zscore", d)]
        out += [WindowFeature(e, "risk", days[-1], delay), WindowFeature(e, "nb_tx", days[-1], delay)]
    return tuple(out)
