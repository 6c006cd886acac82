"""Support tickets behind a paginated JSON HTTP API: a small SaaS-like help desk and its reader.

:class:`HelpDeskServer` plays the SaaS (plain HTTP on 127.0.0.1, a free port): ``GET
/api/v2/tickets?updated_since=&after_id=&per_page=`` answers ``{"tickets": [...],
"next_cursor": ...}`` in (updated_at, id) order; ``GET ...?cursor=`` continues; ``POST
/api/v2/tickets`` adds or updates tickets. Like real SaaS APIs it can be flaky: with
``fault_rate`` it answers 429 (with ``Retry-After``) or 500 to some requests.

:func:`pull` reads every ticket changed since its watermark, page by page, retrying 429/5xx
and network errors with exponential backoff; each page lands in ``raw.c360_tickets`` with
the new watermark in the same snapshot.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import random
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

import pyarrow as pa

from laketown.apps.customer360.names import RAW_TICKETS
from laketown.errors import LaketownError
from laketown.streams.delivery import latest_properties

WATERMARK_KEY = "laketown.c360.tickets.watermark"
COLUMNS = ["ticket_id", "requester_id", "requester_name", "requester_email", "requester_phone", "subject",
           "status", "priority", "channel", "created_at", "updated_at", "payload"]
SCHEMA = pa.schema([(c, pa.string()) for c in COLUMNS] + [("_ingested_at", pa.timestamp("us", tz="UTC"))])


class HelpDesk:
    """The SaaS side's data: tickets by id, kept in a JSON file so the service can restart."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else None
        self._lock = threading.Lock()
        self.tickets: dict[str, dict[str, Any]] = {}
        if self.path and self.path.is_file():
            self.tickets = {t["id"]: t for t in json.loads(self.path.read_text())}

    def put(self, tickets: list[dict[str, Any]]) -> int:
        with self._lock:
            for t in tickets:
                if not t.get("id") or not t.get("updated_at"):
                    raise LaketownError(f"a ticket needs 'id' and 'updated_at'; got keys {sorted(t)}")
                self.tickets[str(t["id"])] = t
            if self.path:
                tmp = self.path.with_suffix(".tmp")
                tmp.write_text(json.dumps(list(self.tickets.values())))
                tmp.replace(self.path)
        return len(tickets)

    def page(self, since: str, after_id: str, per_page: int) -> tuple[list[dict[str, Any]], str | None]:
        with self._lock:
            rows = sorted((t for t in self.tickets.values() if (t["updated_at"], t["id"]) > (since, after_id)),
                          key=lambda t: (t["updated_at"], t["id"]))
        page = rows[:per_page]
        nxt = None
        if len(rows) > per_page:
            last = page[-1]
            nxt = base64.urlsafe_b64encode(json.dumps([last["updated_at"], last["id"]]).encode()).decode()
        return page, nxt


