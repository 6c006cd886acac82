"""Window aggregations as mergeable partial state held in NumPy arrays.

Each aggregation turns a batch into one partial state per group (``partial``: vectorized with
``np.bincount`` / ``ufunc.at``, never a loop per event), merges two aligned states element-wise
(``merge``) and turns a state into the result column (``finish``). Window state is the merge of
the partials of every batch, so results do not depend on how records were split into batches.

Numeric inputs are read as float64; nulls (and NaN) are skipped, as SQL aggregates do, and an
aggregate over no value is null. ``stddev`` is the sample standard deviation, kept as
(count, mean, M2) and merged with Chan's parallel form of Welford's update.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from laketown.errors import ConfigError

State = list[np.ndarray]

_I64_MIN = np.iinfo(np.int64).min
_I64_MAX = np.iinfo(np.int64).max


class Columns:
    """The input columns of one batch's window assignments, converted once and shared by every
    aggregation (``rows`` repeats records that fall in several sliding windows)."""

    def __init__(self, table: pa.Table, rows: np.ndarray | None):
        self.table = table
        self.rows = rows
        self._numeric: dict[str, np.ndarray] = {}
        self._raw: dict[str, np.ndarray] = {}
        self._cache: dict[tuple, Any] = {}

    def _column(self, name: str) -> pa.ChunkedArray:
        if name not in self.table.column_names:
            raise ConfigError(
                f"aggregation input column {name!r} is not in the records; columns are: "
                f"{', '.join(self.table.column_names)}"
            )
        return self.table.column(name)

    def numeric(self, name: str) -> np.ndarray:
        """Column as float64 (null -> NaN), one entry per assignment."""
        if name not in self._numeric:
            col = self._column(name)
            if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_boolean(col.type)
                    or pa.types.is_decimal(col.type)):
                raise ConfigError(
                    f"aggregation input column {name!r} has type {col.type}, not a number; "
                    "use count/first/last/custom for it or convert it in a map step"
                )
            arr = pc.cast(col, pa.float64()).to_numpy()
            self._numeric[name] = arr if self.rows is None else arr[self.rows]
        return self._numeric[name]

    def valid(self, name: str, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Non-null values of the column and their groups (shared by the aggregations)."""
        key = ("valid", name, id(groups))
        if key not in self._cache:
            v = self.numeric(name)
            bad = np.isnan(v)
            self._cache[key] = (v[~bad], groups[~bad]) if bad.any() else (v, groups)
        return self._cache[key]

    def counts(self, name: str | None, groups: np.ndarray, n_groups: int) -> np.ndarray:
        """Non-null values (all rows for ``None``) per group (shared by the aggregations)."""
        key = ("counts", name, id(groups))
        if key not in self._cache:
            g = groups if name is None else self.valid(name, groups)[1]
            self._cache[key] = np.bincount(g, minlength=n_groups).astype(np.int64, copy=False)
        return self._cache[key]

    def raw(self, name: str) -> np.ndarray:
        """Column as a NumPy array of its own type (strings as objects), one entry per assignment."""
        if name not in self._raw:
            arr = self._column(name).to_numpy()
            self._raw[name] = arr if self.rows is None else arr[self.rows]
        return self._raw[name]


