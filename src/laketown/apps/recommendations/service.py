"""The campaigns service: the current solution in memory, hot-swappable, answering
recommendations, similar items and re-ranking, and taking real-time events.

Each request reads one immutable snapshot (solution + derived lookups) once, so a swap in
another thread never mixes two models inside one answer. Events a user sends after training
are added to their history vector at the next request (EASE scores ``history @ B``; the
factorization recipes fold the history in), so clicks change recommendations without retraining.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from laketown.apps.recommendations import experiments as ab
from laketown.apps.recommendations import filters
from laketown.apps.recommendations.matrix import top_k
from laketown.apps.recommendations.recipes.cold_start import interleave
from laketown.apps.recommendations.solutions import Solution
from laketown.errors import LaketownError

DEFAULT_CAMPAIGN = "default"
MAX_N = 500
MAX_SESSION_EVENTS = 500


class NotFoundError(LaketownError, KeyError):
    """An item, campaign or experiment id is unknown."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


_NO_EVENTS = pd.DataFrame({"i": pd.Series(dtype="int64"), "event_type": pd.Series(dtype=object),
                           "value": pd.Series(dtype=float), "timestamp": pd.Series(dtype="int64")})


@lru_cache(maxsize=256)
def _parsed(text: str) -> filters.Filter:
    return filters.parse(text)


def _needs_events(flt: str | None) -> bool:
    return bool(flt) and _parsed(flt).uses("interactions")


class _Snapshot:
    """A solution with the lookups serving needs, built before it becomes visible."""

    def __init__(self, solution: Solution, cold_share: float):
        self.solution = solution
        self.cold_share = cold_share
        data = solution.data
        ev = data.events
        order = np.argsort(ev["u"].to_numpy(), kind="stable")
        bounds = np.searchsorted(ev["u"].to_numpy()[order], np.arange(data.n_users + 1))
        self._event_rows = (order, bounds)
        self.filter_cache: dict[str, Any] = {}
        self.users = {}
        if solution.users is not None:
            self.users = solution.users.set_index("user_id").to_dict("index")

    def user_events(self, u: int) -> pd.DataFrame:
        order, bounds = self._event_rows
        return self.solution.data.events.iloc[order[bounds[u]:bounds[u + 1]]]


