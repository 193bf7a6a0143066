"""Upgrading a stateful job through a savepoint, on the local Flink cluster.

payment_features v1 runs (parallelism 1) while payments stream in; a savepoint A is taken, later
the job is stopped with savepoint B, and a changed version (two features added to payment_card
v1, parallelism 2), planned before the stop, starts from B while events keep coming. Then:

- every event has exactly one row per view (``read_committed``), and every row, before and after
  the upgrade, equals the DuckDB reference over all events: the windows continue exactly, and the
  added features are exact for every event after the upgrade (rebuilt from the restored history);
- the online store holds each card's newest vector;
- restoring the new code from the older savepoint A replays the same rows (equal values), leaving
  the online store as it was;
- the downtime (last row of the old job → first row of the new one) is measured and printed.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from common.config import StackConfig
from common.deploy import local
from common.generate.runner import produce
from common.kafka import end_offsets, read_topic
from common.local import flink_client
from common.online_store import OnlineStore
from common.runtime.catalog import load_job
from common.runtime.launch import RunOptions, prepare_start, submit
from tests.e2e.changed_payment_features import CHANGED_CARD
from tests.e2e.changed_payment_features import JOB as CHANGED_JOB
from tests.feature_reference import reference_rows
from tests.integration.feature_checks import (
    assert_match_reference,
    decoded_events,
    read_values,
    values_equal,
)
from tests.polling import wait_for

pytestmark = pytest.mark.e2e

COUNT = 4_000
RATE = 80.0  # events/s of wall clock: 50 s of streaming, outlasting the new job's planning
CHANGED_MODULE = "tests.e2e.changed_payment_features"
ADDED = ("card_amount_usd_min_24h", "card_txn_count_5m")


def _committed(config: StackConfig, group: str, topic: str) -> dict[int, int]:
    """The offsets ``group`` has committed on ``topic``, per partition (absent: none yet)."""
    consumer = Consumer({"bootstrap.servers": config.bootstrap_servers, "group.id": group})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        committed = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
    finally:
        consumer.close()
    return {tp.partition: tp.offset for tp in committed if tp.offset >= 0}


def _number(value: str | None) -> float | None:
    return None if value is None else float(value)


def _rows_with_time(config: StackConfig, topic: str) -> list[tuple[int, dict[str, Any]]]:
    """(Kafka timestamp, decoded value) of every record of ``topic``."""
    from common import registry, serde

    writers = registry.writer_schemas(registry.client(config))
    return [
        (r.timestamp_ms, serde.decode(r.value, writers))
        for r in read_topic(config, topic)
        if r.value is not None
    ]


def test_upgrade_through_a_savepoint_continues_exactly(
    stack_config: StackConfig, unique_topic
) -> None:
    config = stack_config
    job = load_job("payment_features")
    card_view, merchant_view = job.views
    source = unique_topic("payments")
    suffix = "." + unique_topic("upgrade")
    card_topic = f"features.{card_view.qualified_name}{suffix}"
    merchant_topic = f"features.{merchant_view.qualified_name}{suffix}"
    options = RunOptions(
        parallelism=1, source_topic=source, topic_suffix=suffix, startup="earliest",
        group_id=f"test{suffix}",
    )  # fmt: skip
    old_id = submit(config, job, options)
    flink_client.wait_for_state(config, old_id, "RUNNING", timeout_s=120)

    start = datetime.now(UTC)
    producer = threading.Thread(
        target=produce,
        args=("payments", config),
        kwargs={"count": COUNT, "seed": 51, "start": start, "rate": RATE,
                "disorder_ms": 2_000, "topic": source},
    )  # fmt: skip
    producer.start()
    wait_for("1,000 rows", lambda: len(read_values(config, card_topic)) >= 1_000)
    older, _ = local.take_savepoint(config, job, old_id)
    # As `featurestream upgrade` does: the changed code is planned first, then the old job stops
    # (here while events still stream in, so that the output gap is the upgrade's).
    upgraded = RunOptions(**{**options.__dict__, "parallelism": 2, "module": CHANGED_MODULE})
    prepared = prepare_start(config, CHANGED_JOB, upgraded)
    wait_for("2,000 rows", lambda: len(read_values(config, card_topic)) >= 2_000)
    stop_started, stop_wall_ms = time.monotonic(), time.time() * 1000
    latest = local.stop_with_savepoint(config, job, old_id)
    stopped_s = time.monotonic() - stop_started
    new_id = prepared.start(latest)
    submitted_s = time.monotonic() - stop_started
    flink_client.wait_for_state(config, new_id, "RUNNING", timeout_s=120)
    restart_s = time.monotonic() - stop_started
    assert local.local_path(local.restored_from(config, new_id) or "") == local.local_path(latest)
    producer.join()
    # A few events well past the rest (on both partitions) move the watermark beyond every
    # real event; they stay pending themselves.
    flush_start = datetime.now(UTC) + timedelta(seconds=30)
    produce("payments", config, count=8, seed=52, start=flush_start, topic=source)
    events = decoded_events(config, source)
    cutoff = (flush_start - timedelta(seconds=10)).timestamp() * 1000
    real = [e for e in events if e["event_time"] < cutoff]
    flush_cards = {e["card_id"] for e in events if e["event_time"] >= cutoff}
    assert len(real) == COUNT
    wait_for(
        "a row per event in both views",
        lambda: (
            len(read_values(config, card_topic)) >= COUNT
            and len(read_values(config, merchant_topic)) >= COUNT
        ),
    )

    # Exactly one row per event; every row equals the reference (old rows lack the added fields).
    timed = _rows_with_time(config, card_topic)
    card_rows = [row for _, row in timed]
    assert_match_reference(card_view, card_rows, real)
    assert_match_reference(merchant_view, read_values(config, merchant_topic), real)
    after = [row for row in card_rows if ADDED[0] in row]
    assert 500 < len(after) < COUNT, len(after)
    ids_after = {row["event_id"] for row in after}
    assert_match_reference(CHANGED_CARD, after, real, only=ids_after)

    # Downtime: last row written by the old job to the first written by the new one.
    last_old = max(ts for ts, row in timed if ADDED[0] not in row)
    first_new = min(ts for ts, row in timed if ADDED[0] in row)
    downtime_ms = first_new - last_old
    print(f"\nupgrade: stop-with-savepoint → new job RUNNING {restart_s:.1f} s (stopped "
          f"{stopped_s:.1f} s, submitted {submitted_s:.1f} s); output gap (last old row → first "
          f"new row) {downtime_ms / 1000:.1f} s (rows at {(last_old - stop_wall_ms) / 1000:+.1f} s "
          f"and {(first_new - stop_wall_ms) / 1000:+.1f} s of the stop)")  # fmt: skip
    assert 0 < downtime_ms < 120_000

    # The online store holds each card's newest vector (of the changed view, for updated cards).
    store = OnlineStore.connect(config)
    newest: dict[str, dict[str, Any]] = {}
    for row in reference_rows(CHANGED_CARD, real):
        current = newest.get(row["card_id"])
        if current is None or (row["event_time"], row["event_id"]) > (
            current["event_time"], current["event_id"],
        ):  # fmt: skip
            newest[row["card_id"]] = row
    stored = store.get_many("payment_card", 1, list(newest))
    for card_id, row in newest.items():
        vector = stored[card_id]
        assert vector is not None and vector.event_id == row["event_id"], card_id

    # Replaying from the older savepoint A: the same rows again, the store unchanged.
    flink_client.cancel(config, new_id)
    flink_client.wait_for_state(config, new_id, "CANCELED", timeout_s=60)
    before = {k: v for k, v in stored.items()}
    # A restored source keeps its splits' (unbounded) end: the replay streams until it has read
    # everything (its group's committed offsets reach the end), then drains (final watermark:
    # every held row is released and committed) and finishes.
    replay = RunOptions(
        **{**upgraded.__dict__, "from_savepoint": older, "group_id": f"replay{suffix}"}
    )
    replay_id = submit(config, CHANGED_JOB, replay)
    ends = end_offsets(config, source)
    wait_for(
        "the replay to read the whole topic",
        lambda: _committed(config, f"replay{suffix}", source) == ends,
    )
    local.stop_with_savepoint(config, CHANGED_JOB, replay_id, drain=True)
    copies: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in read_values(config, card_topic):
        if row["event_time"].timestamp() * 1000 < cutoff:
            copies[row["event_id"]].append(row)
    replayed = [rows for event_id, rows in copies.items() if len(rows) > 1]
    assert len(replayed) > 500, len(replayed)
    for rows in replayed:
        first, *others = rows
        for other in others:
            for feature in card_view.output_features:
                assert values_equal(first[feature.name], other[feature.name]), (rows, feature)
    assert max(len(rows) for rows in copies.values()) == 2
    again = store.get_many("payment_card", 1, list(newest))
    v1_features = [f.name for f in card_view.output_features]
    for card_id in set(newest) - flush_cards:
        was, now = before[card_id], again[card_id]
        assert was is not None and now is not None, card_id
        # The same event's vector again; rewritten by the new code, it may hold the added
        # features too (a card whose last event the old job wrote), never other v1 values.
        assert (now.event_id, now.event_time_ms) == (was.event_id, was.event_time_ms), card_id
        for name in v1_features:
            assert values_equal(_number(now.features.get(name)), _number(was.features.get(name))), (
                card_id,
                name,
            )