class Aggregation:
    """One aggregate over the records of a (key, window). Subclasses define the four steps."""

    #: names of the state arrays (for snapshots)
    state_names: tuple[str, ...] = ()

    def __init__(self, column: str | None = None):
        self.column = column

    def identity(self, n: int) -> State:
        """State of ``n`` empty groups."""
        raise NotImplementedError

    def partial(self, cols: Columns, times: np.ndarray, groups: np.ndarray, n_groups: int) -> State:
        """State of each of ``n_groups`` groups from the batch rows (``groups[i]`` = row i's group)."""
        raise NotImplementedError

    def merge(self, a: State, b: State) -> State:
        """Element-wise merge of two aligned states."""
        raise NotImplementedError

    def finish(self, state: State) -> pa.Array:
        """Result column of the given states."""
        raise NotImplementedError

    def _valid(self, cols: Columns, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        assert self.column is not None
        return cols.valid(self.column, groups)

    def describe(self) -> str:
        return f"{type(self).__name__.lower()}({self.column or ''})"


class Count(Aggregation):
    """Number of records (``column=None``) or of non-null values of ``column``."""

    state_names = ("n",)

    def identity(self, n: int) -> State:
        return [np.zeros(n, np.int64)]

    def partial(self, cols: Columns, times: np.ndarray, groups: np.ndarray, n_groups: int) -> State:
        if self.column is not None and pa.types.is_floating(cols._column(self.column).type):
            return [cols.counts(self.column, groups, n_groups)]  # null and NaN, as the other aggregates
        if self.column is None or not cols._column(self.column).null_count:
            return [cols.counts(None, groups, n_groups)]
        valid = pc.is_valid(cols._column(self.column)).to_numpy(zero_copy_only=False)
        if cols.rows is not None:
            valid = valid[cols.rows]
        return [np.bincount(groups[valid], minlength=n_groups).astype(np.int64, copy=False)]

    def merge(self, a: State, b: State) -> State:
        return [a[0] + b[0]]

    def finish(self, state: State) -> pa.Array:
        return pa.array(state[0], pa.int64())


class _CountSum(Aggregation):
    state_names = ("n", "sum")

    def identity(self, n: int) -> State:
        return [np.zeros(n, np.int64), np.zeros(n, np.float64)]

    def partial(self, cols: Columns, times: np.ndarray, groups: np.ndarray, n_groups: int) -> State:
        v, g = self._valid(cols, groups)
        return [cols.counts(self.column, groups, n_groups), np.bincount(g, v, n_groups)]

    def merge(self, a: State, b: State) -> State:
        return [a[0] + b[0], a[1] + b[1]]


class Sum(_CountSum):
    """Sum of the non-null values (float64); null when there are none."""

    def finish(self, state: State) -> pa.Array:
        return pa.array(state[1], pa.float64(), mask=state[0] == 0)


class Mean(_CountSum):
    """Arithmetic mean of the non-null values."""

    def finish(self, state: State) -> pa.Array:
        n = state[0]
        with np.errstate(invalid="ignore", divide="ignore"):
            return pa.array(state[1] / n, pa.float64(), mask=n == 0)


class _Extreme(Aggregation):
    state_names = ("n", "value")
    _fill: float = np.inf
    _ufunc: Any = np.minimum

    def identity(self, n: int) -> State:
        return [np.zeros(n, np.int64), np.full(n, self._fill)]

    def partial(self, cols: Columns, times: np.ndarray, groups: np.ndarray, n_groups: int) -> State:
        v, g = self._valid(cols, groups)
        out = np.full(n_groups, self._fill)
        self._ufunc.at(out, g, v)
        return [cols.counts(self.column, groups, n_groups), out]

    def merge(self, a: State, b: State) -> State:
        return [a[0] + b[0], self._ufunc(a[1], b[1])]

    def finish(self, state: State) -> pa.Array:
        return pa.array(state[1], pa.float64(), mask=state[0] == 0)


class Min(_Extreme):
    """Smallest non-null value."""

    _fill = np.inf
    _ufunc = np.minimum


class Max(_Extreme):
    """Largest non-null value."""

    _fill = -np.inf
    _ufunc = np.maximum


class StdDev(Aggregation):
    """Sample standard deviation (ddof=1) of the non-null values; null below two values."""

    state_names = ("n", "mean", "m2")

    def identity(self, n: int) -> State:
        return [np.zeros(n, np.int64), np.zeros(n), np.zeros(n)]

    def partial(self, cols: Columns, times: np.ndarray, groups: np.ndarray, n_groups: int) -> State:
        v, g = self._valid(cols, groups)
        n = cols.counts(self.column, groups, n_groups)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(n > 0, np.bincount(g, v, n_groups) / np.maximum(n, 1), 0.0)
        d = v - mean[g]
        return [n, mean, np.bincount(g, d * d, n_groups)]

    def merge(self, a: State, b: State) -> State:
        na, nb = a[0], b[0]
        n = na + nb
        nf = np.maximum(n, 1).astype(np.float64)
        delta = b[1] - a[1]
        mean = a[1] + delta * (nb / nf)
        m2 = a[2] + b[2] + delta * delta * (na * (nb / nf))
        return [n, mean, m2]

    def finish(self, state: State) -> pa.Array:
        n = state[0]
        with np.errstate(invalid="ignore", divide="ignore"):
            sd = np.sqrt(np.maximum(state[2], 0.0) / (n - 1))
        return pa.array(sd, pa.float64(), mask=n < 2)


class _ByTime(Aggregation):
    """Value at the earliest (first) or latest (last) event time; ties go to the record that
    arrived first (first) or last (last), so results follow the input order, never the batching."""

    state_names = ("time", "value")
    _latest = False

    def identity(self, n: int) -> State:
        return [np.full(n, _I64_MIN if self._latest else _I64_MAX, np.int64), np.full(n, np.nan, dtype=object)]

    def partial(self, cols: Columns, times: np.ndarray, groups: np.ndarray, n_groups: int) -> State:
        assert self.column is not None
        values = cols.raw(self.column)
        idx = np.arange(len(groups), dtype=np.int64)
        if self._latest:
            t = np.full(n_groups, _I64_MIN, np.int64)
            np.maximum.at(t, groups, times)
            hit = times == t[groups]
            pick = np.full(n_groups, -1, np.int64)
            np.maximum.at(pick, groups[hit], idx[hit])
        else:
            t = np.full(n_groups, _I64_MAX, np.int64)
            np.minimum.at(t, groups, times)
            hit = times == t[groups]
            pick = np.full(n_groups, _I64_MAX, np.int64)
            np.minimum.at(pick, groups[hit], idx[hit])
        return [t, values[pick].astype(object)]

    def merge(self, a: State, b: State) -> State:
        take_b = b[0] >= a[0] if self._latest else b[0] < a[0]
        return [np.where(take_b, b[0], a[0]), np.where(take_b, b[1], a[1])]

    def finish(self, state: State) -> pa.Array:
        empty = state[0] == (_I64_MIN if self._latest else _I64_MAX)
        values = list(state[1])
        for i in np.flatnonzero(empty):
            values[i] = None
        return pa.array(values)


class First(_ByTime):
    """Value of the record with the earliest event time."""

    _latest = False


class Last(_ByTime):
    """Value of the record with the latest event time."""

    _latest = True


class CustomFunction(Aggregation):
    """A user function over all the values of the (key, window), called once per result row.
    The values are kept until the window is purged, in the order the records arrived."""

    state_names = ("values",)

    def __init__(self, column: str, fn: Callable[[np.ndarray], Any], type: pa.DataType | None = None):
        super().__init__(column)
        self.fn = fn
        self.type = type

    def identity(self, n: int) -> State:
        out = np.empty(n, dtype=object)
        for i in range(n):
            out[i] = np.empty(0)
        return [out]

    def partial(self, cols: Columns, times: np.ndarray, groups: np.ndarray, n_groups: int) -> State:
        assert self.column is not None
        values = cols.raw(self.column)
        order = np.argsort(groups, kind="stable")
        counts = np.bincount(groups, minlength=n_groups)
        out = np.empty(n_groups, dtype=object)
        for i, part in enumerate(np.split(values[order], np.cumsum(counts)[:-1])):
            out[i] = part
        return [out]

    def merge(self, a: State, b: State) -> State:
        out = np.empty(len(a[0]), dtype=object)
        for i, (x, y) in enumerate(zip(a[0], b[0])):
            out[i] = y if len(x) == 0 else x if len(y) == 0 else np.concatenate([x, y])
        return [out]

    def finish(self, state: State) -> pa.Array:
        return pa.array([self.fn(v) for v in state[0]], self.type)

    def describe(self) -> str:
        return f"custom({self.column}, {getattr(self.fn, '__name__', 'fn')})"


class CustomMergeable(Aggregation):
    """A user aggregation given as mergeable vectorized steps:

    - ``init(n) -> tuple of arrays``: state of ``n`` empty groups;
    - ``update(state, groups, *columns)``: fold the rows into ``state`` in place
      (e.g. ``np.add.at(state[0], groups, values)``);
    - ``merge(a, b) -> tuple of arrays``: element-wise merge of two aligned states;
    - ``finish(state) -> array-like``: the result per group.
    """

    def __init__(
        self,
        columns: Sequence[str],
        init: Callable[[int], Sequence[np.ndarray]],
        update: Callable[..., None],
        merge: Callable[[Sequence[np.ndarray], Sequence[np.ndarray]], Sequence[np.ndarray]],
        finish: Callable[[Sequence[np.ndarray]], Any],
        type: pa.DataType | None = None,
    ):
        self.columns = [columns] if isinstance(columns, str) else list(columns)
        super().__init__(self.columns[0] if self.columns else None)
        self._init, self._update, self._merge, self._finish = init, update, merge, finish
        self.type = type
        self.state_names = tuple(f"s{i}" for i in range(len(init(0))))

    def identity(self, n: int) -> State:
        return [np.asarray(a) for a in self._init(n)]

    def partial(self, cols: Columns, times: np.ndarray, groups: np.ndarray, n_groups: int) -> State:
        state = self.identity(n_groups)
        self._update(state, groups, *[cols.raw(c) for c in self.columns])
        return state

    def merge(self, a: State, b: State) -> State:
        return [np.asarray(x) for x in self._merge(a, b)]

    def finish(self, state: State) -> pa.Array:
        out = self._finish(state)
        return out if isinstance(out, pa.Array) else pa.array(out, self.type)

    def describe(self) -> str:
        return f"custom({', '.join(self.columns)}, {getattr(self._update, '__name__', 'update')})"


def count(column: str | None = None) -> Count:
    """Number of records in the window, or of non-null ``column`` values."""
    return Count(column)


def sum(column: str) -> Sum:
    """Sum of ``column``."""
    return Sum(column)


def min(column: str) -> Min:
    """Minimum of ``column``."""
    return Min(column)


def max(column: str) -> Max:
    """Maximum of ``column``."""
    return Max(column)


def mean(column: str) -> Mean:
    """Mean of ``column``."""
    return Mean(column)


def stddev(column: str) -> StdDev:
    """Sample standard deviation of ``column``."""
    return StdDev(column)


def first(column: str) -> First:
    """``column`` of the earliest record by event time."""
    return First(column)


def last(column: str) -> Last:
    """``column`` of the latest record by event time."""
    return Last(column)


def custom(
    columns: str | Sequence[str],
    fn: Callable[[np.ndarray], Any] | None = None,
    *,
    init: Callable[[int], Sequence[np.ndarray]] | None = None,
    update: Callable[..., None] | None = None,
    merge: Callable[..., Sequence[np.ndarray]] | None = None,
    finish: Callable[..., Any] | None = None,
    type: pa.DataType | None = None,
) -> Aggregation:
    """A user aggregation: ``custom("temp", fn=np.median)`` calls ``fn`` on the values of each
    (key, window); ``custom(cols, init=, update=, merge=, finish=)`` is mergeable and vectorized."""
    steps = (init, update, merge, finish)
    if fn is not None:
        if builtins.any(s is not None for s in steps):
            raise ConfigError("custom(): give either fn or init/update/merge/finish, not both")
        if not isinstance(columns, str):
            raise ConfigError(f"custom(fn=...) takes one column, got {list(columns)!r}")
        return CustomFunction(columns, fn, type)
    if builtins.any(s is None for s in steps):
        missing = [n for n, s in zip(("init", "update", "merge", "finish"), steps) if s is None]
        raise ConfigError(f"custom(): mergeable aggregation is missing {', '.join(missing)}; or give fn=")
    return CustomMergeable(columns, init, update, merge, finish, type)  # type: ignore[arg-type]
