"""The ``featurestream-avro`` format decodes in the Kafka source and never fails on bad values.

Bad values come out as rows with their dead-letter reason (and the original bytes), so SQL can
split them off while the source keeps native event-time watermarks and idleness.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from common.config import StackConfig
from common.generate.malformed import MalformedKind
from common.generate.runner import generate_events, produce
from common.kafka import read_topic
from common.local import flink_client

pytestmark = pytest.mark.integration

JOB = Path(__file__).parent / "flink_jobs" / "format_split.py"
START = datetime(2026, 3, 1, tzinfo=UTC)
COLUMNS = (
    "payment_id",
    "card_id",
    "amount_minor",
    "currency",
    "amount_usd_cents",
    "channel",
    "status",
    "sequence",
)


def epoch_millis(text: str) -> int:
    """Flink JSON's TIMESTAMP(3) text (``2026-03-01 00:00:00.405``), read as UTC."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def test_format_splits_bad_values_with_their_reason(
    stack_config: StackConfig, unique_topic
) -> None:
    source, good, bad = unique_topic("payments"), unique_topic("good"), unique_topic("bad")
    summary = produce(
        "payments", stack_config, count=4_000, seed=9, start=START, topic=source, bad_pct=5
    )
    assert summary.ok and summary.bad_total > 100

    job_id = flink_client.submit_python(
        stack_config,
        script=JOB,
        args=[source, good, bad, stack_config.bootstrap_servers, stack_config.registry_url],
    )
    flink_client.wait_for_state(stack_config, job_id, "FINISHED", timeout_s=180)

    decoded = [json.loads(r.value or b"") for r in read_topic(stack_config, good)]
    letters = [json.loads(r.value or b"") for r in read_topic(stack_config, bad)]

    # Nothing lost, nothing duplicated: every input record is either decoded or a bad row.
    assert len(decoded) + len(letters) == 4_000
    by_id = {value["payment_id"]: value for value in decoded}
    assert len(by_id) == len(decoded)

    expected_good = {
        e.record["payment_id"]: e.record
        for e in generate_events("payments", 4_000, seed=9, start=START)
    }
    assert set(by_id) <= set(expected_good)
    for payment_id, value in by_id.items():
        expected = expected_good[payment_id]
        assert {c: value[c] for c in COLUMNS} == {c: expected[c] for c in COLUMNS}
        assert epoch_millis(value["event_time"]) == expected["event_time"]

    expected_reasons: Counter[str] = Counter()
    for kind, count in summary.bad.items():
        expected_reasons[MalformedKind(kind).expected_reason] += count
    assert Counter(letter["reason"] for letter in letters) == expected_reasons
    for letter in letters:
        # Schema columns are null on a bad row, except timestamps: epoch 0, never null.
        assert letter["payment_id"] is None
        assert letter["event_time"] == "1970-01-01 00:00:00"
        assert base64.b64decode(letter["raw_value"])  # the original bytes ride along
