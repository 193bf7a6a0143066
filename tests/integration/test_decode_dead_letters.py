"""Undecodable records are split off in the JVM with their reason, none lost (DLQ basis)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from common import registry, serde
from common.config import StackConfig
from common.generate.malformed import MalformedKind
from common.generate.runner import generate_events, produce
from common.kafka import read_topic
from common.local import flink_client

pytestmark = pytest.mark.integration

JOB = Path(__file__).parent / "flink_jobs" / "decode_split.py"
START = datetime(2026, 3, 1, tzinfo=UTC)


def test_bad_records_reach_the_dead_letter_topic_with_their_reason(
    stack_config: StackConfig, unique_topic
) -> None:
    source, good, dlq = unique_topic("payments"), unique_topic("good"), unique_topic("dlq.test")
    summary = produce(
        "payments", stack_config, count=4_000, seed=9, start=START, topic=source, bad_pct=5
    )
    assert summary.ok and summary.bad_total > 100

    job_id = flink_client.submit_python(
        stack_config,
        script=JOB,
        args=[source, good, dlq, stack_config.bootstrap_servers, stack_config.registry_url],
    )
    flink_client.wait_for_state(stack_config, job_id, "FINISHED", timeout_s=180)

    writers = registry.writer_schemas(registry.client(stack_config))
    decoded = {}
    for record in read_topic(stack_config, good):
        value = serde.decode(record.value or b"", writers)
        decoded[value["payment_id"]] = value
    letters = [serde.decode(r.value or b"", writers) for r in read_topic(stack_config, dlq)]

    # Nothing lost: every input record is either decoded or a dead letter.
    assert len(decoded) + len(letters) == 4_000
    expected_good = {
        e.record["payment_id"]: e.record
        for e in generate_events("payments", 4_000, seed=9, start=START)
    }
    assert set(decoded) <= set(expected_good)
    for payment_id, value in decoded.items():
        assert value["amount_usd_cents"] == expected_good[payment_id]["amount_usd_cents"]
        assert value["channel"] == expected_good[payment_id]["channel"]

    expected_reasons: Counter[str] = Counter()
    for kind, count in summary.bad.items():
        expected_reasons[MalformedKind(kind).expected_reason] += count
    assert Counter(letter["reason"] for letter in letters) == expected_reasons
    for letter in letters:
        assert letter["source_topic"] == source and letter["job"] == "decode_split_test"
        assert letter["raw_value"] and letter["message"].endswith(letter["reason"])
