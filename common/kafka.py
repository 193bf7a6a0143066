"""Small Kafka helpers shared by the CLI, the demo and tests (confluent-kafka underneath)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, TopicPartition

from common.config import StackConfig


@dataclass(frozen=True)
class Record:
    """One consumed record."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int


def end_offsets(config: StackConfig, topic: str) -> dict[int, int]:
    """The committed end offset (high watermark) of each partition of ``topic``."""
    consumer = Consumer(
        {
            "bootstrap.servers": config.bootstrap_servers,
            "group.id": f"fs-offsets-{uuid.uuid4()}",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        ends = {}
        for partition in metadata.partitions:
            _low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=10
            )
            ends[partition] = high
        return ends
    finally:
        consumer.close()


def committed_offsets(config: StackConfig, group: str, topic: str) -> dict[int, int]:
    """The offsets ``group`` has committed on each partition of ``topic`` (-1: none yet)."""
    consumer = Consumer(
        {
            "bootstrap.servers": config.bootstrap_servers,
            "group.id": group,
            "enable.auto.commit": False,
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        wanted = [TopicPartition(topic, p) for p in metadata.partitions]
        return {tp.partition: tp.offset for tp in consumer.committed(wanted, timeout=10)}
    finally:
        consumer.close()


def read_topic(
    config: StackConfig,
    topic: str,
    *,
    expected: int | None = None,
    timeout_s: float = 60.0,
    idle_s: float = 3.0,
) -> Iterator[Record]:
    """Read ``topic`` from the beginning as a ``read_committed`` consumer.

    Stops after ``expected`` records, or (when ``expected`` is None) once every partition's end
    offset, as of the call, is reached; raises TimeoutError if that does not happen within
    ``timeout_s``. ``idle_s`` bounds each poll.
    """
    consumer = Consumer(
        {
            "bootstrap.servers": config.bootstrap_servers,
            "group.id": f"fs-read-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    targets = end_offsets(config, topic) if expected is None else None
    consumer.subscribe([topic])
    seen = 0
    positions: dict[int, int] = {}
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            if expected is not None and seen >= expected:
                return
            if targets is not None and all(
                positions.get(p, 0) >= end for p, end in targets.items()
            ):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"read {seen} records of {topic} in {timeout_s:.0f}s"
                    + (f", expected {expected}" if expected is not None else "")
                )
            message = consumer.poll(idle_s)
            if message is None:
                if targets is not None:
                    # Transaction markers occupy offsets no record has: ask for the positions.
                    for tp in consumer.position(consumer.assignment()):
                        if tp.offset >= 0:
                            positions[tp.partition] = max(positions.get(tp.partition, 0), tp.offset)
                continue
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                raise RuntimeError(f"consuming {topic}: {error}")
            partition, offset = message.partition() or 0, message.offset() or 0
            positions[partition] = offset + 1
            seen += 1
            yield Record(
                topic=message.topic() or topic,
                partition=partition,
                offset=offset,
                key=message.key(),
                value=message.value(),
                timestamp_ms=message.timestamp()[1],
            )
    finally:
        consumer.close()
