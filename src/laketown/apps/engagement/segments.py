"""Segments: dynamic (rules over attributes, behaviour and model scores), imported (a fixed list
of users) and model-based (a rule on a model's scores), with their members and sizes over time.

Rules (see :mod:`segments_rules`) compile to one DuckDB query over Arrow tables: endpoints,
per-user event counts and the latest scores. Saved segments live in the lake, so SQL, campaigns
and the console read them like any other table:

- ``clean.engagement_segments``: name, kind, rule (JSON), updated_at
- ``curated.engagement_segment_members``: segment, user_id, since
- ``curated.engagement_segment_sizes``: segment, at, size, added, removed, trigger

:meth:`SegmentEngine.apply_events` re-checks only the users the new events touched and writes
the difference. A "within the last D days" condition can also turn false with no event at all,
so :meth:`SegmentEngine.refresh` (a full evaluation) should run now and then, e.g. nightly.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from laketown.apps.engagement.segments_history import EventHistory
from laketown.apps.engagement.segments_rules import RuleError, compile_rule, parse_time
from laketown.errors import LaketownError

ENDPOINTS_TABLE = "clean.engagement_endpoints"
EVENTS_TABLE = "raw.engagement_events"
SEGMENTS_TABLE = "clean.engagement_segments"
MEMBERS_TABLE = "curated.engagement_segment_members"
SIZES_TABLE = "curated.engagement_segment_sizes"
KINDS = ("dynamic", "imported", "model")

SEGMENTS_SCHEMA = pa.schema([("name", pa.string()), ("kind", pa.string()), ("rule", pa.string()),
                             ("updated_at", pa.timestamp("us", tz="UTC"))])
MEMBERS_SCHEMA = pa.schema([("segment", pa.string()), ("user_id", pa.string()), ("since", pa.timestamp("us", tz="UTC"))])
SIZES_SCHEMA = pa.schema([("segment", pa.string()), ("at", pa.timestamp("us", tz="UTC")), ("size", pa.int64()),
                          ("added", pa.int64()), ("removed", pa.int64()), ("trigger", pa.string())])
EMPTY_EVENTS = pa.schema([("event_id", pa.string()), ("user_id", pa.string()), ("event_type", pa.string()),
                          ("ts", pa.timestamp("us", tz="UTC"))])


def scores_table(model: str) -> str:
    """The lake table holding a model's scores: ``curated.engagement_<model>_scores``."""
    return f"curated.engagement_{model}_scores"


