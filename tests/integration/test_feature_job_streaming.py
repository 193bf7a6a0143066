"""payment_features streaming: late and invalid events to the dead-letter topic, a cancel and a
restart from the retained checkpoint without duplicates, and the online store in step.

One long test on purpose: the phases build on each other, and a job start costs ~15 s.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from common.config import StackConfig
from common.generate.runner import generate_events
from common.local import flink_client
from common.online_store import OnlineStore
from common.runtime.catalog import load_job
from common.runtime.launch import RunOptions, submit
from tests.integration.feature_checks import (
    assert_match_reference,
    by_id,
    produce_events,
    read_values,
    subject_versions,
    values_equal,
)
from tests.polling import wait_for

pytestmark = pytest.mark.integration

T0 = datetime(2026, 5, 1, tzinfo=UTC)
RATE = 50.0  # events per simulated second: 3,000 events span a minute of event time


def _events(count: int, seed: int, start: datetime, disorder_ms: int = 0) -> list[dict[str, Any]]:
    return [
        e.record
        for e in generate_events(
            "payments", count, seed=seed, start=start, disorder_ms=disorder_ms, rate=RATE
        )
    ]


def test_late_invalid_restart_and_online_store(stack_config: StackConfig, unique_topic) -> None:
    config = stack_config
    job = load_job("payment_features")
    card_view, merchant_view = job.views
    source = unique_topic("payments")
    suffix = "." + unique_topic("stream")
    card_topic = f"features.{card_view.qualified_name}{suffix}"
    dlq_topic = f"dlq.{job.name}{suffix}"
    options = RunOptions(
        parallelism=2,
        source_topic=source,
        topic_suffix=suffix,
        startup="earliest",
        group_id=f"test{suffix}",
    )

    # Phase 1: a minute of events, out of order within the 5 s bound.
    batch1 = _events(3_000, seed=31, start=T0, disorder_ms=4_000)
    produce_events(config, source, "payment_event", batch1)
    job_id = submit(config, job, options)
    flink_client.wait_for_state(config, job_id, "RUNNING", timeout_s=120)
    wait_for("first feature rows", lambda: len(read_values(config, card_topic)) >= 2_000)

    # Phase 2: late events (an hour behind), invalid amounts, empty keys.
    late = _events(20, seed=32, start=T0 - timedelta(hours=1))
    rejected = _events(10, seed=33, start=T0 + timedelta(seconds=70))
    for record in rejected[:5]:
        record["amount_usd_cents"] = -1
    for record in rejected[5:]:
        record["card_id"] = ""
    produce_events(config, source, "payment_event", late + rejected)
    want_letters = Counter({"late": 20, "invalid_value": 5, "null_key": 5})
    wait_for(
        "dead letters",
        lambda: Counter(d["reason"] for d in read_values(config, dlq_topic)) == want_letters,
    )

    # Phase 3: cancel after a checkpoint, restart from it, more events.
    first = flink_client.latest_checkpoint(config, job_id)
    wait_for("a new checkpoint", lambda: flink_client.latest_checkpoint(config, job_id) != first)
    flink_client.cancel(config, job_id)
    flink_client.wait_for_state(config, job_id, "CANCELED", timeout_s=60)
    checkpoint = flink_client.latest_checkpoint(config, job_id)
    assert checkpoint is not None
    batch2 = _events(3_000, seed=34, start=T0 + timedelta(minutes=2), disorder_ms=4_000)
    closer = _events(300, seed=35, start=T0 + timedelta(minutes=10))  # moves the watermark on
    produce_events(config, source, "payment_event", batch2 + closer)
    restarted = submit(
        config, job, RunOptions(**{**options.__dict__, "from_savepoint": checkpoint})
    )
    flink_client.wait_for_state(config, restarted, "RUNNING", timeout_s=120)
    expected_ids = {r["payment_id"] for r in batch1 + batch2}
    wait_for(
        "every row of both batches",
        lambda: expected_ids <= {r["event_id"] for r in read_values(config, card_topic)},
        timeout_s=240,
    )

    try:
        good = batch1 + batch2 + closer
        for view in (card_view, merchant_view):
            topic = f"features.{view.qualified_name}{suffix}"
            wait_for(
                f"{view.qualified_name} rows",
                lambda topic=topic: (
                    expected_ids  # type: ignore[misc]
                    <= {r["event_id"] for r in read_values(config, topic)}
                ),
            )
            rows = read_values(config, topic)
            by_id(rows)  # no event twice, across the restart
            assert_match_reference(view, rows, good, only=expected_ids)
        assert Counter(d["reason"] for d in read_values(config, dlq_topic)) == want_letters
        # Parallel sinks found their schemas registered already: no race, no restart.
        assert subject_versions(config, dlq_topic) == [1]
        assert flink_client.failures(config, job_id) == 0
        assert flink_client.failures(config, restarted) == 0

        # The online store holds each card's newest committed vector.
        store = OnlineStore.connect(config)
        rows = read_values(config, card_topic)
        newest: dict[str, dict[str, Any]] = {}
        for row in rows:
            current = newest.get(row["card_id"])
            if current is None or (row["event_time"], row["event_id"]) > (
                current["event_time"],
                current["event_id"],
            ):
                newest[row["card_id"]] = row

        def store_matches() -> bool:
            stored = store.get_many(card_view.name, card_view.version, list(newest))
            for card, row in newest.items():
                vector = stored[card]
                if vector is None or vector.event_id != row["event_id"]:
                    return False
                for feature in card_view.output_features:
                    value = vector.features.get(feature.name)
                    parsed = None if value is None else float(value)
                    if not values_equal(parsed, row[feature.name]):
                        return False
            return True

        wait_for("the online store to hold the newest vectors", store_matches, timeout_s=60)
    finally:
        flink_client.cancel(config, restarted)
