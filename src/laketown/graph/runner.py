"""Read-only SPARQL with deadlines: queries run in worker processes that can be ended.

pyoxigraph evaluates a query inside Rust and offers no way to cancel it; a thread cannot be
stopped either. So each query goes to a warm worker process (``laketown.graph.worker``) and
the caller waits at most ``timeout_s``; past it, the worker gets SIGKILL and a fresh one
takes its place on the next query.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from laketown.graph.errors import QueryTimeoutError, SparqlError

CONTENT_TYPES = {
    "json": "application/sparql-results+json",
    "csv": "text/csv; charset=utf-8",
    "tsv": "text/tab-separated-values; charset=utf-8",
    "xml": "application/sparql-results+xml",
}
RDF_CONTENT_TYPES = {"nt": "application/n-triples", "ttl": "text/turtle", "xml": "application/rdf+xml"}


@dataclass
class QueryResult:
    """Serialized results of one query."""

    kind: str  # "solutions", "boolean" or "graph"
    body: bytes
    content_type: str
    elapsed_ms: float

    def rows(self) -> list[dict[str, Any]]:
        """SELECT results (JSON format) as dicts of plain values (numbers converted)."""
        doc = json.loads(self.body)
        out = []
        for binding in doc.get("results", {}).get("bindings", []):
            out.append({k: _plain(v) for k, v in binding.items()})
        return out

    def boolean(self) -> bool:
        return bool(json.loads(self.body)["boolean"])


_NUMERIC = ("integer", "int", "long", "decimal", "double", "float")


def _plain(term: dict[str, Any]) -> Any:
    value = term.get("value")
    dtype = term.get("datatype", "")
    if dtype.rsplit("#", 1)[-1] in _NUMERIC:
        try:
            return int(value) if dtype.endswith(("integer", "int", "long")) else float(value)
        except ValueError:
            return value
    return value


class _Worker:
    def __init__(self, folder: Path):
        env = dict(os.environ)
        src = str(Path(__file__).resolve().parents[2])  # the laketown package's parent, for -m
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "laketown.graph.worker", str(folder)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
        )
        self._buf = b""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass

    def _read(self, deadline: float, need: int | None) -> bytes:
        """Bytes up to a newline (``need`` None) or exactly ``need`` bytes, before ``deadline``."""
        fd = self.proc.stdout.fileno()
        while True:
            if need is None and b"\n" in self._buf:
                line, self._buf = self._buf.split(b"\n", 1)
                return line
            if need is not None and len(self._buf) >= need:
                data, self._buf = self._buf[:need], self._buf[need:]
                return data
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    raise EOFError
                self._buf += chunk

    def ask(self, request: dict[str, Any], deadline: float) -> tuple[dict[str, Any], bytes]:
        self.proc.stdin.write(json.dumps(request).encode() + b"\n")
        self.proc.stdin.flush()
        header = json.loads(self._read(deadline, None))
        return header, self._read(deadline, header["length"])


class QueryRunner:
    """Runs read-only queries over the store in ``folder`` with at most ``workers`` at once,
    each stopped after ``timeout_s``."""

    def __init__(self, folder: str | Path, timeout_s: float = 10.0, workers: int = 2):
        self.folder = Path(folder)
        self.timeout_s = timeout_s
        self._idle: list[_Worker] = []
        self._slots = threading.BoundedSemaphore(workers)
        self._lock = threading.Lock()
        self._closed = False

    def query(
        self,
        sparql: str,
        fmt: str = "json",
        rdf_format: str = "nt",
        timeout_s: float | None = None,
    ) -> QueryResult:
        """Run ``sparql``; ``fmt`` json/csv/tsv/xml for SELECT/ASK, ``rdf_format`` nt/ttl/xml for
        CONSTRUCT/DESCRIBE. Raises :class:`QueryTimeoutError` past the deadline."""
        if fmt not in CONTENT_TYPES:
            raise SparqlError(f"unknown results format {fmt!r}; use one of {', '.join(CONTENT_TYPES)}")
        limit = min(timeout_s or self.timeout_s, self.timeout_s)
        started = time.monotonic()
        deadline = started + limit
        if not self._slots.acquire(timeout=limit):
            raise QueryTimeoutError(f"no query worker became free within {limit:g} s; try again later")
        try:
            worker = self._take()
            request = {"query": sparql, "format": fmt, "rdf_format": rdf_format}
            try:
                header, payload = worker.ask(request, deadline)
            except TimeoutError:
                worker.kill()
                raise QueryTimeoutError(
                    f"the query ran longer than {limit:g} s and was stopped; narrow it (LIMIT, more "
                    f"specific patterns) or raise the timeout"
                ) from None
            except (EOFError, OSError, ValueError) as exc:
                worker.kill()
                raise SparqlError(f"the query worker failed ({exc!r}); try again") from None
            self._give_back(worker)
        finally:
            self._slots.release()
        if not header["ok"]:
            raise SparqlError(f"SPARQL {header['kind']} error: {header['error']}")
        kind = header["kind"]
        ctype = RDF_CONTENT_TYPES[rdf_format] if kind == "graph" else CONTENT_TYPES[fmt]
        return QueryResult(kind, payload, ctype, round((time.monotonic() - started) * 1000, 2))

    def _take(self) -> _Worker:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.alive():
                    return worker
                worker.kill()
        return _Worker(self.folder)

    def _give_back(self, worker: _Worker) -> None:
        with self._lock:
            if self._closed:
                worker.kill()
            else:
                self._idle.append(worker)

    def close(self) -> None:
        """End the idle workers."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.kill()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