def _connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that sees only the Arrow tables registered in it."""
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET python_enable_replacements = false")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def _user_ids(users: Any) -> pa.Array:
    if isinstance(users, pa.Table):
        if "user_id" not in users.column_names:
            raise LaketownError(f"a member table needs a user_id column; columns: {', '.join(users.column_names)}")
        users = users["user_id"]
    if isinstance(users, pa.ChunkedArray):
        users = users.combine_chunks()
    elif not isinstance(users, pa.Array):
        users = pa.array([None if u is None else str(u) for u in users], pa.string())
    return pc.unique(users.cast(pa.string()).drop_null())


def _now(now: Any) -> datetime:
    return parse_time(now) if now is not None else datetime.now(UTC)


class SegmentEngine:
    """Evaluate, save and keep up to date the segments of one workspace.

    ``endpoints`` is where saved segments read the endpoints when a call passes none: an Arrow
    table, a function returning one, or (default) the lake table ``clean.engagement_endpoints``.
    Keep one engine for a stream of :meth:`apply_events` calls: it holds the event history in
    memory (re-read from the lake every ``history_ttl_s`` seconds).
    """

    def __init__(self, ws: Any, endpoints: pa.Table | Callable[[], pa.Table] | None = None,
                 history_ttl_s: float = 300.0):
        self.ws = ws
        self._endpoints = endpoints
        self._history = EventHistory(ws, history_ttl_s)

    # -- evaluation ------------------------------------------------------------------------
    def evaluate(
        self,
        rule: dict[str, Any],
        endpoints: pa.Table | None = None,
        events: pa.Table | None = None,
        scores: pa.Table | dict[str, pa.Table] | None = None,
        now: datetime | str | None = None,
        users: Iterable[str] | pa.Array | None = None,
    ) -> pa.Table:
        """The endpoints matching ``rule`` as a one-column table ``user_id``.

        ``events`` (user_id, event_type, ts) defaults to ``raw.engagement_events``; ``scores``
        (user_id, ``<model>_probability``, optionally scored_at: the latest score counts) to
        ``curated.engagement_<model>_scores``. ``now`` anchors "within D days" (default: now).
        ``users`` limits the check to those user ids."""
        users = _user_ids(users) if users is not None else None
        endpoints = self._endpoint_table(endpoints, users)
        if "user_id" not in endpoints.column_names:
            raise LaketownError(f"endpoints need a user_id column; columns: {', '.join(endpoints.column_names)}")
        compiled = compile_rule(rule, endpoints.schema, _now(now))
        if users is not None:
            endpoints = endpoints.filter(pc.is_in(endpoints["user_id"], value_set=users))
        con = _connect()
        try:
            con.register("e", endpoints)
            ctes, joins = [], []
            if compiled.needs_events:
                ev = self._events(events, compiled, users)
                con.register("ev_src", ev)
                ctes.append(f"ev AS (SELECT user_id, {compiled.event_select} FROM ev_src "
                            f"WHERE {compiled.event_where} GROUP BY user_id)")
                joins.append("LEFT JOIN ev ON ev.user_id = e.user_id")
            for model, alias in compiled.models.items():
                con.register(f"sc_{alias}", self._scores(scores, model))
                ctes.append(f'{alias} AS (SELECT user_id, arg_max("{model}_probability", scored_at) AS p '
                            f"FROM sc_{alias} GROUP BY user_id)")
                joins.append(f"LEFT JOIN {alias} ON {alias}.user_id = e.user_id")
            sql = (f"WITH {', '.join(ctes)} " if ctes else "") + \
                f"SELECT e.user_id FROM e {' '.join(joins)} WHERE {compiled.where}"
            return con.execute(sql, compiled.params).to_arrow_table()
        except duckdb.Error as exc:
            raise LaketownError(f"segment rule could not be evaluated: {exc}") from None
        finally:
            con.close()

    def _endpoint_table(self, endpoints: pa.Table | None, users: Any = None) -> pa.Table:
        if endpoints is not None:
            return endpoints
        source = self._endpoints
        if isinstance(source, pa.Table):
            return source
        if callable(source):
            return source()
        if not self.ws.lake.exists(ENDPOINTS_TABLE):
            raise LaketownError(f"no endpoints: {ENDPOINTS_TABLE} does not exist yet; import endpoints or pass endpoints=")
        table = self.ws.table(ENDPOINTS_TABLE)
        if users is None:
            return table.scan()
        from pyiceberg.expressions import In

        return table.scan(filter=In("user_id", set(_user_ids(users).to_pylist())))

    def _events(self, events: pa.Table | None, compiled: Any, users: Any) -> pa.Table:
        if events is None:
            if not self.ws.lake.exists(EVENTS_TABLE):
                return EMPTY_EVENTS.empty_table()
            table = self.ws.table(EVENTS_TABLE)
            types = sorted({k.event_type for k in compiled.events})
            from pyiceberg.expressions import And, In

            expr = In("event_type", set(types))
            if users is not None:
                expr = And(expr, In("user_id", set(_user_ids(users).to_pylist())))
            return table.scan(filter=expr, columns=["user_id", "event_type", "ts"])
        missing = {"user_id", "event_type", "ts"} - set(events.column_names)
        if missing:
            raise LaketownError(f"events need columns user_id, event_type, ts; missing {', '.join(sorted(missing))}")
        return events.select(["user_id", "event_type", "ts"])

    def _scores(self, scores: pa.Table | dict[str, pa.Table] | None, model: str) -> pa.Table:
        if isinstance(scores, dict):
            scores = scores.get(model)
        if scores is None:
            name = scores_table(model)
            if not self.ws.lake.exists(name):
                raise LaketownError(
                    f"the rule asks for model {model!r} but {name} does not exist yet; "
                    f"score users first (laketown engagement churn score) or pass scores="
                )
            scores = self.ws.table(name).scan()
        column = f"{model}_probability"
        if "user_id" not in scores.column_names or column not in scores.column_names:
            raise LaketownError(f"scores for model {model!r} need columns user_id and {column}; "
                                f"got {', '.join(scores.column_names)}")
        if "scored_at" not in scores.column_names:
            scores = scores.append_column("scored_at", pa.array([0] * scores.num_rows, pa.int64()))
        return scores.select(["user_id", column, "scored_at"])

    # -- saved segments --------------------------------------------------------------------
    def save(
        self,
        name: str,
        rule: dict[str, Any] | None = None,
        kind: str = "dynamic",
        members: Iterable[str] | pa.Table | None = None,
        endpoints: pa.Table | None = None,
        events: pa.Table | None = None,
        scores: pa.Table | dict[str, pa.Table] | None = None,
        now: datetime | str | None = None,
    ) -> dict[str, Any]:
        """Save (or replace) a segment and compute its members. ``imported`` segments take
        ``members`` (user ids or a table with user_id) instead of a rule."""
        _check_name(name)
        if kind not in KINDS:
            raise LaketownError(f"unknown segment kind {kind!r}; use one of {', '.join(KINDS)}")
        at = datetime.now(UTC)  # when the change was recorded; `now` anchors the rule's windows
        if kind == "imported":
            if members is None:
                raise LaketownError(f"imported segment {name!r} needs members= (user ids or a table with user_id)")
            ids = _user_ids(members)
            stored_rule = None
            trigger = "import"
        else:
            if rule is None:
                raise LaketownError(f"{kind} segment {name!r} needs a rule")
            if kind == "model" and '"model"' not in json.dumps(rule):
                raise RuleError(f"model segment {name!r}: its rule has no model condition; use kind='dynamic'")
            ids = self.evaluate(rule, endpoints, events, scores, now=now)["user_id"]
            stored_rule = json.dumps(rule, sort_keys=True)
            trigger = "save"
        lake = self.ws.lake
        lake.create_table(SEGMENTS_TABLE, schema=SEGMENTS_SCHEMA, exist_ok=True).upsert(
            pa.table({"name": [name], "kind": [kind], "rule": [stored_rule], "updated_at": [at]}, schema=SEGMENTS_SCHEMA),
            on=["name"],
        )
        return self._replace_members(name, ids, at, trigger)

    def refresh(
        self,
        name: str | None = None,
        endpoints: pa.Table | None = None,
        events: pa.Table | None = None,
        scores: pa.Table | dict[str, pa.Table] | None = None,
        now: datetime | str | None = None,
    ) -> dict[str, dict[str, Any]]:
        """Fully re-evaluate one saved rule-based segment (every one when ``name`` is None)."""
        at = datetime.now(UTC)  # when the change was recorded; `now` anchors the rule's windows
        out = {}
        for seg in self._definitions(name):
            if seg["kind"] == "imported":
                continue
            ids = self.evaluate(json.loads(seg["rule"]), endpoints, events, scores, now=now)["user_id"]
            out[seg["name"]] = self._replace_members(seg["name"], ids, at, "refresh")
        return out

    def apply_events(
        self,
        events: pa.Table | list[dict[str, Any]],
        endpoints: pa.Table | None = None,
        now: datetime | str | None = None,
    ) -> dict[str, dict[str, Any]]:
        """Re-check the saved dynamic segments for the users these new events touched only.

        Each user's event history is the lake's ``raw.engagement_events`` plus these events
        (those already delivered there are counted once, by event_id), kept in memory between
        calls (see :mod:`segments_history`). Returns, per segment
        that changed, its new size and how many users joined and left."""
        if isinstance(events, list):
            events = pa.Table.from_pylist(events)
        if events.num_rows == 0:
            return {}
        touched = _user_ids(events["user_id"])
        segs = [s for s in self._definitions(None) if s["kind"] == "dynamic"]
        if not segs:
            return {}
        at = datetime.now(UTC)  # when the change was recorded; `now` anchors the rule's windows
        eps = self._endpoint_table(endpoints, touched)
        rules = {seg["name"]: json.loads(seg["rule"]) for seg in segs}
        needed = [k for r in rules.values() for k in compile_rule(r, eps.schema, _now(now)).events]
        history = self._history.for_users(events, touched, needed, _now(now))
        out = {}
        for seg in segs:
            rule = rules[seg["name"]]
            now_in = self.evaluate(rule, eps, history, None, now=now, users=touched)["user_id"]
            change = self._apply_delta(seg["name"], touched, now_in, at, "events")
            if change["added"] or change["removed"]:
                out[seg["name"]] = change
        return out

    # -- storage ---------------------------------------------------------------------------
    def _definitions(self, name: str | None) -> list[dict[str, Any]]:
        if not self.ws.lake.exists(SEGMENTS_TABLE):
            rows: list[dict[str, Any]] = []
        else:
            rows = self.ws.table(SEGMENTS_TABLE).scan().to_pylist()
        if name is None:
            return sorted(rows, key=lambda r: r["name"])
        found = [r for r in rows if r["name"] == name]
        if not found:
            known = ", ".join(sorted(r["name"] for r in rows)) or "none"
            raise LaketownError(f"unknown segment {name!r}; segments: {known}")
        return found

    def _members_table(self) -> Any:
        return self.ws.lake.create_table(MEMBERS_TABLE, schema=MEMBERS_SCHEMA, exist_ok=True)

    def _replace_members(self, name: str, ids: pa.ChunkedArray | pa.Array, at: datetime, trigger: str) -> dict[str, Any]:
        from pyiceberg.expressions import EqualTo

        ids = _user_ids(ids)
        table = self._members_table()
        old = table.scan(filter=EqualTo("segment", name), columns=["user_id", "since"])
        keep = old.filter(pc.is_in(old["user_id"], value_set=ids))
        fresh = pc.filter(ids, pc.invert(pc.is_in(ids, value_set=old["user_id"].combine_chunks())))
        rows = pa.table({
            "segment": pa.array([name] * len(ids), pa.string()),
            "user_id": pa.concat_arrays([keep["user_id"].combine_chunks().cast(pa.string()), fresh]),
            "since": pa.concat_arrays([keep["since"].combine_chunks().cast(MEMBERS_SCHEMA.field("since").type),
                                       pa.array([at] * len(fresh), MEMBERS_SCHEMA.field("since").type)]),
        }, schema=MEMBERS_SCHEMA)
        table.overwrite(rows, filter=EqualTo("segment", name))
        return self._record_size(name, len(ids), len(fresh), old.num_rows - keep.num_rows, at, trigger)

    def _apply_delta(self, name: str, touched: pa.Array, now_in: pa.ChunkedArray, at: datetime, trigger: str) -> dict[str, Any]:
        from pyiceberg.expressions import And, EqualTo, In

        table = self._members_table()
        was_in = table.scan(filter=And(EqualTo("segment", name), In("user_id", set(touched.to_pylist()))),
                            columns=["user_id"])["user_id"].combine_chunks()
        now_in = _user_ids(now_in)
        added = pc.filter(now_in, pc.invert(pc.is_in(now_in, value_set=was_in)))
        removed = pc.filter(was_in, pc.invert(pc.is_in(was_in, value_set=now_in)))
        if len(removed):
            table.delete(And(EqualTo("segment", name), In("user_id", set(removed.to_pylist()))))
        if len(added):
            table.append(pa.table({"segment": [name] * len(added), "user_id": added,
                                   "since": pa.array([at] * len(added), MEMBERS_SCHEMA.field("since").type)},
                                  schema=MEMBERS_SCHEMA))
        if not len(added) and not len(removed):
            return {"size": None, "added": 0, "removed": 0}
        size = table.scan(filter=EqualTo("segment", name), columns=["user_id"]).num_rows
        return self._record_size(name, size, len(added), len(removed), at, trigger)

    def _record_size(self, name: str, size: int, added: int, removed: int, at: datetime, trigger: str) -> dict[str, Any]:
        row = {"segment": name, "at": at, "size": size, "added": added, "removed": removed, "trigger": trigger}
        self.ws.lake.create_table(SIZES_TABLE, schema=SIZES_SCHEMA, exist_ok=True).append(
            pa.Table.from_pylist([row], schema=SIZES_SCHEMA))
        return {"size": size, "added": added, "removed": removed}

    # -- reading ---------------------------------------------------------------------------
    def list(self) -> list[dict[str, Any]]:
        """Every saved segment: name, kind, rule (parsed) and updated_at."""
        return [{**r, "rule": json.loads(r["rule"]) if r["rule"] else None} for r in self._definitions(None)]

    def get(self, name: str) -> dict[str, Any]:
        """One saved segment's definition (an error listing the others when unknown)."""
        r = self._definitions(name)[0]
        return {**r, "rule": json.loads(r["rule"]) if r["rule"] else None}

    def members(self, name: str) -> pa.Table:
        """The current members of a saved segment: columns user_id and since."""
        from pyiceberg.expressions import EqualTo

        self._definitions(name)
        return self._members_table().scan(filter=EqualTo("segment", name), columns=["user_id", "since"]).sort_by("user_id")

    def sizes(self, name: str) -> pa.Table:
        """The segment's size after each change: at, size, added, removed, trigger (oldest first)."""
        from pyiceberg.expressions import EqualTo

        self._definitions(name)
        if not self.ws.lake.exists(SIZES_TABLE):
            return SIZES_SCHEMA.empty_table().drop_columns(["segment"])
        t = self.ws.table(SIZES_TABLE).scan(filter=EqualTo("segment", name))
        return t.drop_columns(["segment"]).sort_by("at")

    def delete(self, name: str) -> None:
        """Forget a segment, its members and its size history."""
        from pyiceberg.expressions import EqualTo

        self._definitions(name)
        for t in (SEGMENTS_TABLE, MEMBERS_TABLE, SIZES_TABLE):
            if self.ws.lake.exists(t):
                self.ws.table(t).delete(EqualTo("name" if t == SEGMENTS_TABLE else "segment", name))


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not name or len(name) > 100 or not name.replace("_", "").replace("-", "").isalnum():
        raise LaketownError(f"bad segment name {name!r}: use letters, digits, _ and - (up to 100 characters)")
