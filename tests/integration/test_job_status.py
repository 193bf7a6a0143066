"""Freshness as the job reports it, against freshness as a consumer of its output sees it; and
``featurestream status`` on a running, a too-strict and a stopped job.

payment_features runs at parallelism 1 on payments produced in real time (event time = the
wall clock when produced). A consumer of both feature topics stamps every row with the wall
clock at which it arrived. Once the job's ``featureRowsEmitted`` equals the rows consumed (the
producer has stopped, so nothing more is released), the reporter's p99 emit lag covers the
last 1024 rows each view released (one subtask), which are the 1024 newest by event time
(timers fire in event-time order). The same rows' p99 lag at the consumer must be:

* at least the job's (each row arrives after it was released: its lag only grows), less
  ``LOWER_SLACK_MS`` for the quantile's rounding to whole milliseconds;
* at most the job's plus the wait for the checkpoint that commits the row (the interval, 1 s,
  plus that checkpoint's duration) plus the fetch (``UPPER_SLACK_MS`` for Kafka's fetch and this
  process' polling on a shared 2-core machine).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from confluent_kafka import Consumer

from common import registry, serde
from common.cli import main
from common.config import StackConfig
from common.deploy import local
from common.generate.runner import produce
from common.generate.sinks import ensure_topic
from common.local import flink_client
from common.runtime import locks, metrics
from common.runtime.catalog import load_job
from common.runtime.launch import RunOptions, submit
from tests.polling import wait_for

pytestmark = pytest.mark.integration

RATE = 100.0  # payments per second, in real time
SECONDS = 30
WINDOW = 1024  # rows in the reporter's emit-lag histogram per subtask and view
CHECKPOINT_INTERVAL_MS = 1000  # payment_features' default
LOWER_SLACK_MS = 5
UPPER_SLACK_MS = 1000


def p99(values: list[float]) -> float:
    """The 99th percentile as Commons Math's ``Percentile`` (the reporter's histogram) takes it:
    position p(n+1)/100, linear between neighbours."""
    ordered = sorted(values)
    position = 0.99 * (len(ordered) + 1)
    if position < 1:
        return ordered[0]
    if position >= len(ordered):
        return ordered[-1]
    low = int(position)
    return ordered[low - 1] + (position - low) * (ordered[low] - ordered[low - 1])


@dataclass
class Arrival:
    """A consumed row: when it arrived (epoch ms) and its value, decoded later."""

    topic: str
    arrived_ms: float
    value: bytes


class StampingConsumer(threading.Thread):
    """Reads topics ``read_committed`` from the beginning, stamping each row's arrival."""

    def __init__(self, config: StackConfig, topics: list[str]) -> None:
        super().__init__(daemon=True)
        self.arrivals: list[Arrival] = []
        self._stop_requested = threading.Event()
        self._consumer = Consumer(
            {
                "bootstrap.servers": config.bootstrap_servers,
                "group.id": f"fs-status-test-{time.time_ns()}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                # Hand committed rows over at once, not after the broker's default 500 ms wait.
                "fetch.wait.max.ms": 20,
            }
        )
        self._consumer.subscribe(topics)

    def run(self) -> None:
        try:
            while not self._stop_requested.is_set():
                message = self._consumer.poll(0.1)
                if message is None or message.error() is not None or message.value() is None:
                    continue
                # Stamped first: decoding waits until the run is over.
                self.arrivals.append(
                    Arrival(message.topic() or "", time.time() * 1000, message.value() or b"")
                )
        finally:
            self._consumer.close()

    def stop(self) -> None:
        self._stop_requested.set()
        self.join(timeout=30)

    def count(self, topic: str) -> int:
        return sum(1 for a in list(self.arrivals) if a.topic == topic)


def _lags_of_newest(config: StackConfig, arrivals: list[Arrival]) -> list[float]:
    """Arrival minus event time of the ``WINDOW`` rows with the newest event times."""
    writers = registry.writer_schemas(registry.client(config))
    rows = []
    for arrival in arrivals:
        row = serde.decode(arrival.value, writers)
        event_ms = row["event_time"].timestamp() * 1000
        rows.append((event_ms, arrival.arrived_ms - event_ms))
    rows.sort()
    return [lag for _, lag in rows[-WINDOW:]]


def _status(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["status", "payment_features", *args])
    return result.exit_code, result.output


