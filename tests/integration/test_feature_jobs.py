"""The feature jobs on the real stack: values equal an independent reference, offline rows equal
streaming rows, every input record is accounted for.

Each test generates events with out-of-order event times (within the source's bound), runs the
job from ``jobs/`` as ``featurestream run`` does, and checks the output topics (read as a
``read_committed`` consumer) against ``tests/feature_reference.py`` (DuckDB window queries).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from common.config import StackConfig
from common.features import FeatureView
from common.generate.malformed import MalformedKind
from common.generate.runner import produce
from common.runtime.catalog import load_job
from common.runtime.launch import RunOptions, submit, wait_finished
from common.runtime.offline import run_offline
from tests.integration.feature_checks import (
    assert_match_reference,
    assert_same_rows,
    decoded_events,
    read_values,
    subject_versions,
)

pytestmark = pytest.mark.integration

START = datetime(2026, 4, 1, tzinfo=UTC)


def _run_bounded(
    config: StackConfig, job_name: str, source: str, suffix: str, parallelism: int
) -> None:
    options = RunOptions(
        parallelism=parallelism,
        source_topic=source,
        topic_suffix=suffix,
        startup="earliest",
        bounded=True,
        online_store=False,
        group_id=f"test{suffix}",
    )
    job_id = submit(config, load_job(job_name), options)
    wait_finished(config, job_id, timeout_s=300)


def _feature_topic(view: FeatureView, suffix: str) -> str:
    return f"features.{view.qualified_name}{suffix}"


def test_payment_features_equal_reference_and_offline(
    stack_config: StackConfig, unique_topic, tmp_path: Path
) -> None:
    """Streaming at parallelism 1, offline (from the topic) at parallelism 2: equal rows."""
    job = load_job("payment_features")
    source = unique_topic("payments")
    suffix = "." + unique_topic("run")
    summary = produce(
        "payments",
        stack_config,
        count=6_000,
        seed=21,
        start=START,
        disorder_ms=4_000,
        bad_pct=3,
        topic=source,
    )
    assert summary.ok and summary.bad_total > 100
    _run_bounded(stack_config, job.name, source, suffix, parallelism=1)

    events = decoded_events(stack_config, source)
    assert len(events) == 6_000 - summary.bad_total
    streamed = {}
    for view in job.views:
        rows = read_values(stack_config, _feature_topic(view, suffix))
        assert_match_reference(view, rows, events)
        streamed[view.qualified_name] = rows

    # Every input record is a feature row of each view or a dead letter with its reason.
    letters = read_values(stack_config, f"dlq.{job.name}{suffix}")
    expected: Counter[str] = Counter()
    for kind, count in summary.bad.items():
        expected[MalformedKind(kind).expected_reason] += count
    assert Counter(letter["reason"] for letter in letters) == expected
    for rows in streamed.values():
        assert len(rows) + len(letters) == 6_000
    # The sinks found their schemas registered in the exact form they write (no new versions).
    for topic in [f"dlq.{job.name}{suffix}", *(_feature_topic(v, suffix) for v in job.views)]:
        assert subject_versions(stack_config, topic) == [1], topic

    offline = run_offline(stack_config, job, source, tmp_path / "out", parallelism=2)
    assert offline.input_records == 6_000
    assert sum(offline.dead_letters.values()) == summary.bad_total
    for name, rows in streamed.items():
        table = pq.read_table(offline.files[name]).to_pylist()
        assert_same_rows(rows, table)


def test_trade_features_equal_reference_and_offline_from_a_file(
    stack_config: StackConfig, unique_topic, tmp_path: Path
) -> None:
    """Streaming at parallelism 2; offline from an Avro file of the same events at 1."""
    job = load_job("trade_features")
    source = unique_topic("trades")
    suffix = "." + unique_topic("run")
    settings = {"count": 6_000, "seed": 22, "start": START, "disorder_ms": 1_500}
    assert produce("trades", stack_config, topic=source, **settings).ok  # type: ignore[arg-type]
    history = tmp_path / "trades.avro"
    produce("trades", stack_config, to_file=history, **settings)  # type: ignore[arg-type]
    _run_bounded(stack_config, job.name, source, suffix, parallelism=2)
    for view in job.views:
        assert subject_versions(stack_config, _feature_topic(view, suffix)) == [1]

    events = decoded_events(stack_config, source)
    assert len(events) == 6_000
    offline = run_offline(
        stack_config, job, str(history), tmp_path / "symbol.parquet", views=["trade_symbol.v1"]
    )
    assert offline.input_records == 6_000 and not offline.dead_letters
    for view in job.views:
        rows = read_values(stack_config, _feature_topic(view, suffix))
        assert_match_reference(view, rows, events)
        if view.qualified_name in offline.files:
            assert_same_rows(rows, pq.read_table(offline.files[view.qualified_name]).to_pylist())
    assert list(offline.files) == ["trade_symbol.v1"]
