"""A Flink SQL job on the local cluster reads an avro-confluent topic and writes another."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from common import registry
from common.config import StackConfig
from common.generate.runner import generate_events, produce
from common.kafka import read_topic
from common.local import flink_client

pytestmark = pytest.mark.integration

JOB = Path(__file__).parent / "flink_jobs" / "avro_passthrough.py"
START = datetime(2026, 2, 1, tzinfo=UTC)


def test_flink_copies_trades_between_avro_confluent_topics(
    stack_config: StackConfig, unique_topic
) -> None:
    source, sink = unique_topic("trades"), unique_topic("trades-copy")
    summary = produce("trades", stack_config, count=3_000, seed=5, start=START, topic=source)
    assert summary.ok

    job_id = flink_client.submit_python(
        stack_config,
        script=JOB,
        args=[source, sink, stack_config.bootstrap_servers, stack_config.registry_url],
    )
    flink_client.wait_for_state(stack_config, job_id, "FINISHED", timeout_s=180)

    deserializer = AvroDeserializer(registry.client(stack_config))
    context = SerializationContext(sink, MessageField.VALUE)
    copied = {}
    for record in read_topic(stack_config, sink):  # up to the end offsets after the job finished
        value = deserializer(record.value, context)
        copied[value["trade_id"]] = value
    expected = {
        e.record["trade_id"]: e.record
        for e in generate_events("trades", 3_000, seed=5, start=START)
    }
    assert len(copied) == 3_000
    for trade_id, original in expected.items():
        got = copied[trade_id]
        assert got["side"] == original["side"]  # the enum arrives as its symbol
        assert got["price"] == original["price"] and got["quantity"] == original["quantity"]
        assert got["event_time"] == datetime.fromtimestamp(original["event_time"] / 1000, tz=UTC)
        for name in ("venue", "symbol", "account_id", "producer", "sequence"):
            assert got[name] == original[name]
