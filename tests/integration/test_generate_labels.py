"""Labels in Kafka mode: one label per payment produced to the topic, the same payments."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from common.config import StackConfig
from common.generate import generate_events, produce
from tests.integration.feature_checks import decoded_events

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 1, tzinfo=UTC)


def test_labels_cover_every_payment_produced_to_kafka(
    stack_config: StackConfig, unique_topic, tmp_path: Path
) -> None:
    topic = unique_topic("payments")
    labels_file = tmp_path / "labels.parquet"

    summary = produce(
        "payments",
        stack_config,
        count=3_000,
        seed=5,
        start=START,
        topic=topic,
        labels=labels_file,
    )

    assert summary.ok and "labels of 3,000 payments" in summary.line()
    labels = pq.read_table(labels_file).to_pylist()
    produced = decoded_events(stack_config, topic)
    assert sorted(r["payment_id"] for r in labels) == sorted(e["payment_id"] for e in produced)
    truth = {
        e.record["payment_id"]: e.burst_id
        for e in generate_events("payments", 3_000, seed=5, start=START)
    }
    assert all(r["burst_id"] == truth[r["payment_id"]] for r in labels)
    assert all(r["is_fraud"] is (r["burst_id"] is not None) for r in labels)