class HelpDeskServer:
    """The help desk's HTTP API on 127.0.0.1 (port 0 picks a free one)."""

    def __init__(self, desk: HelpDesk, port: int = 0, fault_rate: float = 0.0, seed: int = 1, token: str | None = None):
        self.desk, self.fault_rate, self.token = desk, fault_rate, token
        self._rng = random.Random(seed)
        self.requests = 0
        self.faults = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _gate(self) -> bool:
                server.requests += 1
                if server.token and self.headers.get("Authorization") != f"Bearer {server.token}":
                    self._send(401, {"error": "missing or wrong bearer token"})
                    return False
                if server._rng.random() < server.fault_rate:
                    server.faults += 1
                    if server._rng.random() < 0.5:
                        self._send(429, {"error": "rate limited"}, {"Retry-After": "0.05"})
                    else:
                        self._send(500, {"error": "internal error"})
                    return False
                return True

            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                if url.path != "/api/v2/tickets":
                    self._send(404, {"error": f"no route {url.path}"})
                    return
                if not self._gate():
                    return
                q = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
                try:
                    per_page = max(1, min(int(q.get("per_page", 100)), 1000))
                    if "cursor" in q:
                        since, after = json.loads(base64.urlsafe_b64decode(q["cursor"].encode()))
                    else:
                        since, after = q.get("updated_since", ""), q.get("after_id", "")
                except (ValueError, TypeError):
                    self._send(400, {"error": "bad per_page or cursor"})
                    return
                page, nxt = server.desk.page(since, after, per_page)
                self._send(200, {"tickets": page, "next_cursor": nxt})

            def do_POST(self) -> None:
                if urllib.parse.urlsplit(self.path).path != "/api/v2/tickets":
                    self._send(404, {"error": "no route"})
                    return
                if not self._gate():
                    return
                try:
                    body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                    n = server.desk.put(body if isinstance(body, list) else [body])
                except (ValueError, LaketownError) as exc:
                    self._send(400, {"error": str(exc)})
                    return
                self._send(200, {"accepted": n})

        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="c360-helpdesk", daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def get_json(url: str, token: str | None = None, retries: int = 6, backoff_s: float = 0.05, timeout_s: float = 10.0) -> tuple[Any, int]:
    """GET ``url`` as JSON, retrying 429 (after ``Retry-After``), 5xx and network errors with
    exponential backoff and jitter. Returns (body, retries used)."""
    last = ""
    for attempt in range(retries + 1):
        req = urllib.request.Request(url, headers={"Accept": "application/json",
                                                   **({"Authorization": f"Bearer {token}"} if token else {})})
        wait = backoff_s * (2 ** attempt) * (0.5 + random.random())
        try:
            with urllib.request.urlopen(req, timeout=timeout_s) as resp:
                return json.loads(resp.read()), attempt
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
            if exc.code != 429 and exc.code < 500:
                raise LaketownError(f"the help desk API refused {url.split('?')[0]}: {last} {exc.read()[:200]!r}") from None
            retry_after = exc.headers.get("Retry-After")
            if retry_after:
                try:
                    wait = max(wait, min(float(retry_after), 30.0))
                except ValueError:
                    pass
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            last = str(getattr(exc, "reason", exc))
        if attempt < retries:
            time.sleep(wait)
    raise LaketownError(f"the help desk API at {url.split('?')[0]} kept failing ({last}) after {retries} retries; try again later")


def watermark(ws: Any) -> tuple[str, str] | None:
    if not ws.lake.exists(RAW_TICKETS):
        return None
    found = latest_properties(ws.lake.table(RAW_TICKETS), WATERMARK_KEY).get("")
    return tuple(json.loads(found)) if found else None


def _rows(tickets: list[dict[str, Any]]) -> pa.Table:
    now = dt.datetime.now(dt.UTC)
    cols: dict[str, list[Any]] = {c: [] for c in COLUMNS}
    for t in tickets:
        req = t.get("requester") or {}
        values = {"ticket_id": t.get("id"), "requester_id": req.get("id"), "requester_name": req.get("name"),
                  "requester_email": req.get("email"), "requester_phone": req.get("phone"), "subject": t.get("subject"),
                  "status": t.get("status"), "priority": t.get("priority"), "channel": t.get("channel"),
                  "created_at": t.get("created_at"), "updated_at": t.get("updated_at"),
                  "payload": json.dumps(t, sort_keys=True)}
        for c in COLUMNS:
            v = values[c]
            cols[c].append(None if v in (None, "") else str(v))
    return pa.table({**cols, "_ingested_at": [now] * len(tickets)}, schema=SCHEMA)


def pull(ws: Any, base_url: str, token: str | None = None, per_page: int = 500, retries: int = 6,
         backoff_s: float = 0.05) -> dict[str, Any]:
    """Land every ticket changed since the watermark. Returns counts (rows, pages, retries)."""
    if urllib.parse.urlsplit(base_url).scheme not in ("http", "https"):
        raise LaketownError(f"the help desk URL must be http(s)://...; got {base_url!r}")
    table = ws.lake.create_table(RAW_TICKETS, schema=SCHEMA, exist_ok=True)
    mark = watermark(ws)
    params = {"per_page": per_page}
    if mark:
        params.update(updated_since=mark[0], after_id=mark[1])
    url = f"{base_url.rstrip('/')}/api/v2/tickets?{urllib.parse.urlencode(params)}"
    rows = pages = retried = 0
    while True:
        body, used = get_json(url, token, retries=retries, backoff_s=backoff_s)
        retried += used
        tickets = body.get("tickets") or []
        if tickets:
            last = tickets[-1]
            mark = (str(last["updated_at"]), str(last["id"]))
            table.append(_rows(tickets), properties={WATERMARK_KEY: json.dumps(list(mark))})
            rows += len(tickets)
            pages += 1
        cursor = body.get("next_cursor")
        if not cursor:
            break
        url = f"{base_url.rstrip('/')}/api/v2/tickets?{urllib.parse.urlencode({'cursor': cursor, 'per_page': per_page})}"
    return {"rows": rows, "pages": pages, "retries": retried, "watermark": list(mark) if mark else None}
