"""Generated events round-trip through the real broker and registry and decode equal.

Decoding uses confluent-kafka's own AvroDeserializer, so this also proves the generator's
hand-framed Confluent wire format is what Confluent clients expect.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from common import registry, serde
from common.config import StackConfig
from common.generate.malformed import MalformedKind
from common.generate.runner import generate_events, produce
from common.kafka import read_topic

pytestmark = pytest.mark.integration

START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def _as_written(record: dict) -> dict:
    """A generated record as a Confluent deserializer returns it (timestamps as datetimes)."""
    out = dict(record)
    out["event_time"] = datetime.fromtimestamp(record["event_time"] / 1000, tz=UTC)
    return out


@pytest.mark.parametrize("kind", ["payments", "trades"])
def test_10k_events_round_trip_and_decode_equal(
    stack_config: StackConfig, unique_topic, kind: str
) -> None:
    topic = unique_topic(kind)
    summary = produce(
        kind, stack_config, count=10_000, seed=11, start=START, topic=topic, disorder_ms=200
    )
    assert summary.ok and summary.records == 10_000 and summary.bad_total == 0

    deserializer = AvroDeserializer(registry.client(stack_config))
    context = SerializationContext(topic, MessageField.VALUE)
    received = {}
    keys = {}
    for record in read_topic(stack_config, topic, expected=10_000):
        value = deserializer(record.value, context)
        received[value["sequence"]] = value
        keys[value["sequence"]] = record.key
    expected = list(generate_events(kind, 10_000, seed=11, start=START, disorder_ms=200))
    assert len(received) == 10_000
    for event in expected:
        assert received[event.sequence] == _as_written(event.record)
        assert keys[event.sequence] == event.key


def test_malformed_records_are_rejected_with_their_reason(
    stack_config: StackConfig, unique_topic
) -> None:
    topic = unique_topic("payments")
    summary = produce(
        "payments", stack_config, count=2_000, seed=3, start=START, topic=topic, bad_pct=10
    )
    assert summary.ok and 100 < summary.bad_total < 300

    writer = {summary.schema_id: serde.load_schema("payment_event")}
    reasons: Counter[str] = Counter()
    for record in read_topic(stack_config, topic, expected=2_000):
        try:
            serde.decode(record.value, writer)
            reasons["ok"] += 1
        except serde.DecodeError as error:
            reasons[error.reason] += 1
    assert reasons["ok"] == 2_000 - summary.bad_total
    expected_reasons: Counter[str] = Counter()
    for kind, count in summary.bad.items():
        expected_reasons[MalformedKind(kind).expected_reason] += count
    assert {k: v for k, v in reasons.items() if k != "ok"} == dict(expected_reasons)
