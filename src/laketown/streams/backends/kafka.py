"""The Kafka streams backend, over ``confluent-kafka`` (any Kafka-protocol broker: Apache
Kafka, MSK, Redpanda, Tansu).

Only this module imports ``confluent_kafka``; the registry turns its absence into an error
naming the ``kafka`` extra. Partitions are picked by :func:`partition_for_key` on the client,
so a key lands in the same partition as on the embedded backend.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from functools import partial
from typing import Any, ClassVar

import confluent_kafka
import pyarrow as pa
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from laketown.errors import StreamError
from laketown.streams.base import (
    RECORD_SCHEMA,
    Ack,
    Consumer,
    Position,
    Producer,
    StreamBackend,
    StreamInfo,
    partition_for_key,
)

#: client defaults chosen so groups form and rebalance within seconds on a local broker
CONSUMER_DEFAULTS = {
    "session.timeout.ms": "6000",
    "heartbeat.interval.ms": "1000",
    "enable.auto.commit": "false",
    "enable.partition.eof": "false",
    "topic.metadata.refresh.interval.ms": "2000",
}
PRODUCER_DEFAULTS = {"linger.ms": "5", "acks": "all"}
ADMIN_TIMEOUT_S = 15.0
HEADERS_TYPE = RECORD_SCHEMA.field("headers").type


def _split(properties: dict[str, str], prefix: str) -> dict[str, str]:
    """Properties for one client kind: ``producer.x`` only to producers, ``consumer.x`` only
    to consumers, unprefixed ones to every client."""
    out = {}
    for key, value in properties.items():
        head, _, rest = key.partition(".")
        if head in ("producer", "consumer", "admin"):
            if head == prefix:
                out[rest] = value
        else:
            out[key] = value
    return out


class KafkaStreams(StreamBackend):
    """Streams on a Kafka cluster reached at ``bootstrap_servers``."""

    name: ClassVar[str] = "kafka"
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"timestamps", "headers", "retention", "groups", "multi-process"}
    )

    def __init__(self, bootstrap_servers: str, properties: dict[str, str] | None = None):
        if not bootstrap_servers:
            raise StreamError("the kafka streams backend needs bootstrap_servers, e.g. '127.0.0.1:9092'")
        self.bootstrap_servers = bootstrap_servers
        self.properties = dict(properties or {})
        self._admin = AdminClient(self._conf("admin"))
        self._meta_consumer: confluent_kafka.Consumer | None = None

    def _conf(self, kind: str, defaults: dict[str, str] | None = None) -> dict[str, Any]:
        return {**(defaults or {}), **_split(self.properties, kind), "bootstrap.servers": self.bootstrap_servers}

    def _watermark_client(self) -> confluent_kafka.Consumer:
        if self._meta_consumer is None:
            conf = self._conf("consumer", {"enable.auto.commit": "false"})
            conf["group.id"] = f"laketown-metadata-{uuid.uuid4().hex[:8]}"
            self._meta_consumer = confluent_kafka.Consumer(conf)
        return self._meta_consumer

    def _partitions(self, name: str) -> int:
        # ask for all topics: a metadata request naming one may auto-create it on some brokers
        topic = self._admin.list_topics(timeout=ADMIN_TIMEOUT_S).topics.get(name)
        if topic is None or topic.error is not None or not topic.partitions:
            known = ", ".join(s for s in self._topic_names()) or "none"
            raise StreamError(f"unknown stream {name!r} on {self.bootstrap_servers}; streams: {known}. Create it first")
        return len(topic.partitions)

    def _topic_names(self) -> list[str]:
        md = self._admin.list_topics(timeout=ADMIN_TIMEOUT_S)
        return sorted(t for t in md.topics if not t.startswith("__"))

    # -- admin -----------------------------------------------------------------------------
    def create_stream(
        self,
        name: str,
        partitions: int = 1,
        retention_ms: int | None = None,
        retention_bytes: int | None = None,
        exist_ok: bool = False,
    ) -> StreamInfo:
        if not isinstance(partitions, int) or partitions < 1:
            raise StreamError(f"partitions must be an int >= 1, got {partitions!r}")
        config = {}
        if retention_ms is not None:
            config["retention.ms"] = str(retention_ms)
        if retention_bytes is not None:
            config["retention.bytes"] = str(retention_bytes)
        future = self._admin.create_topics([NewTopic(name, partitions, 1, config=config)])[name]
        try:
            future.result(timeout=ADMIN_TIMEOUT_S)
        except KafkaException as exc:
            err = exc.args[0]
            if err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                if exist_ok:
                    return self.describe(name)
                raise StreamError(
                    f"stream {name!r} already exists on {self.bootstrap_servers}; pass exist_ok=True to reuse it"
                ) from None
            raise StreamError(f"cannot create stream {name!r} with {partitions} partitions: {err.str()}") from exc
        deadline = time.monotonic() + ADMIN_TIMEOUT_S
        while True:  # metadata reaches every client a little after the create returns
            topic = self._admin.list_topics(timeout=ADMIN_TIMEOUT_S).topics.get(name)
            if topic is not None and topic.error is None and len(topic.partitions) == partitions:
                break
            if time.monotonic() > deadline:
                raise StreamError(
                    f"stream {name!r} was created but its {partitions} partitions never appeared in metadata"
                )
            time.sleep(0.05)
        return StreamInfo(name, partitions, retention_ms, retention_bytes, dict.fromkeys(range(partitions), 0))

    def delete_stream(self, name: str) -> None:
        self._partitions(name)  # unknown stream -> a StreamError that lists the known ones
        try:
            self._admin.delete_topics([name])[name].result(timeout=ADMIN_TIMEOUT_S)
        except KafkaException as exc:
            raise StreamError(f"cannot delete stream {name!r}: {exc.args[0].str()}") from exc
        deadline = time.monotonic() + ADMIN_TIMEOUT_S
        while name in self._topic_names() and time.monotonic() < deadline:
            time.sleep(0.05)

    def list_streams(self) -> list[StreamInfo]:
        return [self.describe(n) for n in self._topic_names()]

    def _retention(self, name: str) -> tuple[int | None, int | None]:
        try:
            resource = ConfigResource(ConfigResource.Type.TOPIC, name)
            configs = self._admin.describe_configs([resource])[resource].result(timeout=ADMIN_TIMEOUT_S)
        except KafkaException:
            return None, None

        def value(key: str) -> int | None:
            entry = configs.get(key)
            if entry is None or entry.value is None or int(entry.value) < 0:
                return None
            return int(entry.value)

        return value("retention.ms"), value("retention.bytes")

    def describe(self, name: str) -> StreamInfo:
        partitions = self._partitions(name)
        client = self._watermark_client()
        ends = {}
        for p in range(partitions):
            _low, high = client.get_watermark_offsets(TopicPartition(name, p), timeout=ADMIN_TIMEOUT_S, cached=False)
            ends[p] = int(high)
        retention_ms, retention_bytes = self._retention(name)
        return StreamInfo(name, partitions, retention_ms, retention_bytes, ends)

    def committed(self, stream: str, group: str) -> dict[int, int]:
        from confluent_kafka import ConsumerGroupTopicPartitions

        partitions = self._partitions(stream)
        request = ConsumerGroupTopicPartitions(group, [TopicPartition(stream, p) for p in range(partitions)])
        result = self._admin.list_consumer_group_offsets([request])[group].result(timeout=ADMIN_TIMEOUT_S)
        return {tp.partition: tp.offset for tp in result.topic_partitions if tp.offset >= 0 and tp.error is None}

    # -- clients ---------------------------------------------------------------------------
    def producer(self, stream: str) -> KafkaProducer:
        return KafkaProducer(self, stream, self._partitions(stream))

    def consumer(
        self,
        stream: str,
        group: str | None = None,
        partitions: Sequence[int] | None = None,
        start: Position = "earliest",
    ) -> KafkaConsumer:
        if start not in ("earliest", "latest"):
            raise StreamError(f"start must be 'earliest' or 'latest', got {start!r}")
        if group is not None and partitions is not None:
            raise StreamError("give either group= (coordinated) or partitions= (explicit), not both")
        count = self._partitions(stream)
        if group is None:
            partitions = list(range(count)) if partitions is None else list(partitions)
            bad = [p for p in partitions if not 0 <= p < count]
            if bad:
                raise StreamError(f"stream {stream!r} has partitions 0..{count - 1}; got {bad}")
        return KafkaConsumer(self, stream, group, partitions, start)

    def close(self) -> None:
        if self._meta_consumer is not None:
            self._meta_consumer.close()
            self._meta_consumer = None
        self._admin = _ClosedAdmin()  # drops the librdkafka handle now, not at garbage collection


class _ClosedAdmin:
    def __getattr__(self, name: str) -> Any:
        raise StreamError("this KafkaStreams backend is closed; create a new one")


class KafkaProducer(Producer):
    """Produces batches; ``produce`` returns once the broker acknowledged every record."""

    def __init__(self, backend: KafkaStreams, stream: str, partitions: int):
        self.stream = stream
        self.partitions = partitions
        self._producer = confluent_kafka.Producer(backend._conf("producer", PRODUCER_DEFAULTS))
        self._round_robin = 0
        self._closed = False

    def produce(
        self,
        values: Sequence[bytes],
        keys: Sequence[bytes | None] | None = None,
        headers: Sequence[dict[str, bytes] | None] | None = None,
        timestamps_ms: Sequence[int] | None = None,
        partition: int | None = None,
    ) -> Ack:
        if self._closed:
            raise StreamError(f"producer of stream {self.stream!r} is closed; open a new one")
        n = len(values)
        self.check_batch(self.stream, self.partitions, values, keys, headers, timestamps_ms, partition)
        fallback = self._round_robin % self.partitions
        self._round_robin += 1
        parts = [0] * n
        offsets = [-1] * n
        errors: list[str] = []

        def delivered(i: int, err: KafkaError | None, msg: confluent_kafka.Message) -> None:
            if err is not None:
                errors.append(err.str())
            else:
                parts[i] = msg.partition()
                offsets[i] = msg.offset()

        produce = self._producer.produce
        topic = self.stream
        for i in range(n):
            value = values[i]
            key = None if keys is None else keys[i]
            p = partition if partition is not None else partition_for_key(key, self.partitions, fallback)
            kw: dict[str, Any] = {"key": key, "partition": p, "on_delivery": partial(delivered, i)}
            if headers is not None and headers[i]:
                kw["headers"] = list(headers[i].items())  # type: ignore[union-attr]
            if timestamps_ms is not None:
                kw["timestamp"] = int(timestamps_ms[i])
            while True:
                try:
                    produce(topic, value, **kw)
                    break
                except BufferError:  # local queue full: let deliveries drain
                    self._producer.poll(0.05)
        left = self._producer.flush(ADMIN_TIMEOUT_S * 4)
        if errors or left:
            raise StreamError(
                f"{len(errors) + left} of {n} records to {topic!r} were not acknowledged"
                f"{': ' + errors[0] if errors else ' in time'}; produce them again"
            )
        return Ack(parts, offsets)

    def flush(self) -> None:
        self._producer.flush(ADMIN_TIMEOUT_S * 4)

    def close(self) -> None:
        if not self._closed:
            self.flush()
            self._closed = True
            self._producer = None  # type: ignore[assignment]  # librdkafka handle goes with it


class KafkaConsumer(Consumer):
    """A confluent-kafka consumer that returns Arrow tables."""

    def __init__(
        self,
        backend: KafkaStreams,
        stream: str,
        group: str | None,
        partitions: list[int] | None,
        start: Position,
    ):
        self.stream = stream
        self.group = group
        conf = backend._conf("consumer", CONSUMER_DEFAULTS)
        conf["group.id"] = group if group is not None else f"laketown-reader-{uuid.uuid4().hex[:8]}"
        conf["auto.offset.reset"] = start
        self._consumer = confluent_kafka.Consumer(conf)
        self._positions: dict[int, int] = {}
        self._not_before: dict[int, int] = {}  # partition -> timestamp floor after seek_to_timestamp
        self._assigned: set[int] = set()
        self._closed = False
        if group is not None:
            self._consumer.subscribe(
                [stream], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_revoke
            )
        else:
            self._consumer.assign([TopicPartition(stream, p, self._resolve(p, start)) for p in partitions or []])
            self._assigned = set(partitions or [])

    def _resolve(self, partition: int, position: Position) -> int:
        """``earliest`` stays logical; ``latest`` becomes the end offset now, so records
        produced after this call are never skipped by a lazily resolved end."""
        if position == "earliest":
            return confluent_kafka.OFFSET_BEGINNING
        tp = TopicPartition(self.stream, partition)
        _low, high = self._consumer.get_watermark_offsets(tp, timeout=ADMIN_TIMEOUT_S, cached=False)
        return int(high)

    def _on_assign(self, _consumer: Any, tps: list[TopicPartition]) -> None:
        self._assigned = {tp.partition for tp in tps}

    def _on_revoke(self, _consumer: Any, tps: list[TopicPartition]) -> None:
        for tp in tps:
            self._assigned.discard(tp.partition)
            self._positions.pop(tp.partition, None)
            self._not_before.pop(tp.partition, None)

    def _check_open(self) -> None:
        if self._closed:
            raise StreamError(f"consumer of stream {self.stream!r} is closed; open a new one")

    def poll(self, max_records: int = 10_000, timeout_s: float = 1.0) -> pa.Table:
        self._check_open()
        messages = self._consumer.consume(num_messages=max_records, timeout=timeout_s)
        good = []
        for m in messages:
            err = m.error()
            if err is None:
                good.append(m)
            elif err.fatal() or err.code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_PARTITION):
                raise StreamError(f"consuming {self.stream!r} failed: {err.str()}")
        if self._not_before:
            good = self._drop_before_seek_time(good)
        if not good:
            return RECORD_SCHEMA.empty_table()
        part = [m.partition() for m in good]
        offs = [m.offset() for m in good]
        for p, o in zip(part, offs):
            self._positions[p] = o + 1
        heads = [m.headers() for m in good]
        columns = [
            pa.array(part, pa.int32()),
            pa.array(offs, pa.int64()),
            pa.array([m.timestamp()[1] for m in good], pa.int64()),
            pa.array([m.key() for m in good], pa.binary()),
            pa.array([m.value() for m in good], pa.binary()),
            pa.array(heads, HEADERS_TYPE) if any(heads) else pa.nulls(len(good), HEADERS_TYPE),
        ]
        return pa.Table.from_arrays(columns, schema=RECORD_SCHEMA)

    def _drop_before_seek_time(self, messages: list) -> list:
        """After ``seek_to_timestamp``, skip records before the first one at or after the time
        (brokers whose ListOffsets answer is coarser than one record, e.g. Tansu, land early)."""
        out = []
        for m in messages:
            floor = self._not_before.get(m.partition())
            if floor is not None:
                if m.timestamp()[1] < floor:
                    self._positions[m.partition()] = m.offset() + 1
                    continue
                del self._not_before[m.partition()]
            out.append(m)
        return out

    def commit(self, offsets: dict[int, int] | None = None) -> None:
        self._check_open()
        if self.group is None:
            raise StreamError(
                f"this consumer of {self.stream!r} has no group; pass group= to backend.consumer() to commit offsets"
            )
        chosen = dict(self._positions) if offsets is None else dict(offsets)
        if not chosen:
            return
        tps = [TopicPartition(self.stream, p, int(o)) for p, o in sorted(chosen.items())]
        try:
            self._consumer.commit(offsets=tps, asynchronous=False)
        except KafkaException as exc:
            raise StreamError(
                f"commit of {chosen} to group {self.group!r} failed: {exc.args[0].str()}; poll again and retry"
            ) from exc

    def seek(self, partition: int, offset: int | Position) -> None:
        self._check_open()
        if offset in ("earliest", "latest"):
            target = self._resolve(partition, offset)  # type: ignore[arg-type]
        elif isinstance(offset, int) and offset >= 0:
            target = offset
        else:
            raise StreamError(f"offset must be an int >= 0, 'earliest' or 'latest', got {offset!r}")
        if partition not in self.assignment():
            raise StreamError(f"partition {partition} is not assigned to this consumer; assigned: {self.assignment()}")
        self._not_before.pop(partition, None)
        self._seek(TopicPartition(self.stream, partition, target))

    def _seek(self, tp: TopicPartition) -> None:
        deadline = time.monotonic() + 10
        while True:
            try:
                self._consumer.seek(tp)
                break
            except KafkaException as exc:  # the partition is assigned but not fetching yet
                if exc.args[0].code() != KafkaError._STATE or time.monotonic() > deadline:
                    raise StreamError(
                        f"cannot seek partition {tp.partition} of {self.stream!r}: {exc.args[0].str()}"
                    ) from exc
                time.sleep(0.05)
        if tp.offset >= 0:
            self._positions[tp.partition] = tp.offset
        else:
            self._positions.pop(tp.partition, None)

    def seek_to_timestamp(self, timestamp_ms: int) -> None:
        self._check_open()
        parts = self.assignment()
        if not parts:
            return
        request = [TopicPartition(self.stream, p, int(timestamp_ms)) for p in parts]
        found = self._consumer.offsets_for_times(request, timeout=ADMIN_TIMEOUT_S)
        for tp in found:
            target = tp.offset if tp.offset >= 0 else confluent_kafka.OFFSET_END
            self._seek(TopicPartition(self.stream, tp.partition, target))
            self._not_before[tp.partition] = int(timestamp_ms)

    def assignment(self) -> list[int]:
        if self.group is not None and not self._closed:
            return sorted(tp.partition for tp in self._consumer.assignment())
        return sorted(self._assigned)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._consumer.close()
