"""MQTT brokers (IoT Core's device gateway): ``amqtt`` in-process (default) or mosquitto.

Both take their users and topic ACLs from the device registry: an enabled thing logs in with
its own secret and may publish only under ``devices/<thing>/``; the ingest service logs in as
:data:`SERVICE_USER` with a secret made fresh at each start (never written anywhere in plain).
Clients (edge agents, ingest, benchmarks) use ``paho-mqtt`` against either broker the same way:
``broker.host``, ``broker.port``.
"""

from __future__ import annotations

import abc
import asyncio
import getpass
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from laketown.apps.iot.credentials import hash_secret, new_secret, verify_secret
from laketown.apps.iot.registry import TOPIC_ROOT, DeviceRegistry, may_publish
from laketown.errors import ConfigError, LaketownError

SERVICE_USER = "laketown-ingest"
BROKERS = ("amqtt", "mosquitto")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(host: str, port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise LaketownError(f"MQTT broker did not listen on {host}:{port} within {timeout_s}s")


class Broker(abc.ABC):
    """A running MQTT broker whose users and ACLs come from a :class:`DeviceRegistry`."""

    kind: ClassVar[str]

    def __init__(self, registry: DeviceRegistry, workdir: str | Path, port: int | None = None,
                 host: str = "127.0.0.1"):
        self.registry = registry
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = port or free_port()
        self.service_secret = new_secret()
        self._service_hash = hash_secret(self.service_secret)

    @property
    def service_credentials(self) -> tuple[str, str]:
        """``(user, secret)`` of the ingest service (may subscribe to every device topic)."""
        return SERVICE_USER, self.service_secret

    @abc.abstractmethod
    def start(self) -> Broker: ...

    @abc.abstractmethod
    def stop(self) -> None: ...

    @abc.abstractmethod
    def reload(self) -> None:
        """Take the registry's current users and ACLs (after registering or disabling things)."""

    @abc.abstractmethod
    def denied_publishes(self) -> int:
        """Publishes refused because the topic is outside the sender's ACL, since start."""

    @property
    @abc.abstractmethod
    def running(self) -> bool: ...

    def __enter__(self) -> Broker:
        return self.start() if not self.running else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- amqtt, in-process ----------------------------------------------------------------------------

_AMQTT: dict[str, AmqttBroker] = {}  # plugin config names its broker; plugins look it up here


def _amqtt_plugins() -> tuple[type, type]:
    """The amqtt plugin classes (built on first use: amqtt is imported only when asked for)."""
    from amqtt.contexts import Action
    from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin

    @dataclass
    class Config:
        broker_id: str = ""

    class RegistryAuthPlugin(BaseAuthPlugin):
        """Accepts the ingest service and enabled things with their own secret."""

        async def authenticate(self, *, session: Any) -> bool | None:
            owner = _AMQTT[self.context.config.broker_id]
            if session.username == SERVICE_USER:
                return verify_secret(session.password, owner._service_hash)
            return owner.registry.authenticate(session.username, session.password)

    RegistryAuthPlugin.Config = Config

    class RegistryTopicPlugin(BaseTopicPlugin):
        """A thing publishes, subscribes and receives only under ``devices/<thing>/``."""

        async def topic_filtering(self, *, session: Any = None, topic: str | None = None,
                                  action: Any = None) -> bool | None:
            user = session.username if session else None
            if user == SERVICE_USER:
                return True
            ok = bool(user and topic and may_publish(user, topic))
            if not ok and action == Action.PUBLISH:
                _AMQTT[self.context.config.broker_id]._denied += 1
            return ok

    RegistryTopicPlugin.Config = Config
    return RegistryAuthPlugin, RegistryTopicPlugin


class AmqttBroker(Broker):
    """``amqtt`` running on its own event loop in a background thread of this process."""

    kind = "amqtt"

    def __init__(self, *args: Any, **kw: Any):
        super().__init__(*args, **kw)
        self._denied = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broker: Any = None
        self._id = f"b{id(self)}"

    @property
    def running(self) -> bool:
        return self._broker is not None

    def start(self) -> AmqttBroker:
        try:
            from amqtt.broker import Broker as _Broker
        except ImportError as exc:  # pragma: no cover - amqtt is a core dependency
            raise ConfigError("the amqtt broker needs `pip install amqtt`") from exc
        auth, topic = _amqtt_plugins()
        _AMQTT[self._id] = self
        # dotted paths that amqtt imports: expose the classes on this module
        globals()["RegistryAuthPlugin"], globals()["RegistryTopicPlugin"] = auth, topic
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}", "max_connections": 0}},
            "plugins": {f"{__name__}.RegistryAuthPlugin": {"broker_id": self._id},
                        f"{__name__}.RegistryTopicPlugin": {"broker_id": self._id}},
        }
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"amqtt-{self.port}", daemon=True)
        self._thread.start()

        async def boot() -> Any:
            broker = _Broker(config)
            await broker.start()
            return broker

        self._broker = asyncio.run_coroutine_threadsafe(boot(), self._loop).result(timeout=20)
        return self  # listening once start() has returned

    def stop(self) -> None:
        if self._broker is None or self._loop is None:
            return
        broker = self._broker

        async def shutdown() -> None:
            await broker.shutdown()
            # amqtt stops the sessions it has registered; a client still in its handshake keeps
            # an open socket, and would write into a dead broker until its keepalive expires.
            # Abort every connection left on this loop so that clients see the outage at once.
            loop = asyncio.get_running_loop()
            for transport in list(getattr(loop, "_transports", {}).values()):
                if transport is not None and not transport.is_closing():
                    transport.abort()
            me = asyncio.current_task()
            rest = [t for t in asyncio.all_tasks() if t is not me]
            for t in rest:
                t.cancel()
            await asyncio.gather(*rest, return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=20)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(timeout=10)
            self._loop.close()
            self._broker, self._loop, self._thread = None, None, None

    def reload(self) -> None:
        """Nothing to do: every login reads the registry."""

    def denied_publishes(self) -> int:
        return self._denied