class RecsService:
    """Campaigns over solutions. ``swap(solution)`` replaces a campaign's model atomically."""

    def __init__(self, solution: Solution | None = None, cold_share: float = 0.1):
        self._campaigns: dict[str, _Snapshot] = {}
        self._lock = threading.Lock()
        self._swap_lock = threading.Lock()
        self._sessions: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._experiments: dict[str, ab.Experiment] = {}
        self._exposures: list[tuple[str, str, str, str, int]] = []  # experiment, variant, user, item, ts
        self.cold_share = cold_share
        #: called with (user_id, events) after events are accepted: stream/lake sinks hook here
        self.event_hooks: list[Any] = []
        if solution is not None:
            self.swap(solution)

    # -- models ----------------------------------------------------------------------------
    def swap(self, solution: Solution, campaign: str = DEFAULT_CAMPAIGN) -> str | None:
        """Serve ``solution`` in ``campaign`` from the next request on; returns the old version."""
        snap = _Snapshot(solution, self.cold_share)  # built first: requests keep the old one meanwhile
        with self._swap_lock:  # readers never lock: they read the dict reference once
            old = self._campaigns.get(campaign)
            self._campaigns = {**self._campaigns, campaign: snap}
        return old.solution.version if old else None

    def campaigns(self) -> dict[str, dict[str, Any]]:
        return {name: snap.solution.summary() for name, snap in self._campaigns.items()}

    def _snap(self, campaign: str | None) -> _Snapshot:
        name = campaign or DEFAULT_CAMPAIGN
        snap = self._campaigns.get(name)
        if snap is None:
            known = ", ".join(self._campaigns) or "none (train a solution first)"
            raise NotFoundError(f"unknown campaign {name!r}; campaigns: {known}")
        return snap

    # -- history ---------------------------------------------------------------------------
    def _history(self, snap: _Snapshot, user_id: str,
                 need_events: bool = True) -> tuple[sp.csr_matrix, int, pd.DataFrame | None, int]:
        """The user's history row, training index (-1 if unknown or changed), events (only
        built when a filter needs them), session size."""
        data = snap.solution.data
        u = data.user_index.get(user_id, -1)
        with self._lock:
            session = list(self._sessions.get(user_id, ()))
        cols = set(data.X.indices[data.X.indptr[u]:data.X.indptr[u + 1]].tolist()) if u >= 0 else set()
        known = [e for e in session if e["item_id"] in data.item_index]
        if known:
            cols |= {data.item_index[e["item_id"]] for e in known}
        cols_l = sorted(cols)
        hist = sp.csr_matrix((np.ones(len(cols_l), np.float32), np.array(cols_l, np.int32),
                              np.array([0, len(cols_l)], np.int32)), shape=(1, data.n_items))
        if not need_events:
            return hist, (u if not known else -1), None, len(known)
        frames = [snap.user_events(u)] if u >= 0 else []
        if known:
            frames.append(pd.DataFrame([{**e, "i": data.item_index[e["item_id"]]} for e in known]))
        events = pd.concat(frames, ignore_index=True) if frames else _NO_EVENTS
        return hist, (u if not known else -1), events, len(known)

    def _mask(self, snap: _Snapshot, user_id: str, events: pd.DataFrame, flt: str | None,
              values: Any) -> np.ndarray | None:
        if not flt:
            return None
        parsed = _parsed(flt)
        if events is None:
            events = _NO_EVENTS
        ctx = filters.Context(snap.solution.data.items, snap.solution.data.n_items, events, snap.users.get(user_id),
                              snap.filter_cache)
        return filters.apply(parsed, ctx, filters.parse_values(values))

    # -- answers ---------------------------------------------------------------------------
    def recommend(self, user_id: str, n: int = 10, filter: str | None = None,
                  filter_values: Any = None, campaign: str | None = None, exclude_seen: bool = True) -> dict[str, Any]:
        """Top ``n`` items for a user. Unknown users without events get popular items and the
        answer says ``"fallback": "popularity"``."""
        n = max(1, min(int(n), MAX_N))
        snap = self._snap(campaign)
        sol, data = snap.solution, snap.solution.data
        hist, u, events, n_session = self._history(snap, user_id, need_events=_needs_events(filter))
        fallback = None
        if hist.nnz == 0:
            scores = sol.popularity.score(hist)[0].astype(np.float64)
            source, fallback = "popularity", "popularity"
        else:
            scores = np.asarray(sol.model.score(hist, np.array([u])), dtype=np.float64)[0]
            source = "session" if u < 0 and user_id not in data.user_index else "personalized"
        blocked = np.zeros(data.n_items, bool)
        if exclude_seen:
            blocked[hist.indices] = True
        mask = self._mask(snap, user_id, events, filter, filter_values)
        if mask is not None:
            blocked |= ~mask
        cold_cands: list[tuple[int, float]] = []
        cold = getattr(sol.cold_start, "cold", None)
        if cold is not None and hist.nnz and self.cold_share > 0:
            blocked_cold = blocked | ~cold
            cold_cands = [(i, s) for i, s in sol.cold_start.cold_candidates(hist, n) if not blocked_cold[i]]
            blocked = blocked | cold
        scores[blocked] = -np.inf
        best = top_k(scores[None, :], n)[0]
        main = [(int(i), float(scores[i]), source) for i in best if np.isfinite(scores[i])]
        ranked = interleave(main, [(i, s, "cold-start") for i, s in cold_cands], n, self.cold_share)
        out: dict[str, Any] = {
            "user_id": user_id,
            "recommendations": [{"item_id": data.item_ids[i], "score": round(s, 6), "source": src}
                                for i, s, src in ranked],
            "source": source, "fallback": fallback, "session_events": n_session,
            "solution_version": sol.version, "recipe": sol.recipe,
        }
        if fallback:
            out["message"] = (f"user {user_id!r} is unknown and has no events on known items yet: "
                              "most popular items returned")
        return out

    def similar_items(self, item_id: str, n: int = 10, filter: str | None = None,
                      filter_values: Any = None, user_id: str | None = None,
                      campaign: str | None = None) -> dict[str, Any]:
        """Items most similar to ``item_id`` (co-occurrence; content for items without interactions)."""
        n = max(1, min(int(n), MAX_N))
        snap = self._snap(campaign)
        data = snap.solution.data
        if item_id not in data.item_index:
            raise NotFoundError(f"unknown item {item_id!r} in solution {snap.solution.version}")
        mask = None
        if filter:
            _, _, events, _ = self._history(snap, user_id or "", need_events=_needs_events(filter))
            mask = self._mask(snap, user_id or "", events, filter, filter_values)
        neigh = snap.solution.similar.similar(data.item_index[item_id], n if mask is None else MAX_N)
        if mask is not None:
            neigh = [(i, s) for i, s in neigh if mask[i]][:n]
        return {"item_id": item_id, "similar": [{"item_id": data.item_ids[i], "score": round(s, 6)} for i, s in neigh],
                "solution_version": snap.solution.version}

    def rank(self, user_id: str, item_ids: list[str], filter: str | None = None,
             filter_values: Any = None, campaign: str | None = None) -> dict[str, Any]:
        """Personalized ranking: the given items re-ordered for the user, best first; items the
        solution does not know go last, unscored; items a filter removes are left out."""
        snap = self._snap(campaign)
        sol, data = snap.solution, snap.solution.data
        hist, u, events, _ = self._history(snap, user_id, need_events=_needs_events(filter))
        if hist.nnz == 0:
            scores, source = sol.popularity.score(hist)[0], "popularity"
        else:
            scores, source = np.asarray(sol.model.score(hist, np.array([u])))[0], "personalized"
        mask = self._mask(snap, user_id, events, filter, filter_values)
        known, unknown = [], []
        for item in dict.fromkeys(item_ids):
            i = data.item_index.get(item)
            if i is None:
                unknown.append({"item_id": item, "score": None})
            elif mask is None or mask[i]:
                known.append({"item_id": item, "score": round(float(scores[i]), 6)})
        known.sort(key=lambda r: -r["score"])
        return {"user_id": user_id, "ranking": known + unknown, "source": source,
                "fallback": "popularity" if source == "popularity" else None, "solution_version": sol.version}

    def put_events(self, user_id: str, events: list[dict[str, Any]]) -> dict[str, Any]:
        """Add a user's new events (item_id, event_type, timestamp, value) to their live history."""
        now = int(time.time())
        clean = []
        for k, e in enumerate(events):
            item = e.get("item_id")
            if not isinstance(item, str) or not item:
                raise LaketownError(f"event {k}: item_id must be a non-empty string, got {item!r}")
            clean.append({"item_id": item, "event_type": str(e.get("event_type") or "click"),
                          "timestamp": int(e.get("timestamp") or now), "value": float(e.get("value") or 1.0)})
        with self._lock:
            session = self._sessions[user_id]
            session.extend(clean)
            del session[:-MAX_SESSION_EVENTS]
            size = len(session)
        for hook in self.event_hooks:
            hook(user_id, clean)
        return {"user_id": user_id, "accepted": len(clean), "session_events": size}

    def session_events(self) -> pd.DataFrame:
        """Every event received since start (user_id, item_id, event_type, timestamp, value)."""
        with self._lock:
            rows = [{"user_id": u, **e} for u, evs in self._sessions.items() for e in evs]
        return pd.DataFrame(rows, columns=["user_id", "item_id", "event_type", "timestamp", "value"])

    # -- experiments -----------------------------------------------------------------------
    def add_experiment(self, experiment: ab.Experiment) -> None:
        """Start an A/B test between campaigns (each variant names a campaign)."""
        for campaign in experiment.variants.values():
            self._snap(campaign)
        self._experiments[experiment.name] = experiment

    def _experiment(self, name: str) -> ab.Experiment:
        if name not in self._experiments:
            raise NotFoundError(f"unknown experiment {name!r}; experiments: {', '.join(self._experiments) or 'none'}")
        return self._experiments[name]

    def recommend_in_experiment(self, name: str, user_id: str, n: int = 10, **kw: Any) -> dict[str, Any]:
        """Recommendations from the user's variant's campaign; the exposure is logged."""
        exp = self._experiment(name)
        variant = exp.assign(user_id)
        out = self.recommend(user_id, n=n, campaign=exp.variants[variant], **kw)
        now = int(time.time())
        with self._lock:
            self._exposures += [(name, variant, user_id, r["item_id"], now) for r in out["recommendations"]]
        return {**out, "experiment": name, "variant": variant}

    def experiment_reports(self) -> list[dict[str, Any]]:
        """The report of every experiment (for the console)."""
        with self._lock:
            names = list(self._experiments)
        return [self.experiment_report(n) for n in names]

    def experiment_report(self, name: str) -> dict[str, Any]:
        """Per-variant CTR and conversion with 95 % Wilson intervals, from logged exposures and events."""
        exp = self._experiment(name)
        with self._lock:
            rows = [r for r in self._exposures if r[0] == name]
        exposures = pd.DataFrame(rows, columns=["experiment", "variant", "user_id", "item_id", "timestamp"])
        return {"experiment": name, "variants": dict(exp.variants),
                "results": ab.report(exposures, self.session_events())}
