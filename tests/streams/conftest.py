"""Fixtures of the streams suite: every test that takes ``backend`` runs on the embedded log
and on Kafka (a real Tansu broker on 127.0.0.1, started here and killed by PID)."""

from __future__ import annotations

import uuid

import pytest

from laketown.streams.backends.embedded import EmbeddedStreams

#: Tansu 0.6.0 (memory storage) answers ListOffsets(latest) with the base offset of the last
#: record batch + 1, not the end of the log, so end offsets, lag and seek("latest") are wrong
#: after a multi-record batch. Producing one record per batch works around it for the shared
#: suite; test_end_offsets_after_multi_record_batches shows the broker gap as a strict xfail.
TANSU_ONE_RECORD_PER_BATCH = {"producer.batch.num.messages": "1"}
TANSU_HIGH_WATERMARK_GAP = (
    "Tansu 0.6.0 reports the high watermark as the last batch's base offset + 1, "
    "so end offsets after a multi-record batch are too small"
)


def _make_backend(kind: str, tmp_path, request, properties: dict[str, str] | None = None):
    if kind == "embedded":
        return EmbeddedStreams(tmp_path / "streams", session_timeout_s=2.0)
    from laketown.streams.backends.kafka import KafkaStreams

    tansu = request.getfixturevalue("tansu")
    return KafkaStreams(tansu.bootstrap_servers, properties)


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.service)])
def backend(request, tmp_path):
    """Each streams backend, fresh (Kafka: a shared broker, unique stream names per test)."""
    b = _make_backend(request.param, tmp_path, request, TANSU_ONE_RECORD_PER_BATCH)
    yield b
    b.close()


@pytest.fixture(
    params=[
        "embedded",
        pytest.param(
            "kafka",
            marks=[
                pytest.mark.service,
                pytest.mark.xfail(raises=AssertionError, strict=True, reason=TANSU_HIGH_WATERMARK_GAP),
            ],
        ),
    ]
)
def batched_backend(request, tmp_path):
    """Each backend with default client settings; Kafka lingers long enough that a produce
    call always travels as one multi-record batch."""
    b = _make_backend(request.param, tmp_path, request, {"producer.linger.ms": "200"})
    yield b
    b.close()


@pytest.fixture
def stream():
    """A stream name no other test uses (the Tansu broker is shared by the session)."""
    return f"t-{uuid.uuid4().hex[:10]}"
