"""The local SMTP sink: an ``aiosmtpd`` server on 127.0.0.1 that stores every message it
receives as one ``.eml`` file in ``<workspace>/engagement/mailbox/`` (named by a hash of its
Message-ID plus a unique suffix, so a message delivered twice shows up twice). Journeys look a
Message-ID up here after a crash to learn whether an interrupted send reached the server."""

from __future__ import annotations

import email
import email.policy
import hashlib
import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Self

from laketown.apps.engagement.settings import app_dir
from laketown.errors import LaketownError, MissingExtraError

STATE_FILE = "smtp-sink.json"


def mailbox_dir(ws: Any) -> Path:
    path = app_dir(ws) / "mailbox"
    path.mkdir(exist_ok=True)
    return path


def id_hash(message_id: str) -> str:
    return hashlib.sha256(message_id.strip().strip("<>").encode()).hexdigest()[:32]


class Mailbox:
    """The stored messages of a sink folder."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.arrived = threading.Condition()
        #: called as ``listener(message_id, path)`` after each stored message (benchmarks time arrivals)
        self.listeners: list[Any] = []

    def store(self, envelope_from: str, rcpts: list[str], content: bytes) -> Path:
        msg = email.message_from_bytes(content, policy=email.policy.default)
        mid = str(msg.get("Message-ID") or uuid.uuid4())
        name = f"{id_hash(mid)}.{time.time_ns()}.{uuid.uuid4().hex[:6]}.eml"
        header = f"X-Envelope-From: {envelope_from}\r\nX-Envelope-To: {', '.join(rcpts)}\r\n".encode()
        tmp = self.folder / f".{name}.tmp"
        tmp.write_bytes(header + content)
        tmp.rename(self.folder / name)
        for listener in self.listeners:
            listener(mid, self.folder / name)
        with self.arrived:
            self.arrived.notify_all()
        return self.folder / name

    def has(self, message_id: str) -> bool:
        return any(self.folder.glob(f"{id_hash(message_id)}.*.eml"))

    def files(self) -> list[Path]:
        return sorted(self.folder.glob("*.eml"), key=lambda p: p.name.split(".")[1])

    def count(self) -> int:
        return sum(1 for _ in self.folder.glob("*.eml"))

    def messages(self) -> list[email.message.EmailMessage]:
        return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in self.files()]

    def wait_for(self, n: int, timeout_s: float = 10.0) -> int:
        """Block until at least ``n`` messages are stored (or the timeout); returns the count."""
        deadline = time.monotonic() + timeout_s
        while (have := self.count()) < n and time.monotonic() < deadline:
            with self.arrived:
                self.arrived.wait(timeout=min(0.05, max(0.0, deadline - time.monotonic())))
        return have

    def clear(self) -> None:
        for p in self.folder.glob("*.eml"):
            p.unlink()


class _Handler:
    def __init__(self, mailbox: Mailbox):
        self.mailbox = mailbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mailbox.store(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpSink:
    """A running sink (aiosmtpd ``Controller`` in a thread). ``handler`` replaces the storing
    handler (tests answer 4xx/5xx with their own); ``smtp_options`` go to aiosmtpd's ``SMTP``
    (``tls_context``, ``require_starttls``, ``authenticator``, ``auth_required``)."""

    def __init__(self, folder: str | Path, port: int = 0, host: str = "127.0.0.1", handler: Any = None,
                 state_file: Path | None = None, **smtp_options: Any):
        try:
            from aiosmtpd.controller import Controller
        except ImportError as exc:
            raise MissingExtraError("the SMTP sink", "engagement", exc) from None
        self.mailbox = Mailbox(folder)
        self.host, self.port = host, port or free_port()
        self.state_file = state_file
        self.controller = Controller(handler or _Handler(self.mailbox), hostname=host, port=self.port,
                                     ready_timeout=10, data_size_limit=10 << 20, **smtp_options)

    def start(self) -> Self:
        try:
            self.controller.start()
        except OSError as exc:
            raise LaketownError(f"cannot start the SMTP sink on {self.host}:{self.port}: {exc}; pick another --port") from None
        if self.state_file is not None:
            self.state_file.write_text(json.dumps({"host": self.host, "port": self.port, "pid": os.getpid()}))
        return self

    def stop(self) -> None:
        if getattr(self.controller, "_thread", None) is None:  # never started, or stopped already
            return
        self.controller.stop()
        if self.state_file is not None and self.state_file.exists():
            try:
                if json.loads(self.state_file.read_text()).get("pid") == os.getpid():
                    self.state_file.unlink()
            except (OSError, ValueError):
                pass

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_sink(ws: Any, port: int = 0) -> SmtpSink:
    """The workspace's sink: messages into ``<workspace>/engagement/mailbox``, its port in
    ``<workspace>/engagement/smtp-sink.json`` so that senders in other processes find it."""
    return SmtpSink(mailbox_dir(ws), port=port, state_file=app_dir(ws) / STATE_FILE).start()


def running_sink(ws: Any) -> tuple[str, int] | None:
    """(host, port) of the workspace's sink if one has announced itself and answers."""
    path = app_dir(ws) / STATE_FILE
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text())
        with socket.create_connection((state["host"], state["port"]), timeout=1):
            return state["host"], int(state["port"])
    except (OSError, ValueError, KeyError):
        return None
