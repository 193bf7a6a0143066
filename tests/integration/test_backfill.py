"""``backfill --then-live``: days of history backfilled from a file, then the live topic from
exactly where history ends. The feature topics hold one row per event, every row equal to the
reference over the whole stream, as one uninterrupted run would give."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fastavro
import pytest

from common import topics
from common.config import StackConfig
from common.deploy import local
from common.deploy.backfill import run_backfill, wait_consumed
from common.runtime.catalog import load_job
from common.runtime.offline import load_file
from common.serde import load_schema
from tests.integration.feature_checks import assert_match_reference, by_id, read_values
from tests.integration.history import history, span_days

pytestmark = pytest.mark.integration


def _write_avro(path: Path, records: list[dict[str, Any]]) -> Path:
    fastavro.writer(path.open("wb"), fastavro.parse_schema(load_schema("payment_event")), records)
    return path


def test_backfill_then_live_equals_one_uninterrupted_run(
    stack_config: StackConfig, unique_topic, tmp_path: Path
) -> None:
    config = stack_config
    job = load_job("payment_features")
    events = history(seed=47)
    assert span_days(events) > 40
    path = _write_avro(tmp_path / "payments.avro", events)
    # History is everything before the split, live everything from it (file order, disorder
    # and all): the split falls inside the windows of many keys, some events pending.
    times = sorted(e["event_time"] for e in events)
    split = datetime.fromtimestamp(times[len(times) * 2 // 3] / 1000, UTC)
    live_topic = unique_topic("payments-live")
    live_count = load_file(config, job.source, path, live_topic, since=split)
    suffix = "." + unique_topic("bf")
    group = f"live{suffix}"

    summary = run_backfill(
        config,
        job,
        str(path),
        until=split,
        to_topics=True,
        then_live=True,
        live_topic=live_topic,
        topic_suffix=suffix,
        group_id=group,
        parallelism=2,
    )
    assert summary.history_records + live_count == len(events)
    assert summary.history_records > 3_000 and live_count > 1_000
    assert summary.live_job_id and summary.live_savepoint and summary.handover_s is not None

    # Live: the watermark moves with the live topic (a history split left in the source would
    # hold it back for good): rows before the live events' 90th percentile of time (both
    # partitions hold later ones) come without a drain.
    wait_consumed(config, summary.live_job_id, group, live_topic, timeout_s=300)
    card_topic = topics.feature_topic("payment_card", 1) + suffix
    live_times = [t for t in times if t >= split.timestamp() * 1000]
    released = sum(1 for t in times if t < live_times[len(live_times) * 9 // 10])
    deadline = time.monotonic() + 120
    while len(read_values(config, card_topic)) < released:
        assert time.monotonic() < deadline, "the live job's watermark does not advance"
        time.sleep(1)
    # Drain ends event time so the last rows are released.
    local.stop_with_savepoint(config, job, summary.live_job_id, drain=True)
    for view in job.views:
        rows = read_values(config, topics.feature_topic(view.name, view.version) + suffix)
        assert len(rows) == len(events) == len(by_id(rows)), view.qualified_name  # each once
        assert_match_reference(view, rows, events)
    assert read_values(config, f"dlq.{job.name}{suffix}") == []