def test_freshness_metric_matches_output_lag_and_status(
    stack_config: StackConfig, unique_topic: Any
) -> None:
    config = stack_config
    job = load_job("payment_features")
    source = unique_topic("payments")
    suffix = "." + unique_topic("status")
    topics = {v.qualified_name: f"features.{v.qualified_name}{suffix}" for v in job.views}
    ensure_topic(config, source)
    options = RunOptions(
        parallelism=1,
        source_topic=source,
        topic_suffix=suffix,
        startup="earliest",
        group_id=f"test{suffix}",
    )
    job_id = submit(config, job, options)
    consumer: StampingConsumer | None = None
    try:
        local.wait_running(config, job_id)
        for topic in topics.values():
            ensure_topic(config, topic)
        consumer = StampingConsumer(config, list(topics.values()))
        consumer.start()
        summary = produce(
            "payments", config, count=int(RATE * SECONDS), rate=RATE, topic=source, seed=14
        )
        assert summary.ok, summary.line()
        windows = metrics.windows_of_lock(locks.read_lock(job.name) or {})

        def job_metrics() -> metrics.JobMetrics:
            return metrics.job_metrics(
                metrics.scrape(config.flink_metrics_urls), job.dashed, windows, job_id
            )

        polls: list[metrics.JobMetrics] = []

        def consumed_all_released() -> bool:
            """Every record read, nothing more released since the last poll, and every row
            released at the consumer."""
            found = job_metrics()
            polls.append(found)
            if found.records_read < summary.records or len(polls) < 2:
                return False
            before = polls[-2].views
            return len(found.views) == len(topics) and all(
                found.views[name].rows_emitted >= WINDOW
                and name in before
                and before[name].rows_emitted == found.views[name].rows_emitted
                and consumer is not None
                and consumer.count(topic) == found.views[name].rows_emitted
                for name, topic in topics.items()
            )

        wait_for("every released row at the consumer", consumed_all_released)
        reported = polls[-1]  # the scrape that matched the rows consumed
        consumer.stop()
        arrivals = list(consumer.arrivals)

        checkpoint_ms = _longest_checkpoint_ms(config, job_id)
        for name, topic in topics.items():
            view = reported.views[name]
            assert view.emit_lag_p99_ms is not None
            # A row released after that scrape (none should be) is not in its histogram.
            rows = [a for a in arrivals if a.topic == topic][: view.rows_emitted]
            measured = p99(_lags_of_newest(config, rows))
            upper = view.emit_lag_p99_ms + CHECKPOINT_INTERVAL_MS + checkpoint_ms + UPPER_SLACK_MS
            print(
                f"{name}: reported p99 {view.emit_lag_p99_ms:.0f} ms, last {view.emit_lag_ms} ms;"
                f" at the consumer p99 {measured:.0f} ms (longest checkpoint {checkpoint_ms} ms)"
            )
            assert view.emit_lag_p99_ms - LOWER_SLACK_MS <= measured <= upper, name
            assert view.online_store_written == view.rows_emitted
        assert reported.records_read == summary.records
        assert reported.dead_letters_total == 0
        assert reported.consumer_lag == 0

        code, text = _status("--job-id", job_id)
        print(text)
        assert code == 0, text
        assert "RUNNING" in text.splitlines()[0]
        code, raw = _status("--job-id", job_id, "--json")
        assert code == 0, raw
        shown = json.loads(raw)
        assert shown["state"] == "RUNNING"
        assert shown["checked_at_ms"] - shown["last_checkpoint"]["completed_ms"] < 30_000
        assert {o["name"] for o in shown["objectives"]} >= {"freshness", "dead_letters"}
        assert not any(o["breached"] for o in shown["objectives"])

        code, text = _status("--job-id", job_id, "--set", "slo.freshness.p99Seconds=0.001")
        assert code == 2, text
        assert "freshness" in text and "BREACHED" in text
    finally:
        if consumer is not None and consumer.is_alive():
            consumer.stop()
        flink_client.cancel(config, job_id)
    flink_client.wait_for_state(config, job_id, "CANCELED", timeout_s=60)
    code, text = _status("--job-id", job_id)
    assert code == 1, text
    assert "CANCELED" in text


def _longest_checkpoint_ms(config: StackConfig, job_id: str) -> int:
    """The longest completed checkpoint of the job so far (trigger to completion)."""
    response = httpx.get(f"{config.flink_rest_url}/jobs/{job_id}/checkpoints", timeout=10)
    response.raise_for_status()
    summary = response.json().get("summary") or {}
    return int((summary.get("end_to_end_duration") or {}).get("max") or 0)