# -- mosquitto, a child process -----------------------------------------------------------------

_DENIED_LINE = re.compile(rb"Denied PUBLISH from")


class MosquittoBroker(Broker):
    """The ``mosquitto`` binary (Debian package) started from a generated configuration: a
    listener on ``host:port``, no anonymous access, a password file with the registry's hashes
    (mosquitto's own format) and an ACL file. ``count_denied`` turns on debug logging, which is
    where mosquitto reports refused publishes (costly at high rates; off in benchmarks).
    ``persistence`` keeps sessions (the ingest service's subscription and the QoS 1 messages
    queued for it) in ``<workdir>/mosquitto.db`` across a restart of the broker, so that what
    devices publish after a restart, before ingest has reconnected, is not lost."""

    kind = "mosquitto"

    def __init__(self, *args: Any, count_denied: bool = True, binary: str | None = None, persistence: bool = True,
                 **kw: Any):
        super().__init__(*args, **kw)
        self.count_denied = count_denied
        self.persistence = persistence
        self.binary = binary or shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(self.binary).exists():
            raise ConfigError(
                "mosquitto is not installed; `apt-get install mosquitto` (scripts/system-deps.sh) "
                "or use the default broker: [iot] broker = \"amqtt\"")
        self._proc: subprocess.Popen | None = None
        self._log = self.workdir / "mosquitto.log"
        self._denied_before = 0

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _write_files(self) -> None:
        creds = self.registry.credentials()
        lines = [f"{SERVICE_USER}:{self._service_hash}"] + [f"{u}:{h}" for u, h in sorted(creds.items())]
        _write_private(self.workdir / "passwd", "\n".join(lines) + "\n")
        acl = [f"user {SERVICE_USER}", "topic readwrite #", "",
               f"pattern readwrite {TOPIC_ROOT}/%u/#", ""]
        _write_private(self.workdir / "acl", "\n".join(acl))
        log_types = ["error", "warning", "notice"] + (["debug"] if self.count_denied else [])
        conf = [
            f"listener {self.port} {self.host}",
            "allow_anonymous false",
            f"user {getpass.getuser()}",  # run as root, mosquitto would switch to `mosquitto` and lose the files
            f"password_file {self.workdir / 'passwd'}",
            f"acl_file {self.workdir / 'acl'}",
            *(["persistence true", f"persistence_location {self.workdir}/", "autosave_interval 60"]
              if self.persistence else ["persistence false"]),
            "set_tcp_nodelay true",
            "max_queued_messages 1000000",
            "max_inflight_messages 1000",
            f"log_dest file {self._log}",
            *[f"log_type {t}" for t in log_types],
        ]
        _write_private(self.workdir / "mosquitto.conf", "\n".join(conf) + "\n")

    def start(self) -> MosquittoBroker:
        if self.running:
            return self
        self._denied_before = self.denied_publishes()
        self._log.unlink(missing_ok=True)
        self._write_files()
        self._proc = subprocess.Popen(
            [self.binary, "-c", str(self.workdir / "mosquitto.conf")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        try:
            wait_for_port(self.host, self.port)
        except LaketownError:
            err = self._proc.stderr.read().decode(errors="replace") if self._proc.poll() is not None else ""
            self.stop()
            raise LaketownError(f"mosquitto did not start on {self.host}:{self.port}: {err.strip()[:500]}") from None
        return self

    def stop(self) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stderr:
            self._proc.stderr.close()
        self._proc = None

    def reload(self) -> None:
        """Rewrite the password and ACL files and signal mosquitto to re-read them."""
        self._write_files()
        if self.running:
            os.kill(self._proc.pid, signal.SIGHUP)
            time.sleep(0.2)  # mosquitto applies a reload on its next loop turn

    def denied_publishes(self) -> int:
        if not self._log.exists():
            return self._denied_before
        return self._denied_before + len(_DENIED_LINE.findall(self._log.read_bytes()))


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def open_broker(kind: str, registry: DeviceRegistry, workdir: str | Path, **kw: Any) -> Broker:
    """A broker of ``kind`` (``amqtt`` or ``mosquitto``), not started yet."""
    if kind == "amqtt":
        kw.pop("count_denied", None)
        kw.pop("persistence", None)
        return AmqttBroker(registry, workdir, **kw)
    if kind == "mosquitto":
        return MosquittoBroker(registry, workdir, **kw)
    raise ConfigError(f"unknown MQTT broker {kind!r}; use one of: {', '.join(BROKERS)}")


def broker_kind(ws: Any = None) -> str:
    """The configured broker: ``[iot] broker`` of the workspace's settings (``laketown.toml``,
    or ``LAKETOWN__IOT__BROKER`` through the settings loader); ``amqtt`` by default."""
    if ws is None:
        from laketown.config import load_settings

        return load_settings().iot.broker
    return ws.settings.iot.broker
