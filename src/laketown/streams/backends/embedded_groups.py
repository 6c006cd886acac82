"""Consumer groups of the embedded backend: membership, partition leases and committed offsets.

Everything lives in ``<stream>/groups/<group>/``:

- ``members/<member id>`` — one file per member, touched by a heartbeat thread; a member
  whose file is older than the session timeout is dead (a ``kill -9``ed process stops
  touching it).
- ``state.json`` — which member holds which partition, and a generation number bumped on
  every change of holder.
- ``offsets.json`` — committed offsets ``{partition: next offset to read}``.
- ``group.lock`` — ``flock``-ed around every read-modify-write of the two JSON files, which
  are replaced atomically (write temp, fsync, ``os.replace``).

Partitions are assigned by range over the sorted live members. A member takes a partition
only once its previous holder has released it (at its next poll or close) or died, and then
reads the committed offset afresh, so two live members never read one partition at once;
a member whose session expired (e.g. stopped for longer than the timeout) loses its leases
and its commits are refused.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from laketown.errors import StreamError


def range_assignment(partitions: int, members: list[str]) -> dict[str, list[int]]:
    """Kafka's range assignor: contiguous runs of partitions, the first members get one more."""
    out: dict[str, list[int]] = {}
    if not members:
        return out
    per, extra = divmod(partitions, len(members))
    start = 0
    for i, member in enumerate(sorted(members)):
        n = per + (1 if i < extra else 0)
        out[member] = list(range(start, start + n))
        start += n
    return out


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "w") as f:
        json.dump(data, f, separators=(",", ":"), sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _read_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return default


def read_committed(folder: Path) -> dict[int, int]:
    """Committed offsets stored in a group folder."""
    return {int(p): int(o) for p, o in _read_json(folder / "offsets.json", {}).items()}


class GroupMember:
    """This process's membership in one group of one stream."""

    def __init__(self, folder: Path, partitions: int, session_timeout_s: float = 6.0):
        self.folder = folder
        self.partitions = partitions
        self.session_timeout_s = session_timeout_s
        self.member_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        (folder / "members").mkdir(parents=True, exist_ok=True)
        self._member_file = folder / "members" / self.member_id
        self._lock_fd = os.open(folder / "group.lock", os.O_RDWR | os.O_CREAT, 0o644)
        self.held: set[int] = set()
        self.generation = -1
        self._stop = threading.Event()
        self.heartbeat()
        self._thread = threading.Thread(target=self._beat, name=f"laketown-heartbeat-{self.member_id}", daemon=True)
        self._thread.start()

    # -- liveness --------------------------------------------------------------------------
    def heartbeat(self) -> None:
        """Mark this member alive now."""
        try:
            os.utime(self._member_file)
        except FileNotFoundError:
            self._member_file.touch()

    def _beat(self) -> None:
        interval = max(0.05, self.session_timeout_s / 4)
        while not self._stop.wait(interval):
            try:
                self.heartbeat()
            except OSError:
                pass  # the group folder went away (stream deleted); the next poll reports it

    def live_members(self) -> list[str]:
        """Members whose heartbeat is within the session timeout, sorted; removes dead ones."""
        now = time.time()
        live = []
        folder = self.folder / "members"
        for name in os.listdir(folder):
            try:
                age = now - os.stat(folder / name).st_mtime
            except FileNotFoundError:
                continue
            if age <= self.session_timeout_s or name == self.member_id:
                live.append(name)
            elif age > 2 * self.session_timeout_s:
                (folder / name).unlink(missing_ok=True)
        return sorted(live)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    # -- assignment ------------------------------------------------------------------------
    def rebalance(self) -> tuple[set[int], dict[int, int | None]]:
        """Bring this member's leases in line with the live membership.

        Returns ``(revoked, gained)``: partitions to stop reading, and newly leased
        partitions with their committed offset (``None`` when never committed)."""
        self.heartbeat()
        with self._locked():
            live = self.live_members()
            wanted = set(range_assignment(self.partitions, live).get(self.member_id, []))
            state = _read_json(self.folder / "state.json", {"generation": 0, "owners": {}})
            owners: dict[str, str] = state["owners"]
            changed = False
            revoked = {p for p in self.held if owners.get(str(p)) != self.member_id}  # lost while away
            for p in self.held - wanted - revoked:
                owners.pop(str(p), None)
                revoked.add(p)
                changed = True
            gained: dict[int, int | None] = {}
            committed = None
            for p in sorted(wanted - (self.held - revoked)):
                holder = owners.get(str(p))
                if holder is not None and holder != self.member_id and holder in live:
                    continue  # still held by a live member that has not seen the change yet
                owners[str(p)] = self.member_id
                changed = True
                if committed is None:
                    committed = read_committed(self.folder)
                gained[p] = committed.get(p)
            if changed:
                state["generation"] += 1
                _write_json(self.folder / "state.json", state)
            self.generation = state["generation"]
            self.held = (self.held - revoked) | set(gained)
            return revoked, gained

    def commit(self, offsets: dict[int, int]) -> None:
        """Store committed offsets for partitions this member holds."""
        with self._locked():
            owners = _read_json(self.folder / "state.json", {"owners": {}})["owners"]
            lost = sorted(p for p in offsets if owners.get(str(p)) != self.member_id)
            if lost:
                raise StreamError(
                    f"cannot commit partitions {lost}: they were reassigned to another member of group "
                    f"{self.folder.name!r} (this consumer's session of {self.session_timeout_s}s expired); "
                    "poll again to get the current assignment"
                )
            current = {str(p): o for p, o in read_committed(self.folder).items()}
            current.update({str(p): int(o) for p, o in offsets.items()})
            _write_json(self.folder / "offsets.json", current)

    def leave(self) -> None:
        """Release every lease and remove the member file, so others take over at once."""
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            with self._locked():
                state = _read_json(self.folder / "state.json", None)
                if state is not None:
                    for p in self.held:
                        if state["owners"].get(str(p)) == self.member_id:
                            del state["owners"][str(p)]
                    state["generation"] += 1
                    _write_json(self.folder / "state.json", state)
                self._member_file.unlink(missing_ok=True)
        except FileNotFoundError:
            pass  # the stream was deleted
        finally:
            self.held = set()
            os.close(self._lock_fd)
