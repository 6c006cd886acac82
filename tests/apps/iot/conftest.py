"""Real MQTT brokers for the IoT tests: amqtt in-process and mosquitto as a child process,
each on 127.0.0.1 with a free port, users and ACLs from a fresh device registry."""

from __future__ import annotations

import threading
import time

import pytest

from laketown.apps.iot import mqtt
from laketown.apps.iot.broker import open_broker
from laketown.apps.iot.registry import DeviceRegistry

BROKER_KINDS = ["amqtt", "mosquitto"]


@pytest.fixture
def registry(tmp_path):
    reg = DeviceRegistry(tmp_path / "registry.db")
    reg.create_type("pump", {"sensors": 6})
    reg.create_group("plant1")
    yield reg
    reg.close()


@pytest.fixture(params=BROKER_KINDS)
def broker(request, registry, tmp_path):
    b = open_broker(request.param, registry, tmp_path / f"broker-{request.param}").start()
    yield b
    b.stop()


class Collector:
    """A service subscriber that keeps every message it receives."""

    def __init__(self, broker, topic="devices/#"):
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        user, secret = broker.service_credentials
        self.client = mqtt.connect(broker.host, broker.port, f"collector-{id(self)}", user, secret)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.subscribe(topic, qos=1)
        assert self._subscribed.wait(10), "subscription was not acknowledged"

    def _on_message(self, client, userdata, msg):
        with self._lock:
            self.messages.append((msg.topic, msg.payload))

    def wait_for(self, n: int, timeout_s: float = 20.0) -> list[tuple[str, bytes]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and len(self.messages) < n:
            time.sleep(0.02)
        return list(self.messages)

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def collector_factory():
    made = []

    def make(broker, topic="devices/#"):
        c = Collector(broker, topic)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()
