"""Device identity on both brokers: credentials, disabled things and topic ACLs."""

from __future__ import annotations

import time

import pytest

from laketown.apps.iot import mqtt
from laketown.apps.iot.credentials import verify_secret
from laketown.apps.iot.registry import device_topic
from laketown.errors import ConfigError


def test_wrong_password_is_refused(broker, registry):
    registry.register("d1", thing_type="pump")
    broker.reload()
    with pytest.raises(mqtt.ConnectionRefusedByBroker, match="'d1'"):
        mqtt.connect(broker.host, broker.port, "d1", "d1", "not-the-secret")


def test_unknown_thing_is_refused(broker):
    with pytest.raises(mqtt.ConnectionRefusedByBroker):
        mqtt.connect(broker.host, broker.port, "ghost", "ghost", "anything")


def test_disabled_device_is_refused_and_enabled_again_accepted(broker, registry):
    secret = registry.register("d2", thing_group="plant1")
    registry.set_enabled("d2", False)
    broker.reload()
    with pytest.raises(mqtt.ConnectionRefusedByBroker):
        mqtt.connect(broker.host, broker.port, "d2", "d2", secret)
    registry.set_enabled("d2", True)
    broker.reload()
    c = mqtt.connect(broker.host, broker.port, "d2", "d2", secret)
    c.disconnect()
    c.loop_stop()


def test_publishing_to_another_devices_topic_is_refused_and_counted(broker, registry, collector_factory):
    s1 = registry.register("d1")
    registry.register("d2")
    broker.reload()
    collector = collector_factory(broker)
    c = mqtt.connect(broker.host, broker.port, "d1", "d1", s1)
    c.publish(device_topic("d2"), b'{"ts": 1}', qos=1).wait_for_publish(10)
    c.publish("plant/other", b'{"ts": 1}', qos=1).wait_for_publish(10)
    c.publish(device_topic("d1"), b'{"ts": 2}', qos=1).wait_for_publish(10)
    got = collector.wait_for(1)
    # the own-topic message arrives after the refused ones (same connection, in order)
    time.sleep(0.2)
    assert [t for t, _ in collector.messages] == ["devices/d1/telemetry"]
    assert got[0][1] == b'{"ts": 2}'
    deadline = time.monotonic() + 10
    while broker.denied_publishes() < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert broker.denied_publishes() == 2
    c.disconnect()
    c.loop_stop()


def test_registry_stores_only_hashes(registry, tmp_path):
    secret = registry.register("d9")
    raw = (tmp_path / "registry.db").read_bytes()
    assert secret.encode() not in raw
    assert verify_secret(secret, registry.credentials()["d9"])
    assert not verify_secret("wrong", registry.credentials()["d9"])


def test_registry_refuses_bad_names_and_unknown_groups(registry):
    with pytest.raises(ConfigError, match="not valid"):
        registry.register("a/b")
    with pytest.raises(ConfigError, match="unknown thing group 'nope'"):
        registry.register("d1", thing_group="nope")
