"""Where generated events go: a Kafka topic (wire-format values) or an Avro container file."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

from confluent_kafka import KafkaError, KafkaException, Message, Producer

# NewTopic: the documented import path, but the package's type information does not export it.
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    NewTopic,
)
from fastavro.write import Writer

from common.config import StackConfig
from common.serde import ParsedSchema

# Throughput over latency: batches fill for up to LINGER_MS, compress with lz4, and the client
# queue is big enough that producing rarely waits for the broker. Idempotence (with acks=all)
# keeps retries from duplicating or reordering records within a partition.
PRODUCER_SETTINGS: dict[str, str | int | bool] = {
    "client.id": "featurestream-generator",
    "acks": "all",
    "enable.idempotence": True,
    "compression.type": "lz4",
    "linger.ms": 25,
    "batch.size": 1_000_000,
    "batch.num.messages": 10_000,
    "queue.buffering.max.messages": 1_000_000,
    "queue.buffering.max.kbytes": 1_048_576,
    # A callback per failed record only: a per-record success callback costs a Python call each.
    "delivery.report.only.error": True,
}
POLL_EVERY = 1_000  # serve delivery callbacks after this many records
FULL_QUEUE_WAIT_S = 0.05
TOPIC_TIMEOUT_S = 30.0


def _admin(config: StackConfig) -> AdminClient:
    # log_level 4 (warnings): librdkafka's info line about purging its queue on close is noise.
    return AdminClient({"bootstrap.servers": config.bootstrap_servers, "log_level": 4})


def topic_exists(config: StackConfig, topic: str) -> bool:
    """Whether ``topic`` exists (without auto-creating it)."""
    return topic in _admin(config).list_topics(timeout=TOPIC_TIMEOUT_S).topics


def ensure_topic(config: StackConfig, topic: str) -> bool:
    """Create ``topic`` with ``config.kafka_partitions`` partitions unless it exists.

    Returns:
        Whether the topic was created.
    """
    admin = _admin(config)
    # All topics rather than ``topic=``: asking for one topic by name can auto-create it with the
    # broker's default partition count.
    existing = admin.list_topics(timeout=TOPIC_TIMEOUT_S).topics
    if topic in existing:
        return False
    new_topic = NewTopic(topic, num_partitions=config.kafka_partitions, replication_factor=-1)
    future = admin.create_topics([new_topic], operation_timeout=TOPIC_TIMEOUT_S)[topic]
    try:
        future.result(timeout=TOPIC_TIMEOUT_S)
    except KafkaException as exc:
        if exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
            return False  # created by someone else in the meantime
        raise
    return True


class KafkaSink:
    """Produces wire-format values to one topic, as fast as the client allows.

    Args:
        config: The stack to produce to.
        topic: Destination topic.
        settings: librdkafka settings on top of ``PRODUCER_SETTINGS``.
    """

    def __init__(
        self, config: StackConfig, topic: str, settings: Mapping[str, Any] | None = None
    ) -> None:
        self.topic = topic
        self.destination = f"kafka topic {topic} at {config.bootstrap_servers}"
        self.failures = 0
        self.first_failure: str | None = None
        self._unpolled = 0
        self._producer = Producer(
            {
                **PRODUCER_SETTINGS,
                "bootstrap.servers": config.bootstrap_servers,
                "on_delivery": self._on_delivery,
                **(settings or {}),
            }
        )

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self.failures += 1
            if self.first_failure is None:
                self.first_failure = str(error)

    def send(self, key: bytes, value: bytes) -> None:
        """Queue one record; waits only while the client's queue is full."""
        try:
            self._producer.produce(self.topic, value, key)
        except BufferError:
            self._send_when_queue_drains(key, value)
        self._unpolled += 1
        if self._unpolled >= POLL_EVERY:
            self._producer.poll(0)
            self._unpolled = 0

    def _send_when_queue_drains(self, key: bytes, value: bytes) -> None:
        while True:
            self._producer.poll(FULL_QUEUE_WAIT_S)  # let the broker drain the queue
            try:
                self._producer.produce(self.topic, value, key)
                return
            except BufferError:
                continue

    def close(self) -> int:
        """Wait for every queued record to be delivered or to fail.

        Returns:
            Records that failed delivery (including any still queued when flushing gave up).
        """
        remaining = self._producer.flush()
        self.failures += remaining
        if remaining and self.first_failure is None:
            self.first_failure = f"{remaining} records still queued after flush"
        return self.failures


class FileSink:
    """Writes records to an Avro object container file (deflate codec, schema in the header).

    Args:
        path: File to create or overwrite.
        schema: Parsed schema of the records.
    """

    def __init__(self, path: Path, schema: ParsedSchema) -> None:
        self.path = path
        self.destination = f"file {path}"
        self.failures = 0
        self.first_failure: str | None = None
        self._file: BinaryIO = path.open("wb")
        self._writer = Writer(self._file, schema, codec="deflate")

    def write(self, record: dict[str, Any]) -> None:
        """Append one record (buffered into blocks by fastavro)."""
        self._writer.write(record)

    def close(self) -> int:
        """Flush the last block and close the file; returns 0 (no delivery can fail)."""
        try:
            self._writer.flush()
        finally:
            self._file.close()
        return 0
