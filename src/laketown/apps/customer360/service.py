"""The Customer 360 service: profiles, search, next-best action, real-time resolution, named
graph queries. The HTTP API and the CLI are thin skins over this object.

Lake tables are read once and cached until their snapshot changes. The recommendations app is
called over HTTP only (``recs_url``, e.g. ``http://127.0.0.1:8000``: the ``[c360] recs_url`` and
``recs_key`` settings, ``LAKETOWN__C360__RECS_URL`` / ``LAKETOWN__C360__RECS_KEY``); without it,
next-best actions come from rules, propensities and the graph's "also bought".
"""

from __future__ import annotations

import json
import math
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from laketown.apps.customer360 import queries
from laketown.apps.customer360.graph import runner as graph_runner
from laketown.apps.customer360.names import (
    CUSTOMERS,
    FEATURES,
    IDENTITIES,
    PERSONAS,
    RESOLVER_NAME,
    SEGMENTS,
    SOURCE_RECORDS,
    graph_dir,
)
from laketown.errors import LaketownError
from laketown.graph import QueryRunner
from laketown.graph.store import version


class CustomerNotFoundError(LaketownError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Customer360:
    """Read side of the app over one workspace."""

    def __init__(self, ws: Any, recs_url: str | None = None, recs_key: str | None = None, timeout_s: float = 10.0):
        self.ws = ws
        conf = ws.settings.c360
        self.recs_url = recs_url if recs_url is not None else conf.recs_url
        self.recs_key = recs_key if recs_key is not None else (conf.recs_key.get_secret_value() if conf.recs_key else None)
        self.timeout_s = timeout_s
        self._cache: dict[str, tuple[Any, Any]] = {}
        self._lock = threading.Lock()
        self._runner: QueryRunner | None = None
        self._resolver: Any = None

    # -- cached lake tables ----------------------------------------------------------------
    def _rows(self, table: str, key: str, many: bool = False) -> dict[str, Any]:
        if not self.ws.lake.exists(table):
            return {}
        t = self.ws.lake.table(table)
        snap = t.current_snapshot()
        version = snap["snapshot_id"] if snap else None
        with self._lock:
            hit = self._cache.get(table)
            if hit and hit[0] == version:
                return hit[1]
        out: dict[str, Any] = {}
        for row in t.scan().to_pylist():
            if many:
                out.setdefault(row[key], []).append(row)
            else:
                out[row[key]] = row
        with self._lock:
            self._cache[table] = (version, out)
        return out

    @property
    def runner(self) -> QueryRunner:
        if self._runner is None:
            self._runner = graph_runner(self.ws, timeout_s=self.timeout_s)
        return self._runner

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()
        close = getattr(self._resolver, "close", None)
        if close:
            close()

    # -- reads -----------------------------------------------------------------------------
    def customer(self, customer_id: str) -> dict[str, Any]:
        golden = self._rows(CUSTOMERS, "customer_id")
        if customer_id not in golden:
            hint = "run `laketown demo` or `laketown c360 run` first" if not golden else "find ids with `laketown c360 search` or GET /api/c360/search?q="
            raise CustomerNotFoundError(f"unknown customer {customer_id!r}; {hint}")
        return golden[customer_id]

    def profile(self, customer_id: str, timeline: bool = True) -> dict[str, Any]:
        """The golden record, its source records, features, segment and journey."""
        golden = self.customer(customer_id)
        ids = self._rows(IDENTITIES, "customer_id", many=True).get(customer_id, [])
        records = self._rows(SOURCE_RECORDS, "record_id")
        sources = [{**{k: v for k, v in records.get(i["record_id"], {}).items()}, "record_id": i["record_id"],
                    "source": i.get("source")} for i in ids]
        feats = self._rows(FEATURES, "customer_id").get(customer_id, {})
        seg = self._rows(SEGMENTS, "customer_id").get(customer_id, {})
        out = {"customer_id": customer_id, "golden": golden, "sources": sources,
               "features": {k: v for k, v in feats.items() if k not in ("customer_id",)},
               "segment": seg.get("segment"), "persona": seg.get("persona"),
               "churn_propensity": seg.get("churn_propensity")}
        if timeline:
            out["timeline"] = self.graph_query("journey", customer=customer_id)
        return out

    def graph_query(self, name: str, **params: Any) -> list[dict[str, Any]]:
        if not version(graph_dir(self.ws)):  # no graph built yet
            return []
        return queries.LIBRARY.run(self.runner, name, **params)

    def neighbourhood(self, customer_id: str) -> dict[str, Any]:
        self.customer(customer_id)
        return {"customer_id": customer_id, "nodes": self.graph_query("neighbourhood", customer=customer_id)}

    def path(self, a: str, b: str) -> list[dict[str, str]]:
        self.customer(a)
        self.customer(b)
        return queries.path(self.runner, a, b)

    def search(self, q: str, limit: int = 20) -> list[dict[str, Any]]:
        """Customers whose id, name, email, phone or postcode contain every word of ``q``."""
        words = [w for w in q.lower().split() if w]
        if not words:
            raise LaketownError("search needs a word: a name, an email, a phone number or a customer id")
        digits = "".join(ch for ch in q if ch.isdigit())
        hits = []
        for row in self._rows(CUSTOMERS, "customer_id").values():
            text = " ".join(str(row.get(c) or "") for c in ("customer_id", "given_name", "surname", "email", "postcode", "city")).lower()
            phone = str(row.get("phone") or "")
            if all(w in text for w in words) or (len(digits) >= 6 and digits in phone):
                hits.append({k: row.get(k) for k in ("customer_id", "given_name", "surname", "email", "phone", "city")})
                if len(hits) >= limit:
                    break
        return hits

    def sources(self) -> dict[str, Any]:
        """Ingestion state: rows per raw table, watermarks, landed files, quarantine reasons."""
        from laketown.apps.customer360 import landing, shopdb, support
        from laketown.apps.customer360.names import (
            QUARANTINE,
            RAW_ACCOUNTS,
            RAW_CRM,
            RAW_EVENTS,
            RAW_ORDERS,
            RAW_TICKETS,
        )

        lake = self.ws.lake
        tables = {t: (lake.table(t).count() if lake.exists(t) else 0)
                  for t in (RAW_CRM, RAW_ACCOUNTS, RAW_ORDERS, RAW_TICKETS, RAW_EVENTS, QUARANTINE)}
        reasons: dict[tuple[str, str], int] = {}
        if lake.exists(QUARANTINE):
            for r in lake.table(QUARANTINE).scan(columns=["source", "reason"]).to_pylist():
                kind = r["reason"].split(":")[0]
                reasons[(r["source"], kind)] = reasons.get((r["source"], kind), 0) + 1
        return {
            "tables": tables, "landed_files": len(landing.processed_checksums(self.ws)),
            "watermarks": {"accounts": shopdb.watermark(self.ws, shopdb.ACCOUNTS),
                           "orders": shopdb.watermark(self.ws, shopdb.ORDERS), "tickets": support.watermark(self.ws)},
            "quarantine": [{"source": s, "reason": k, "rows": n} for (s, k), n in sorted(reasons.items(), key=lambda i: -i[1])],
        }

    def segments(self) -> dict[str, Any]:
        personas = list(self._rows(PERSONAS, "segment").values())
        return {"personas": sorted(personas, key=lambda p: p["segment"]),
                "customers": len(self._rows(SEGMENTS, "customer_id"))}

    # -- activation ------------------------------------------------------------------------
    def _recs(self, customer_id: str, n: int = 5) -> list[dict[str, Any]] | None:
        if not self.recs_url or urllib.parse.urlsplit(self.recs_url).scheme not in ("http", "https"):
            return None
        url = f"{self.recs_url.rstrip('/')}/api/recs/users/{urllib.parse.quote(customer_id, safe='')}?n={n}"
        req = urllib.request.Request(url, headers={"Accept": "application/json",
                                                   **({"X-API-Key": self.recs_key} if self.recs_key else {})})
        try:
            with urllib.request.urlopen(req, timeout=2.0) as resp:
                body = json.loads(resp.read())
        except (urllib.error.URLError, TimeoutError, ValueError, OSError):
            return None
        return body.get("recommendations") or body.get("items") or []

    def next_best_action(self, customer_id: str) -> dict[str, Any]:
        """Ranked actions from rules over propensity, value, open tickets and purchases, with
        products from the recommendations API when it answers, else the graph's also-bought."""
        prof = self.profile(customer_id, timeline=False)
        f, churn = prof["features"], prof["churn_propensity"]
        journey = self.graph_query("journey", customer=customer_id)
        open_tickets = [e for e in journey if e["kind"] == "ticket" and e.get("detail") in ("open", "pending")]
        actions: list[dict[str, Any]] = []
        if open_tickets:
            actions.append({"action": "service_follow_up", "channel": "phone", "score": 0.95,
                            "why": f"{len(open_tickets)} open ticket(s): '{open_tickets[0]['what']}'; hold marketing until solved"})
        freq = f.get("frequency") or 0
        if churn is not None and not math.isnan(churn) and churn >= 0.6 and freq > 0:
            value = f.get("monetary") or 0
            actions.append({"action": "win_back_offer", "channel": "email", "score": round(0.5 + churn / 2, 3),
                            "why": f"churn propensity {churn:.2f}, {freq} past orders worth {value:.0f}"})
        if freq == 0:
            actions.append({"action": "first_purchase_welcome", "channel": "email", "score": 0.6,
                            "why": "known from CRM or support, never bought"})
        elif freq >= 5 and (churn is None or churn < 0.4):
            actions.append({"action": "loyalty_invite", "channel": "email", "score": 0.7,
                            "why": f"{freq} orders and active"})
        recs = self._recs(customer_id)
        source = "recs-api"
        if recs is None:
            source = "graph-also-bought"
            last = next((e for e in journey if e["kind"] == "order"), None)
            recs = []
            if last:
                prods = self.graph_query("neighbourhood", customer=customer_id)
                bought = {p["label"] for p in prods if p["kind"] == "product"}
                pid = next((p["node"].rsplit("/", 1)[-1] for p in prods if p["kind"] == "product" and p["label"] == last["what"]), None)
                if pid:
                    recs = [r for r in self.graph_query("also_bought", product=pid) if r["name"] not in bought][:5]
        if recs:
            actions.append({"action": "recommend_products", "channel": "email", "score": 0.5,
                            "why": f"products from {source}", "items": recs})
        actions.sort(key=lambda a: -a["score"])
        return {"customer_id": customer_id, "persona": prof["persona"], "churn_propensity": churn,
                "actions": actions, "recommendation_source": source if recs else None}

    def resolve_one(self, record: dict[str, Any], commit: bool = False) -> dict[str, Any]:
        """Resolve one source record against the resolved customers, in real time."""
        from laketown.apps.customer360.identity import Resolver

        with self._lock:
            if self._resolver is None:
                self._resolver = Resolver(self.ws, name=RESOLVER_NAME)
            return self._resolver.resolve_one(record, commit=commit)
