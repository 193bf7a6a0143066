"""Backfill: a feature job over history, then (optionally) live from exactly where it ends.

``featurestream backfill JOB --input <avro file | topic> [--until T] [--to-topics] [--then-live]``
runs the job as it streams over bounded history, writing the newest vector per key into the
online store (newer-wins, so a live job may write at the same time) and, with ``--to-topics``,
the feature topics.

With ``--then-live`` the history is read by the streaming job (streaming watermark) until the
job has committed every history offset in a checkpoint; then it stops with a savepoint (no
drain: rows within the watermark delay stay buffered), the history source's split state is
dropped from a copy of that savepoint (Flink's State Processor API, ``DropOperatorState``;
decision 66), and the job restarts from the copy reading the live topic from its start (or from
``--until``, by record timestamp). Every window is warm from the first live event, and every
event is counted once as long as history and live do not overlap: history before ``T``, the
live topic from ``T``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from common.config import StackConfig
from common.deploy import local
from common.features.sql import FeatureJob
from common.kafka import committed_offsets, end_offsets
from common.local import flink_client, jvm_functions
from common.runtime.launch import RunOptions, output_topics, submit, wait_finished
from common.runtime.offline import delete_topics, input_topic

SOURCE_UID = "1_source"
"""The uid of every feature job's Kafka source (its state: split offsets; see the lock files)."""
DROP_STATE_CLASS = "dev.featurestream.flink.state.DropOperatorState"


class BackfillError(RuntimeError):
    """The backfill could not run or hand over; says where it stopped."""


@dataclass
class BackfillSummary:
    """What a backfill read and where it left the job."""

    history_topic: str
    history_records: int
    seconds: float = 0.0
    savepoint: str | None = None
    live_savepoint: str | None = None
    live_job_id: str | None = None
    handover_s: float | None = None


def wait_consumed(
    config: StackConfig, job_id: str, group: str, topic: str, timeout_s: float
) -> None:
    """Wait until ``group`` has committed the end offset of every partition of ``topic`` (the
    source commits on checkpoints: everything before is in a completed checkpoint)."""
    ends = end_offsets(config, topic)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = flink_client.job_details(config, job_id)["state"]
        if state in flink_client.TERMINAL_STATES:
            raise BackfillError(
                f"the backfill job {job_id} ended {state}:\n"
                + flink_client.job_exception(config, job_id)[:2000]
            )
        committed = committed_offsets(config, group, topic)
        if all(committed.get(p, -1) >= end for p, end in ends.items()):
            return
        time.sleep(0.5)
    raise BackfillError(f"history not consumed within {timeout_s:.0f} s (group {group})")


def drop_source_state(config: StackConfig, savepoint: str, target: str) -> None:
    """A copy of ``savepoint`` at ``target`` without the source's split state."""
    jar = jvm_functions.functions_jar(config.cache_dir)
    try:
        flink_client.run_jar(config, jar, DROP_STATE_CLASS, [savepoint, target, SOURCE_UID])
    except flink_client.FlinkJobError as exc:
        raise BackfillError(f"dropping the history source's state failed: {exc}") from exc


def run_backfill(
    config: StackConfig,
    job: FeatureJob,
    source: str,
    *,
    until: datetime | None = None,
    to_topics: bool = False,
    then_live: bool = False,
    live_topic: str | None = None,
    topic_suffix: str = "",
    group_id: str | None = None,
    online_store: bool = True,
    parallelism: int | None = None,
    state_backend: str = "heap",
    timeout_s: float = 1800.0,
    on_progress: Callable[[str], None] = lambda _: None,
) -> BackfillSummary:
    """Backfill ``job`` over ``source`` (an Avro file or a topic); see the module docstring.

    ``topic_suffix`` is appended to every output topic (tests); without ``to_topics`` the
    feature rows of history go to run-private topics that are deleted afterwards. ``group_id``
    is the live job's consumer group (default ``featurestream-<job>``).

    Raises:
        BackfillError: the input is missing, the job failed, or the hand-over failed.
    """
    started = time.monotonic()
    run_id = uuid.uuid4().hex[:8]
    try:
        topic, records, created = input_topic(
            config, job.source, source, f"backfill.{job.name}.{run_id}", on_progress, until
        )
    except ValueError as exc:
        raise BackfillError(str(exc)) from exc
    summary = BackfillSummary(history_topic=topic, history_records=records)
    suffix = topic_suffix if to_topics else f"{topic_suffix}.backfill-{run_id}"
    temporary = [] if to_topics else list(output_topics(job, suffix))
    group = f"featurestream-backfill-{run_id}"
    options = RunOptions(
        parallelism=parallelism,
        source_topic=topic,
        topic_suffix=suffix,
        startup="earliest",
        bounded=not then_live,
        online_store=online_store,
        group_id=group,
        state_backend=state_backend,
    )
    try:
        job_id = submit(config, job, options, on_progress)
        if not then_live:
            on_progress(f"job {job_id} running over {topic} (bounded, {records:,} events)")
            wait_finished(config, job_id, timeout_s=timeout_s)
            if created:
                temporary.append(topic)
            summary.seconds = time.monotonic() - started
            return summary
        on_progress(f"job {job_id} reading {records:,} events of history from {topic}")
        wait_consumed(config, job_id, group, topic, timeout_s)
        on_progress("history consumed and checkpointed; stopping with a savepoint (no drain)")
        handover = time.monotonic()
        summary.savepoint = local.stop_with_savepoint(config, job, job_id)
        summary.live_savepoint = summary.savepoint.rstrip("/") + "-live"
        drop_source_state(config, summary.savepoint, summary.live_savepoint)
        live = RunOptions(
            parallelism=parallelism,
            from_savepoint=summary.live_savepoint,
            source_topic=live_topic,
            topic_suffix=topic_suffix,
            startup="earliest",
            group_id=group_id,
            online_store=online_store,
            state_backend=state_backend,
        )
        summary.live_job_id = submit(config, job, live, on_progress)
        local.wait_running(config, summary.live_job_id)
        summary.handover_s = time.monotonic() - handover
        summary.seconds = time.monotonic() - started
        # The live job's windows came from history, not its topic: the history topic may go,
        # the savepoints stay (the live one refers to the first's files).
        if created:
            temporary.append(topic)
        return summary
    except (flink_client.FlinkJobError, local.LocalError) as exc:
        raise BackfillError(str(exc)) from exc
    finally:
        delete_topics(config, temporary)
