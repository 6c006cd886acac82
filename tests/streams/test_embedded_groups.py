"""Group leases of the embedded backend: a partition has one reader at a time."""

from __future__ import annotations

import os
import time

import pytest

from laketown.errors import StreamError
from laketown.streams.backends.embedded import EmbeddedStreams
from laketown.streams.backends.embedded_groups import range_assignment


def test_range_assignment_is_contiguous_and_deterministic():
    assert range_assignment(5, ["b", "a"]) == {"a": [0, 1, 2], "b": [3, 4]}
    assert range_assignment(2, ["a", "b", "c"]) == {"a": [0], "b": [1], "c": []}
    assert range_assignment(3, []) == {}


@pytest.fixture
def backend(tmp_path):
    b = EmbeddedStreams(tmp_path, session_timeout_s=1.0)
    b.create_stream("s", partitions=4)
    with b.producer("s") as producer:
        for p in range(4):
            producer.produce([b"%d-%d" % (p, i) for i in range(10)], partition=p)
    return b


def test_joining_member_waits_until_the_holder_lets_go(backend):
    c1 = backend.consumer("s", group="g")
    assert c1.poll(timeout_s=0.1).num_rows > 0 and c1.assignment() == [0, 1, 2, 3]
    c2 = backend.consumer("s", group="g")
    c2.poll(timeout_s=0.3)
    assert c2.assignment() == [], "the live holder has not released anything yet"
    c1.poll(timeout_s=0.1)  # c1 sees the new member and releases its share
    c2.poll(timeout_s=0.3)
    assert sorted(c1.assignment() + c2.assignment()) == [0, 1, 2, 3]
    assert not set(c1.assignment()) & set(c2.assignment())
    c1.close()
    c2.close()


def test_member_whose_session_expired_loses_partitions_and_cannot_commit(backend):
    c1 = backend.consumer("s", group="g")
    c1.poll(timeout_s=0.1)
    c1._member._stop.set()  # simulate a stalled process: no more heartbeats
    c1._member._thread.join()
    old = time.time() - 10
    os.utime(c1._member._member_file, (old, old))
    c2 = backend.consumer("s", group="g")
    c2.poll(timeout_s=0.3)
    assert c2.assignment() == [0, 1, 2, 3]
    with pytest.raises(StreamError, match="reassigned to another member"):
        c1.commit()
    c2.commit()
    assert backend.committed("s", "g") == {p: o for p, o in c2.positions().items()}
    c2.close()
    c1.close()
