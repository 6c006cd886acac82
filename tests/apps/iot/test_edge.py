"""Edge agent store-and-forward: broker outage, agent restart, bound and drop policy."""

from __future__ import annotations

import time

import pytest

from laketown.apps.iot.edge import EdgeAgent
from laketown.apps.iot.ingest import validate
from laketown.errors import ConfigError


def _records(start: int, n: int) -> list[dict]:
    return [{"ts": 1_000 + i, "n": i, "temp": 50.0 + i % 7} for i in range(start, start + n)]


def _ns(messages) -> list[int]:
    """The ``n`` of every distinct record received, in arrival order (repeats dropped by seq)."""
    v = validate([(t, p, 0) for t, p in messages], last_seq={})
    assert not v.errors
    return [r["n"] for r in v.records]


def _wait(cond, timeout_s=20.0):
    deadline = time.monotonic() + timeout_s
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.02)
    return cond()


def test_broker_outage_and_agent_restart_lose_nothing(broker, registry, collector_factory, tmp_path):
    secret = registry.register("d1")
    broker.reload()
    buf = tmp_path / "edge" / "d1.db"
    collector = collector_factory(broker)
    agent = EdgeAgent("d1", secret, broker.host, broker.port, buf, batch_records=25).start()
    agent.submit(_records(0, 100))
    assert agent.flush()
    assert _ns(collector.wait_for(4)) == list(range(100))

    collector.close()
    broker.stop()  # outage: records keep being buffered
    agent.submit(_records(100, 150))
    assert agent.buffered == 150
    agent.close()  # and the agent restarts during the outage

    broker.start()
    collector = collector_factory(broker)
    agent = EdgeAgent("d1", secret, broker.host, broker.port, buf, batch_records=25).start()
    assert agent.buffered == 150
    agent.submit(_records(250, 50))
    assert agent.flush()
    received = _ns(collector.wait_for(8))
    assert received == list(range(100, 300))
    assert agent.stats.dropped == 0
    agent.close()


def test_agent_keeps_buffering_while_broker_is_down_and_drains_in_order(broker, registry, collector_factory, tmp_path):
    secret = registry.register("d1")
    broker.reload()
    agent = EdgeAgent("d1", secret, broker.host, broker.port, tmp_path / "d1.db", batch_records=10).start()
    broker.stop()
    agent.submit(_records(0, 120))
    assert agent.buffered == 120
    agent.pause()  # hold forwarding until the collector listens again
    broker.start()
    collector = collector_factory(broker)
    agent.resume()
    assert agent.flush()
    assert _ns(collector.wait_for(12)) == list(range(120))
    agent.close()


def test_bound_drops_oldest_and_counts_across_restart(tmp_path):
    agent = EdgeAgent("d1", "s", "127.0.0.1", 1, tmp_path / "b.db", max_records=50, drop="oldest")
    assert agent.submit(_records(0, 40)) == 40
    assert agent.submit(_records(40, 30)) == 30
    assert agent.buffered == 50 and agent.stats.dropped == 20
    agent.close()
    again = EdgeAgent("d1", "s", "127.0.0.1", 1, tmp_path / "b.db", max_records=50, drop="oldest")
    assert again.stats.dropped == 20
    first = again._next_batch()[0][1]
    assert b'"n":20' in first  # the 20 oldest went
    again.close()


def test_bound_drop_newest_refuses_new_records(tmp_path):
    agent = EdgeAgent("d1", "s", "127.0.0.1", 1, tmp_path / "b.db", max_records=10, drop="newest")
    assert agent.submit(_records(0, 8)) == 8
    assert agent.submit(_records(8, 5)) == 2
    assert agent.buffered == 10 and agent.stats.dropped == 3
    agent.close()


def test_unknown_drop_policy_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="drop policy 'random'"):
        EdgeAgent("d1", "s", "127.0.0.1", 1, tmp_path / "b.db", drop="random")
