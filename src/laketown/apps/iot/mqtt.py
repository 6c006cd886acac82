"""Connecting to the broker with ``paho-mqtt`` (MQTT 3.1.1), the same way for every broker."""

from __future__ import annotations

import threading
from typing import Any

from laketown.errors import LaketownError


class ConnectionRefusedByBroker(LaketownError):
    """The broker refused the login (wrong secret, unknown or disabled thing)."""


def client(client_id: str, username: str, secret: str, clean_session: bool = True) -> Any:
    """A paho client with credentials set (not connected)."""
    import paho.mqtt.client as mqtt

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean_session,
                    protocol=mqtt.MQTTv311)
    c.username_pw_set(username, secret)
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    return c


def connect(host: str, port: int, client_id: str, username: str, secret: str, timeout_s: float = 10.0,
            clean_session: bool = True) -> Any:
    """A connected client with its network loop running; raises :class:`ConnectionRefusedByBroker`
    when the broker refuses the login (the secret is never part of the message)."""
    c = client(client_id, username, secret, clean_session)
    done = threading.Event()
    result: dict[str, Any] = {}

    def on_connect(cl: Any, userdata: Any, flags: Any, reason: Any, props: Any = None) -> None:
        result["rc"] = reason
        done.set()

    c.on_connect = on_connect
    try:
        c.connect(host, port, keepalive=30)
    except OSError as exc:
        raise LaketownError(f"cannot reach the MQTT broker at {host}:{port}: {exc}") from exc
    c.loop_start()
    if not done.wait(timeout_s):
        c.loop_stop()
        raise LaketownError(f"no answer from the MQTT broker at {host}:{port} within {timeout_s}s")
    rc = result["rc"]
    if getattr(rc, "is_failure", False):
        c.loop_stop()
        c.disconnect()
        raise ConnectionRefusedByBroker(f"the MQTT broker at {host}:{port} refused {username!r}: {rc}")
    c.on_connect = None
    return c
