"""CRM contacts: CSV files dropped into a landing folder, each landed in raw exactly once.

Layout under ``<workspace>/c360/landing``: ``incoming/`` (drop files here), ``.claimed/``
(being ingested), ``processed/``, ``rejected/``. One ingest runs at a time (a lock file). A
file is claimed by an atomic rename into ``.claimed/``; its rows are appended to
``raw.c360_crm_contacts`` in ONE snapshot whose summary carries the file's SHA-256
(``laketown.c360.file.<sha>``): that snapshot is the manifest. After a crash, files left in
``.claimed/`` are finished on the next run: appended if the table has no snapshot with their
checksum, only moved if it has. A file whose content was already ingested (same checksum,
another name) is moved to ``processed/`` without landing again.
"""

from __future__ import annotations

import csv
import datetime as dt
import fcntl
import hashlib
import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyiceberg.expressions import EqualTo

from laketown.apps.customer360 import quarantine
from laketown.apps.customer360.names import RAW_CRM, landing_dir
from laketown.errors import LaketownError
from laketown.streams.delivery import latest_properties

COLUMNS = ["contact_id", "first_name", "last_name", "email", "phone", "address_line", "city", "zip",
           "birth_date", "modified_at"]
REQUIRED = ["contact_id", "first_name", "last_name"]
SCHEMA = pa.schema([(c, pa.string()) for c in COLUMNS] + [
    ("_extra", pa.string()), ("_file", pa.string()), ("_sha256", pa.string()), ("_row", pa.int64()),
    ("_ingested_at", pa.timestamp("us", tz="UTC")),
])
FILE_PREFIX = "laketown.c360.file."


def folders(ws: Any) -> dict[str, Path]:
    root = landing_dir(ws)
    out = {name: root / sub for name, sub in (("incoming", "incoming"), ("claimed", ".claimed"),
                                                ("processed", "processed"), ("rejected", "rejected"))}
    for path in out.values():
        path.mkdir(parents=True, exist_ok=True)
    return out


def drop_file(ws: Any, name: str, rows: list[dict[str, Any]]) -> Path:
    """Write a CSV into ``incoming/`` the way an exporting system would (temp name, then rename)."""
    incoming = folders(ws)["incoming"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    tmp = incoming / f".{name}.part"
    tmp.write_text(buf.getvalue())
    final = incoming / name
    tmp.replace(final)
    return final


def processed_checksums(ws: Any) -> dict[str, str]:
    """SHA-256 -> file name of every file landed in the table (from its snapshots)."""
    if not ws.lake.exists(RAW_CRM):
        return {}
    return latest_properties(ws.lake.table(RAW_CRM), FILE_PREFIX)


def _parse(data: bytes, name: str, sha: str) -> tuple[pa.Table, list[tuple[str | None, str, dict[str, Any]]]]:
    text = data.decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise LaketownError(f"CRM file {name!r} is empty; expected a header with {', '.join(REQUIRED)}") from None
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise LaketownError(f"CRM file {name!r} has no column {missing[0]!r}; its columns: {', '.join(header)}")
    cols: dict[str, list[Any]] = {c: [] for c in COLUMNS}
    extra, rownums, bad = [], [], []
    for n, row in enumerate(reader, start=2):
        if not row:
            continue
        record = dict(zip(header, row))
        if len(row) != len(header):
            bad.append((record.get("contact_id") or None, f"line {n} has {len(row)} fields, the header {len(header)}", record))
            continue
        for c in COLUMNS:
            cols[c].append(record.get(c, "") or None)
        others = {k: v for k, v in record.items() if k not in COLUMNS}
        extra.append(json.dumps(others) if others else None)
        rownums.append(n)
    now = dt.datetime.now(dt.UTC)
    count = len(rownums)
    table = pa.table({**cols, "_extra": extra, "_file": [name] * count, "_sha256": [sha] * count,
                      "_row": rownums, "_ingested_at": [now] * count}, schema=SCHEMA)
    return table, bad


class _Lock:
    def __init__(self, path: Path):
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise LaketownError(f"another CRM landing ingest is running ({path}); wait for it to finish") from None

    def release(self) -> None:
        os.close(self.fd)


def ingest(ws: Any, on_claimed: Callable[[Path], None] | None = None,
           on_landed: Callable[[Path], None] | None = None) -> dict[str, Any]:
    """Land every file waiting in ``incoming/`` (and any left claimed by a crashed run).
    ``on_claimed(path)`` runs after a file is claimed, before it lands; ``on_landed(path)``
    after its rows are committed, before it moves to ``processed/`` (tests crash there).
    Returns counts per outcome."""
    f = folders(ws)
    lock = _Lock(landing_dir(ws) / ".lock")
    try:
        table = ws.lake.create_table(RAW_CRM, schema=SCHEMA, exist_ok=True)
        done = processed_checksums(ws)
        stats = {"files": 0, "rows": 0, "duplicates": 0, "recovered": 0, "rejected": 0, "quarantined": 0}
        leftovers = sorted(p for p in f["claimed"].iterdir() if p.is_file())
        stats["recovered"] = len(leftovers)
        fresh = []
        for path in sorted(p for p in f["incoming"].iterdir() if p.is_file() and not p.name.startswith(".")):
            target = f["claimed"] / path.name
            try:
                path.rename(target)  # the claim: atomic, and a file claimed is never claimed again
            except FileNotFoundError:
                continue
            fresh.append(target)
        for path in leftovers + fresh:
            if on_claimed is not None:
                on_claimed(path)
            data = path.read_bytes()
            sha = hashlib.sha256(data).hexdigest()
            if sha in done:
                stats["duplicates"] += path not in leftovers
                path.replace(f["processed"] / path.name)
                continue
            try:
                rows, bad = _parse(data, path.name, sha)
            except (LaketownError, UnicodeDecodeError, csv.Error) as exc:
                stats["rejected"] += 1
                quarantine.add(ws, "crm", [(None, f"file rejected: {exc}", {"file": path.name})], origin=path.name)
                path.replace(f["rejected"] / path.name)
                continue
            # bad lines first, replacing any of this file's from a crashed run: idempotent
            if bad:
                origin = f"{path.name}@{sha[:12]}"
                quarantine.table(ws).overwrite(quarantine.rows("crm", bad, origin=origin), filter=EqualTo("origin", origin))
                stats["quarantined"] += len(bad)
            table.append(rows, properties={FILE_PREFIX + sha: path.name}, allow_empty=True)
            done[sha] = path.name
            if on_landed is not None:
                on_landed(path)
            stats["files"] += 1
            stats["rows"] += rows.num_rows
            path.replace(f["processed"] / path.name)
        return stats
    finally:
        lock.release()
