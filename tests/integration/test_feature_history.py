"""Feature values over history that spans days (``tests/integration/history.py``), on the real
stack: bounded runs give the same rows whatever the input order and parallelism; a streaming run
over the same days restarts from its checkpoint with late rows waiting, and every input row is
either a feature row of each view or a dead letter with its reason.

Values are compared with the DuckDB reference (``tests/feature_reference.py``).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import fastavro
import pyarrow.parquet as pq
import pytest

from common.config import StackConfig
from common.local import flink_client
from common.runtime.catalog import load_job
from common.runtime.launch import RunOptions, submit
from common.runtime.offline import run_offline
from common.serde import load_schema
from tests.integration.feature_checks import (
    assert_match_reference,
    by_id,
    produce_events,
    read_values,
)
from tests.integration.history import EDGE_CARDS, D, M, history, reordered, span_days
from tests.polling import wait_for

pytestmark = pytest.mark.integration


def _write_avro(path: Path, records: list[dict[str, Any]]) -> Path:
    fastavro.writer(path.open("wb"), fastavro.parse_schema(load_schema("payment_event")), records)
    return path


def _digest(rows: list[dict[str, Any]]) -> str:
    """sha256 of every row, in a canonical order and form."""
    canonical = sorted(json.dumps(r, sort_keys=True, default=str) for r in rows)
    return hashlib.sha256("\n".join(canonical).encode()).hexdigest()


def test_offline_rows_do_not_depend_on_input_order_or_parallelism(
    stack_config: StackConfig, tmp_path: Path
) -> None:
    """Time order at p=1, newest first and sorted by merchant at p=2, shuffled at p=2 on RocksDB:
    identical rows, all equal to the reference, no dead letters."""
    job = load_job("payment_features")
    events = history()
    assert span_days(events) > 40
    runs = [
        ("time_order", None, 1, "heap"),
        ("reversed", "reversed", 2, "heap"),
        ("by_merchant", "by_merchant", 2, "heap"),
        ("shuffled", "shuffled", 2, "rocksdb"),
    ]
    digests: dict[str, set[str]] = {v.qualified_name: set() for v in job.views}
    first: dict[str, list[dict[str, Any]]] = {}
    for name, order, parallelism, backend in runs:
        records = events if order is None else reordered(events, order)
        path = _write_avro(tmp_path / f"{name}.avro", records)
        summary = run_offline(
            stack_config,
            job,
            str(path),
            tmp_path / name,
            parallelism=parallelism,
            state_backend=backend,
        )
        assert summary.input_records == len(events)
        assert not summary.dead_letters, f"{name}: {summary.dead_letters}"
        for view in job.views:
            rows = pq.read_table(summary.files[view.qualified_name]).to_pylist()
            assert len(rows) == len(events), name
            digests[view.qualified_name].add(_digest(rows))
            first.setdefault(view.qualified_name, rows)
    assert all(len(d) == 1 for d in digests.values()), digests
    for view in job.views:
        assert_match_reference(view, first[view.qualified_name], events)

    # The edges are what they claim to be (the reference agreeing is not enough on its own).
    card = {r["event_id"]: r for r in first["payment_card.v1"]}
    assert card["pay-edge-0-02"]["card_txn_count_10m"] == 4  # t - 10 min inclusive, peers
    assert card["pay-edge-0-04"]["card_txn_count_10m"] == 1  # 1 ms past it
    assert card["pay-edge-0-06"]["card_txn_count_24h"] == 3  # t - 24 h inclusive
    assert card["pay-edge-0-08"]["card_txn_count_24h"] == 1
    assert card["pay-edge-0-08"]["card_seconds_since_prev"] == (3 * D - 20 * M - 2) / 1000
    assert card["pay-edge-0-09"]["card_seconds_since_prev"] == 40 * D / 1000  # 40 days


def test_streaming_over_days_restarts_with_late_rows_and_accounts_for_every_row(
    stack_config: StackConfig, unique_topic
) -> None:
    """Days of payments streamed at p=2; the job is cancelled and restarted from its retained
    checkpoint while copies of already released payments wait in the topic: they are dead
    letters (``late_after_restore`` per view, or ``late`` once the watermark is back), the rest
    is folded exactly once, equal to the reference, and input = rows + dead letters per view."""
    config = stack_config
    job = load_job("payment_features")
    source = unique_topic("payments")
    suffix = "." + unique_topic("days")
    dlq_topic = f"dlq.{job.name}{suffix}"
    options = RunOptions(
        parallelism=2,
        source_topic=source,
        topic_suffix=suffix,
        startup="earliest",
        group_id=f"test{suffix}",
    )
    events = history(seed=43)
    cut = len(events) * 2 // 3
    first, rest = events[:cut], events[cut:]
    produce_events(config, source, "payment_event", first)
    job_id = submit(config, job, options)
    card_topic = f"features.payment_card.v1{suffix}"
    flink_client.wait_for_state(config, job_id, "RUNNING", timeout_s=120)
    wait_for("the first part's rows", lambda: len(read_values(config, card_topic)) >= cut - 50)
    before = flink_client.latest_checkpoint(config, job_id)
    wait_for("a new checkpoint", lambda: flink_client.latest_checkpoint(config, job_id) != before)
    flink_client.cancel(config, job_id)
    flink_client.wait_for_state(config, job_id, "CANCELED", timeout_s=60)
    checkpoint = flink_client.latest_checkpoint(config, job_id)
    assert checkpoint is not None

    # Copies of released payments (same card, merchant and time, new ids) reach the topic while
    # the job is down, then the rest of the history. The restarted job has no watermark yet.
    released = [e for e in first[: cut // 2] if e["card_id"] not in EDGE_CARDS][:60]
    late = [{**e, "payment_id": "late-" + e["payment_id"]} for e in released]
    produce_events(config, source, "payment_event", late + rest)
    restarted = submit(
        config, job, RunOptions(**{**options.__dict__, "from_savepoint": checkpoint})
    )
    try:
        flink_client.wait_for_state(config, restarted, "RUNNING", timeout_s=120)
        good_ids = {e["payment_id"] for e in events}
        # The history's last event (40 days on) is released only by a later watermark.
        total = len(events) + len(late)
        for view in job.views:
            topic = f"features.{view.qualified_name}{suffix}"

            def settled(topic: str = topic, name: str = view.qualified_name) -> bool:
                rows = len(read_values(config, topic))
                letters = [
                    d for d in read_values(config, dlq_topic) if d["feature_view"] in (None, name)
                ]
                return rows + len(letters) >= total - 5

            wait_for(f"{view.qualified_name} to account for the input", settled)

        letters = read_values(config, dlq_topic)
        reasons = Counter((d["reason"], d["feature_view"]) for d in letters)
        assert set(reasons) <= {
            ("late", None),
            ("late_after_restore", "payment_card.v1"),
            ("late_after_restore", "payment_merchant.v1"),
        }, reasons
        assert reasons[("late_after_restore", "payment_card.v1")] > 0, reasons
        late_offsets = {(d["source_partition"], d["source_offset"]) for d in letters}
        assert len(late_offsets) == len(late), "every copy is a dead letter, with its position"
        for view in job.views:
            rows = read_values(config, f"features.{view.qualified_name}{suffix}")
            mine = [d for d in letters if d["feature_view"] in (None, view.qualified_name)]
            # Held back: the watermark has not passed the last few events yet.
            held = len(events) - len(rows) - (len(late) - len(mine))
            assert 0 <= held <= 5, (view.qualified_name, len(rows), len(mine))
            assert len(mine) == len(late), view.qualified_name
            ids = set(by_id(rows))
            assert ids <= good_ids, "no late copy was folded"
            assert_match_reference(view, rows, events, only=ids)
        assert flink_client.failures(config, restarted) == 0
    finally:
        flink_client.cancel(config, restarted)
