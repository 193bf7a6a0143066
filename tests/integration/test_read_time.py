"""Read-time features end to end: the payment job (RocksDB, p=2, restarted from a checkpoint
mid-history, so rows after it are written to Redis twice) logs each card's events and folds
each merchant's into tiles; reading them at chosen times through Python (``read_at``) and the
Go server (``as_of``) gives the DuckDB reference evaluated at that time (tile-rounded windows
for merchants), for days of history with window edges, dormant keys read hours and days later,
and unknown keys."""

from __future__ import annotations

import subprocess
import uuid
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from common.config import StackConfig
from common.features import FeatureView
from common.features.read_time import LoggedEvent
from common.local import flink_client
from common.models.serving import read_at
from common.online_store import OnlineStore
from common.runtime.catalog import load_job
from common.runtime.launch import RunOptions, submit
from tests.feature_reference import reference_at
from tests.feature_server import running_server
from tests.integration.feature_checks import produce_events, read_values, values_equal
from tests.integration.history import history
from tests.polling import wait_for
from tests.read_times import read_times

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def streamed(stack_config: StackConfig) -> Iterator[dict[str, list[dict[str, Any]]]]:
    """Per view, the released events of a streamed history whose keys are this module's own."""
    config = stack_config
    job = load_job("payment_features")
    run = uuid.uuid4().hex[:8]
    events = [
        {**e, "card_id": f"{e['card_id']}-{run}", "merchant_id": f"{e['merchant_id']}-{run}"}
        for e in history(seed=47)
    ]
    source = f"test.payments.readtime.{run}"
    suffix = f".readtime.{run}"
    options = RunOptions(
        parallelism=2,
        source_topic=source,
        topic_suffix=suffix,
        startup="earliest",
        group_id=f"test{suffix}",
        state_backend="rocksdb",
    )
    card_topic = f"features.payment_card.v1{suffix}"
    cut = len(events) * 2 // 3
    produce_events(config, source, "payment_event", events[:cut])
    job_id = submit(config, job, options)
    flink_client.wait_for_state(config, job_id, "RUNNING", timeout_s=120)
    wait_for("the first part's rows", lambda: len(read_values(config, card_topic)) >= cut - 50)
    before = flink_client.latest_checkpoint(config, job_id)
    wait_for("a new checkpoint", lambda: flink_client.latest_checkpoint(config, job_id) != before)
    flink_client.cancel(config, job_id)
    flink_client.wait_for_state(config, job_id, "CANCELED", timeout_s=60)
    checkpoint = flink_client.latest_checkpoint(config, job_id)
    assert checkpoint is not None
    produce_events(config, source, "payment_event", events[cut:])
    restarted = submit(
        config, job, RunOptions(**{**options.__dict__, "from_savepoint": checkpoint})
    )
    try:
        flink_client.wait_for_state(config, restarted, "RUNNING", timeout_s=120)
        # The watermark is the least of the partitions' newest events: the last few events
        # (40 days on) may stay unreleased. Released rows are in Kafka one checkpoint later.
        counts: dict[str, int] = {}

        def nearly_all() -> bool:
            for view in job.views:
                topic = f"features.{view.qualified_name}{suffix}"
                counts[view.name] = len(read_values(config, topic))
            return min(counts.values()) >= len(events) - 5

        try:
            wait_for("the released rows", nearly_all, timeout_s=600)
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {counts} of {len(events)} rows") from exc
        before = flink_client.latest_checkpoint(config, restarted)
        wait_for(
            "a checkpoint after them",
            lambda: flink_client.latest_checkpoint(config, restarted) != before,
        )
        released = {}
        for view in job.views:
            rows = read_values(config, f"features.{view.qualified_name}{suffix}")
            ids = {r["event_id"] for r in rows}
            released[view.name] = [e for e in events if e["payment_id"] in ids]
        assert flink_client.failures(config, restarted) == 0
        yield released
    finally:
        flink_client.cancel(config, restarted)


def _logs(view: FeatureView, events: list[dict[str, Any]]) -> dict[str, list[LoggedEvent]]:
    by_key: dict[str, list[LoggedEvent]] = defaultdict(list)
    for e in events:
        by_key[e[view.entity.key]].append(LoggedEvent(e["event_time"], e["payment_id"], ()))
    return by_key


# The payment job's read-time views: cards from event logs, merchants from tiles (decision 76).
@pytest.mark.parametrize("view_name", ["payment_card", "payment_merchant"])
def test_python_and_go_reads_equal_the_reference_at_the_read_time(
    streamed: dict[str, list[dict[str, Any]]], stack_config: StackConfig, view_name: str
) -> None:
    view = next(v for v in load_job("payment_features").views if v.name == view_name)
    events = streamed[view_name]
    key = view.entity.key
    reads = read_times(view, _logs(view, events), seed=11)[:300]
    expected = reference_at(view, events, reads)
    store = OnlineStore.connect(stack_config)

    mismatches: list[tuple[Any, ...]] = []
    with running_server(stdout=subprocess.DEVNULL) as (url, _):
        for (entity, at), want in zip(reads, expected, strict=True):
            (python,) = [r.features for r in read_at(store, [(view, entity)], at)]
            response = httpx.get(
                f"{url}/views/{view.name}/features", params={key: entity, "as_of": str(at)}
            )
            assert response.status_code == 200, response.text
            served = response.json()
            assert served["too_early"] == [], (entity, at)
            for name in python:
                if not values_equal(python[name], want[name]):
                    mismatches.append(("python", entity, at, name, python[name], want[name]))
                if not values_equal(served["features"][name], want[name]):
                    mismatches.append(
                        ("go", entity, at, name, served["features"][name], want[name])
                    )
    assert mismatches == [], f"{len(mismatches)} differ of {len(reads)} reads: {mismatches[:6]}"
    # The reads reached the edges: empty windows and a key dormant for weeks.
    counts = [row[f.name] for row in expected for f in view.output_features if "count" in f.name]
    assert 0 in counts and max(counts) > 1


def test_a_replayed_event_is_logged_once(
    streamed: dict[str, list[dict[str, Any]]], stack_config: StackConfig
) -> None:
    """Rows after the checkpoint were written again by the restarted job: each event is one
    member of its key's log."""
    store = OnlineStore.connect(stack_config)
    cards = sorted({e["card_id"] for e in streamed["payment_card"]})
    logs = store.get_event_logs([("payment_card", 1, c) for c in cards])
    ids = [member.split('"')[1] for log in logs for member, _ in log]
    assert len(ids) == len(set(ids)) > 0
