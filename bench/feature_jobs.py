"""Feature jobs end to end: events/s against hand-written Flink SQL, and latency at 5k events/s.

Throughput: N events (``DEFAULT_COUNTS``) are pre-loaded into a fresh input topic (seed 1, event
time from 2026-01-01, ~1 ms apart, up to 1 s out of order); each run submits one job to the
local session cluster (``--startup earliest --bounded``: it reads the topic and FINISHES) and
takes events/s from Flink's own job duration (start to end, final exactly-once commit included).
The candidate is ``jobs/<job>/job.py`` as deployed, minus the Redis sink (``--no-online-store``);
the baseline is ``bench/baseline_sql.py`` (stacked OVER windows, ``avro-confluent``), at the same
parallelism on the same topic in the same run. Before timing, both run once on a smaller topic
(JIT warm-up) and their outputs are compared field by field. With ``--engines ... io-ceiling`` a run
per pair reads the same topic with the baseline's source and writes the same number of records
to the same sinks with no windows at all (``baseline_sql.py --passthrough``): the Kafka in →
Kafka out ceiling that no window design can pass on this machine.

Latency: the candidate streams at parallelism 1 while the generator produces at ``--rate``
events/s with event time = wall clock; a consumer (``read_committed``) stamps each feature record
on receipt. Latency = receive time - event time, split at the record's Kafka timestamp (set by
the job's Kafka producer when the sink writes it) into *event time to sink write* (watermark
wait + processing) and *sink write to visible* (the exactly-once transaction waits for the next
checkpoint).

Usage (from the repository root, so that this checkout's ``common`` is imported)::

    .venv/bin/python -m bench.feature_jobs            # parallelism 1 and 2, latency at 5k/s
    .venv/bin/python -m bench.feature_jobs --count 50000 --parallelism 1 --latency-seconds 0

Starts the local stack if it is not running (per ``FEATURESTREAM_*`` settings) and leaves it up.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import httpx
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from common import kafka, registry, schemas, serde
from common.config import StackConfig, load_stack_config
from common.features.sql import FeatureJob
from common.generate import runner
from common.generate.events import SCHEMA_NAMES, Kind
from common.generate.sinks import ensure_topic
from common.local import flink_client, stack
from common.runtime import launch
from jobs.payment_features.job import JOB as PAYMENT_FEATURES
from jobs.trade_features.job import JOB as TRADE_FEATURES

ROOT = Path(__file__).resolve().parents[1]
BASELINE_SCRIPT = ROOT / "bench" / "baseline_sql.py"
START = datetime(2026, 1, 1, tzinfo=UTC)
"""Simulated clock of the throughput inputs: fixed, so every run reads the same events."""
SEED = 1
DISORDER_MS = 1000
"""Out-of-orderness of the throughput inputs: within both jobs' watermark delay (no late events)."""
SAMPLE_INTERVAL_S = 1.0
TARGET_RATIO = 0.85
TARGET_EVENTS_PER_S = {1: 25_000, 2: 40_000}
LATENCY_WARMUP_S = 5.0
"""Latency ignores records whose event time is within this long of the first event."""
QUIET_S = 3.0
"""The latency consumer stops once nothing new arrived for this long after the generator ended
(records of the last ``max_out_of_orderness`` never leave the window function: no later event
moves the watermark past them)..."""
DRAIN_LIMIT_S = 45.0
"""...or this long after the generator ended, if the job is still catching up."""
FLOAT_TOLERANCE = 1e-9

DEFAULT_COUNTS = {"payment_features": 250_000, "trade_features": 120_000}
"""Events per timed run: each run lasts >= 20 s here, the whole benchmark < 15 min. Cost per event
grows with the events in a window (every input's event time spans less than its longest window,
~1 ms apart, so state only grows) and the trades baseline's per event cost with the hottest
symbol's window size: figures hold for these counts only."""

Engine = Literal["featurestream", "baseline", "io-ceiling"]
ENGINES: tuple[Engine, ...] = ("featurestream", "baseline", "io-ceiling")
JOBS: dict[str, tuple[FeatureJob, Kind]] = {
    "payment_features": (PAYMENT_FEATURES, "payments"),
    "trade_features": (TRADE_FEATURES, "trades"),
}


@dataclass(frozen=True)
class VertexLoad:
    """How busy one job vertex (a chain of operators) was while the job ran.

    Attributes:
        name: Short name: first operator, and the sinks chained into it.
        parallelism: Subtasks.
        busy: Mean ``busyTimeMsPerSecond`` / 1000 over the samples (subtask average).
        backpressured: Mean ``backPressuredTimeMsPerSecond`` / 1000 (waiting on downstream).
        records_in: Records the vertex read (from Kafka, for the source).
    """

    name: str
    parallelism: int
    busy: float | None
    backpressured: float | None
    records_in: int


@dataclass(frozen=True)
class Run:
    """One bounded run of one engine over the pre-loaded topic."""

    job: str
    engine: Engine
    parallelism: int
    events: int
    job_id: str
    topic_suffix: str
    duration_ms: int
    load_average: float
    vertices: tuple[VertexLoad, ...]

    @property
    def events_per_s(self) -> float:
        """Input events per second of job duration."""
        return self.events / (self.duration_ms / 1000)


@dataclass
class Agreement:
    """Featurestream vs baseline records of one view, joined on event id."""

    view: str
    ours: int
    baseline: int
    missing: int = 0
    differing: dict[str, int] = field(default_factory=dict)
    max_relative: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Percentiles:
    """p50 and p99 in milliseconds."""

    p50: float
    p99: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Percentiles:
        """p50 and p99 of ``values`` (at least two)."""
        cuts = statistics.quantiles(values, n=100, method="inclusive")
        return cls(p50=cuts[49], p99=cuts[98])


@dataclass(frozen=True)
class Latency:
    """Latency of one job at a fixed input rate."""

    job: str
    rate: float
    achieved_rate: float
    events: int
    received: int
    """Feature records received, of ``events`` x views (the last watermark delay's stay held)."""
    caught_up: bool
    """Whether output stopped within ``DRAIN_LIMIT_S`` of the generator's end."""
    records: int
    """Records measured: received, less those of the first ``LATENCY_WARMUP_S``."""
    watermark_delay_ms: int
    checkpoint_interval_ms: int
    total: Percentiles
    to_sink_write: Percentiles
    sink_write_to_visible: Percentiles
    generator_lag: Percentiles
    checkpoint_duration_ms: float | None
    load_average: float


def load_average() -> float:
    """1-minute load average."""
    return os.getloadavg()[0]


def short_vertex_name(name: str) -> str:
    """``Source: trades_in[1] -> (Calc[2], ...)`` → ``Source: trades_in``, plus chained sinks."""
    plain = re.sub(r"\[\d+\]", "", name)
    parts = [p.strip("() ") for p in re.split(r" -> |, ", plain)]
    sinks = [p.removesuffix(": Writer") for p in parts if p.endswith(": Writer")]
    return parts[0] + (" → " + " + ".join(sinks) if sinks else "")


# --- Flink ------------------------------------------------------------------------------------


def _vertex_metrics(config: StackConfig, job_id: str, vertex_id: str) -> dict[str, float]:
    response = httpx.get(
        f"{config.flink_rest_url}/jobs/{job_id}/vertices/{vertex_id}/subtasks/metrics",
        params={"get": "busyTimeMsPerSecond,backPressuredTimeMsPerSecond", "agg": "avg"},
        timeout=5,
    )
    response.raise_for_status()
    values = {}
    for metric in response.json():
        value = metric.get("avg")
        if isinstance(value, int | float) and math.isfinite(value):
            values[metric["id"]] = float(value)
    return values


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def follow(
    config: StackConfig, job_id: str, timeout_s: float
) -> tuple[dict[str, Any], list[VertexLoad]]:
    """Poll the job until FINISHED, sampling every vertex's busy and backpressured time.

    Raises:
        FlinkJobError: the job ended otherwise, or did not finish within ``timeout_s``.
    """
    busy: dict[str, list[float]] = {}
    backpressured: dict[str, list[float]] = {}
    deadline = time.monotonic() + timeout_s
    while True:
        details = flink_client.job_details(config, job_id)
        state = details["state"]
        if state == "FINISHED":
            break
        if state in flink_client.TERMINAL_STATES:
            raise flink_client.FlinkJobError(
                f"job {job_id} ended {state}:\n{flink_client.job_exception(config, job_id)[:4000]}"
            )
        if time.monotonic() > deadline:
            flink_client.cancel(config, job_id)
            raise flink_client.FlinkJobError(f"job {job_id} still {state} after {timeout_s:.0f}s")
        for vertex in details.get("vertices", []):
            if vertex["status"] != "RUNNING":
                continue
            metrics = _vertex_metrics(config, job_id, vertex["id"])
            if "busyTimeMsPerSecond" in metrics:
                busy.setdefault(vertex["id"], []).append(metrics["busyTimeMsPerSecond"] / 1000)
            if "backPressuredTimeMsPerSecond" in metrics:
                backpressured.setdefault(vertex["id"], []).append(
                    metrics["backPressuredTimeMsPerSecond"] / 1000
                )
        time.sleep(SAMPLE_INTERVAL_S)
    loads = [
        VertexLoad(
            name=short_vertex_name(vertex["name"]),
            parallelism=vertex["parallelism"],
            busy=_mean(busy.get(vertex["id"], [])),
            backpressured=_mean(backpressured.get(vertex["id"], [])),
            records_in=vertex["metrics"]["read-records"],
        )
        for vertex in details["vertices"]
    ]
    return details, loads


def submit(
    config: StackConfig,
    engine: Engine,
    job: str,
    *,
    source_topic: str,
    topic_suffix: str,
    parallelism: int,
    bounded: bool,
    online_store: bool = False,
) -> str:
    """Submit the feature job (``engine="featurestream"``) or its baseline; the job id.

    The feature job goes through ``common.runtime.launch`` like ``featurestream run``, with
    ``online_store`` deciding whether its Redis sink is in.
    """
    group_id = f"bench{topic_suffix}"
    if engine == "featurestream":
        options = launch.RunOptions(
            parallelism=parallelism,
            source_topic=source_topic,
            topic_suffix=topic_suffix,
            startup="earliest",
            bounded=bounded,
            online_store=online_store,
            group_id=group_id,
            # Streaming behaviour over a bounded topic, like the baseline: a bounded run would
            # otherwise hold every row until the end of the input (decision 51).
            extra_args=("--streaming-watermark",),
        )
        return launch.submit(config, JOBS[job][0], options)
    args = [job, "--source-topic", source_topic, "--topic-suffix", topic_suffix]
    args += ["--startup", "earliest", "--group-id", group_id]
    if engine == "io-ceiling":
        args.append("--passthrough")
    if bounded:
        args.append("--bounded")
    return flink_client.submit_python(
        config, script=BASELINE_SCRIPT, parallelism=parallelism, args=args, cwd=ROOT
    )


def run_bounded(
    config: StackConfig, engine: Engine, job: str, topic: str, events: int, parallelism: int
) -> Run:
    """Run ``engine``'s job over ``topic`` (``events`` records) to completion."""
    suffix = f".bench-{uuid.uuid4().hex[:6]}-{engine}-p{parallelism}"
    print(f"  {job} {engine} p={parallelism}: submitting", flush=True)
    job_id = submit(
        config,
        engine,
        job,
        source_topic=topic,
        topic_suffix=suffix,
        parallelism=parallelism,
        bounded=True,
    )
    load = load_average()
    details, vertices = follow(config, job_id, timeout_s=max(300.0, events / 2000))
    source = vertices[0]
    if source.records_in != events:
        raise RuntimeError(f"{job} {engine}: read {source.records_in:,} of {events:,} events")
    run = Run(
        job, engine, parallelism, events, job_id, suffix, details["duration"], load, tuple(vertices)
    )
    print(
        f"  {job} {engine} p={parallelism}: {run.events_per_s:,.0f} events/s "
        f"({run.duration_ms / 1000:.1f} s, load {load:.1f}) [topics *{suffix}]",
        flush=True,
    )
    return run


def checkpoint_duration_ms(config: StackConfig, job_id: str) -> float | None:
    """Median end-to-end duration of the job's completed checkpoints."""
    response = httpx.get(f"{config.flink_rest_url}/jobs/{job_id}/checkpoints", timeout=5)
    if response.status_code != 200:
        return None
    summary = response.json().get("summary", {}).get("end_to_end_duration", {})
    value = summary.get("p50")
    return float(value) if isinstance(value, int | float) else None


# --- outputs ----------------------------------------------------------------------------------


def feature_topics(job: FeatureJob, suffix: str) -> dict[str, str]:
    """View name → its feature topic with ``suffix``."""
    return {v.name: f"features.{v.name}.v{v.version}{suffix}" for v in job.views}


def read_features(config: StackConfig, topic: str) -> dict[str, dict[str, Any]]:
    """Every committed record of a feature topic, by event id."""
    lookup = registry.writer_schemas(registry.client(config))
    return {
        record["event_id"]: record
        for record in (
            serde.decode(r.value or b"", lookup)
            for r in kafka.read_topic(config, topic, timeout_s=300)
        )
    }


def compare(
    view: str, ours: dict[str, dict[str, Any]], baseline: dict[str, dict[str, Any]]
) -> Agreement:
    """Field-by-field agreement of two outputs of one view (floats to ``FLOAT_TOLERANCE``)."""
    agreement = Agreement(view, len(ours), len(baseline))
    for event_id, mine in ours.items():
        theirs = baseline.get(event_id)
        if theirs is None:
            agreement.missing += 1
            continue
        for name, value in mine.items():
            other = theirs.get(name)
            if value == other:
                continue
            if isinstance(value, float) and isinstance(other, float):
                relative = abs(value - other) / max(abs(value), abs(other), 1e-300)
                if relative <= FLOAT_TOLERANCE:
                    continue
                agreement.max_relative[name] = max(agreement.max_relative.get(name, 0.0), relative)
            agreement.differing[name] = agreement.differing.get(name, 0) + 1
    return agreement


# --- latency ----------------------------------------------------------------------------------


class ReceiveStamper(threading.Thread):
    """Consumes topics (``read_committed``) from the beginning, stamping each record on receipt."""

    def __init__(self, config: StackConfig, topics: Iterable[str], partitions: int) -> None:
        super().__init__(daemon=True)
        self._consumer = Consumer(
            {
                "bootstrap.servers": config.bootstrap_servers,
                "group.id": f"bench-latency-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "fetch.wait.max.ms": 20,
            }
        )
        self._consumer.assign(
            [TopicPartition(t, p, OFFSET_BEGINNING) for t in topics for p in range(partitions)]
        )
        self._stopping = threading.Event()
        self.received: list[tuple[float, int, bytes]] = []
        """(receive wall time in ms, Kafka timestamp in ms, value) per record."""
        self.last_receipt = time.monotonic()

    def run(self) -> None:
        """Poll until stopped; decoding waits until the end, off the receive path."""
        try:
            while not self._stopping.is_set():
                messages = self._consumer.consume(num_messages=1000, timeout=0.1)
                now_ms = time.time() * 1000
                for message in messages:
                    value = message.value()
                    if message.error() is None and value is not None:
                        self.received.append((now_ms, message.timestamp()[1], value))
                if messages:
                    self.last_receipt = time.monotonic()
        finally:
            self._consumer.close()

    def stop(self) -> None:
        """Stop polling and wait for the thread to end."""
        self._stopping.set()
        self.join()


def _wait_until_running(config: StackConfig, job_id: str, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        details = flink_client.job_details(config, job_id)
        if details["state"] in flink_client.TERMINAL_STATES:
            raise flink_client.FlinkJobError(f"job {job_id} ended {details['state']}")
        vertices = details.get("vertices", [])
        if vertices and all(v["status"] == "RUNNING" for v in vertices):
            return
        time.sleep(0.25)
    raise flink_client.FlinkJobError(f"job {job_id}: tasks not all RUNNING after {timeout_s:.0f}s")


@dataclass(frozen=True)
class LiveRun:
    """What a streaming job wrote while the generator produced at a fixed rate."""

    received: list[tuple[float, int, bytes]]
    """(receive wall time in ms, Kafka timestamp in ms, value) per output record."""
    produced: runner.Summary
    drained: bool
    checkpoint_ms: float | None
    load: float


def stream_at_rate(
    config: StackConfig,
    job_id: str,
    outputs: list[str],
    kind: Kind,
    topic: str,
    rate: float,
    seconds: float,
) -> LiveRun:
    """Once ``job_id`` runs, produce ``rate`` events/s (event time = wall clock) to ``topic``
    for ``seconds`` while stamping ``outputs`` on receipt; cancel the job at the end."""
    try:
        _wait_until_running(config, job_id)
        stamper = ReceiveStamper(config, outputs, config.kafka_partitions)
        stamper.start()
        load = load_average()
        count = round(rate * seconds)
        summary = runner.produce(
            kind, config, count=count, seed=SEED, start=datetime.now(UTC), rate=rate, topic=topic
        )
        if not summary.ok:
            raise RuntimeError(summary.line())
        produced_at = time.monotonic()
        while (
            time.monotonic() - stamper.last_receipt < QUIET_S
            and time.monotonic() - produced_at < DRAIN_LIMIT_S
        ):
            time.sleep(0.2)
        drained = time.monotonic() - stamper.last_receipt >= QUIET_S
        stamper.stop()
        checkpoint_ms = checkpoint_duration_ms(config, job_id)
    finally:
        flink_client.cancel(config, job_id)
    return LiveRun(stamper.received, summary, drained, checkpoint_ms, load)


def latency_rows(live: LiveRun, config: StackConfig) -> list[tuple[float, float, float]]:
    """(event time, receive time, sink write time) in ms per record, after the warm-up."""
    lookup = registry.writer_schemas(registry.client(config))
    rows = []
    for received_ms, written_ms, value in live.received:
        event_ms = serde.decode(value, lookup)["event_time"].timestamp() * 1000
        rows.append((event_ms, received_ms, float(written_ms)))
    first_event_ms = min(event_ms for event_ms, _, _ in rows)
    return [r for r in rows if r[0] >= first_event_ms + LATENCY_WARMUP_S * 1000]


def measure_latency(config: StackConfig, job_name: str, rate: float, seconds: float) -> Latency:
    """Stream ``job_name`` (parallelism 1) while producing at ``rate``; latency of its records."""
    job, kind = JOBS[job_name]
    tag = uuid.uuid4().hex[:6]
    topic = f"bench.{kind}.live-{tag}"
    suffix = f".bench-{tag}-live"
    client = registry.client(config)
    ensure_topic(config, topic)
    registry.ensure_registered(client, topic, SCHEMA_NAMES[kind])
    outputs = list(feature_topics(job, suffix).values())
    for output in outputs:
        ensure_topic(config, output)
    print(f"  {job_name} latency: submitting (streaming)", flush=True)
    job_id = submit(
        config,
        "featurestream",
        job_name,
        source_topic=topic,
        topic_suffix=suffix,
        parallelism=1,
        bounded=False,
    )
    count = round(rate * seconds)
    live = stream_at_rate(config, job_id, outputs, kind, topic, rate, seconds)
    rows = latency_rows(live, config)
    lookup = registry.writer_schemas(client)
    generated = kafka.read_topic(config, topic, expected=min(count, 5000))
    lags = [
        r.timestamp_ms - serde.decode(r.value or b"", lookup)["event_time"].timestamp() * 1000
        for r in generated
    ]
    return Latency(
        job=job_name,
        rate=rate,
        achieved_rate=live.produced.events_per_s,
        events=live.produced.records,
        received=len(live.received),
        caught_up=live.drained,
        records=len(rows),
        watermark_delay_ms=round(job.source.max_out_of_orderness.total_seconds() * 1000),
        checkpoint_interval_ms=1000,
        total=Percentiles.of([received - event for event, received, _ in rows]),
        to_sink_write=Percentiles.of([written - event for event, _, written in rows]),
        sink_write_to_visible=Percentiles.of([received - written for _, received, written in rows]),
        generator_lag=Percentiles.of(lags),
        checkpoint_duration_ms=live.checkpoint_ms,
        load_average=live.load,
    )


# --- report -----------------------------------------------------------------------------------


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.0f}%"


def _rate(run: Run | None) -> str:
    return "-" if run is None else f"{run.events_per_s:,.0f}/s ({run.duration_ms / 1000:.1f} s)"


def report(runs: list[Run], agreements: list[Agreement], latencies: list[Latency]) -> str:
    """The results as markdown tables."""
    lines = ["\n### Throughput (each pair of runs reads the same topic)\n"]
    lines.append(
        "| job | events | parallelism | featurestream | baseline (stacked OVER) | ratio "
        f"| ≥ {TARGET_RATIO}x | ≥ target events/s | I/O ceiling (no windows) | load avg |"
    )
    lines.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    pairs: dict[tuple[str, int], dict[str, Run]] = {}
    for run in runs:
        pairs.setdefault((run.job, run.parallelism), {})[run.engine] = run
    for (job, parallelism), pair in pairs.items():
        ours, base, io = (pair.get(e) for e in ENGINES)
        target = TARGET_EVENTS_PER_S.get(parallelism)
        ratio = ours.events_per_s / base.events_per_s if ours and base else None
        meets = (
            "n/a"
            if target is None or ours is None
            else ("yes" if ours.events_per_s >= target else "no")
        )
        events = next(r.events for r in pair.values())
        loads = " / ".join(f"{r.load_average:.1f}" for r in (ours, base, io) if r)
        lines.append(
            f"| {job} | {events:,} | {parallelism} | {_rate(ours)} | {_rate(base)} "
            f"| {'-' if ratio is None else f'{ratio:.2f}'} "
            f"| {'-' if ratio is None else ('yes' if ratio >= TARGET_RATIO else 'no')} "
            f"| {meets}{f' ({target:,})' if target else ''} | {_rate(io)} | {loads} |"
        )
    lines.append("\n### Where the time goes (mean over the run, per subtask)\n")
    lines.append("| job | engine | p | vertex | busy | backpressured |")
    lines.append("| --- | --- | --- | --- | --- | --- |")
    for run in runs:
        for vertex in run.vertices:
            lines.append(
                f"| {run.job} | {run.engine} | {run.parallelism} | {vertex.name} "
                f"| {_percent(vertex.busy)} | {_percent(vertex.backpressured)} |"
            )
    if agreements:
        lines.append("\n### Agreement with the baseline (warm-up run, joined on event id)\n")
        lines.append("| view | records (ours / baseline) | missing | fields that differ |")
        lines.append("| --- | --- | --- | --- |")
        for a in agreements:
            differing = (
                ", ".join(
                    f"{name} {n:,}"
                    + (f" (max rel. {a.max_relative[name]:.0e})" if name in a.max_relative else "")
                    for name, n in a.differing.items()
                )
                or "none"
            )
            lines.append(
                f"| {a.view} | {a.ours:,} / {a.baseline:,} | {a.missing:,} | {differing} |"
            )
    if latencies:
        lines.append("\n### Latency, featurestream at parallelism 1 (ms, p50 / p99)\n")
        lines.append(
            "| job | rate (achieved) | received / events x views | measured "
            "| event time → visible | event time → sink write "
            "| sink write → visible | watermark delay | checkpoint p50 | generator lag | load avg |"
        )
        lines.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for lat in latencies:
            views = len(JOBS[lat.job][0].views)
            caught_up = "" if lat.caught_up else " (still catching up)"
            checkpoint = (
                "n/a" if lat.checkpoint_duration_ms is None else f"{lat.checkpoint_duration_ms:.0f}"
            )
            lines.append(
                f"| {lat.job} | {lat.rate:,.0f}/s ({lat.achieved_rate:,.0f}/s) "
                f"| {lat.received:,} / {lat.events * views:,}{caught_up} | {lat.records:,} "
                f"| {lat.total.p50:,.0f} / {lat.total.p99:,.0f} "
                f"| {lat.to_sink_write.p50:,.0f} / {lat.to_sink_write.p99:,.0f} "
                f"| {lat.sink_write_to_visible.p50:,.0f} / {lat.sink_write_to_visible.p99:,.0f} "
                f"| {lat.watermark_delay_ms:,} | {checkpoint} "
                f"| {lat.generator_lag.p50:.0f} / {lat.generator_lag.p99:.0f} "
                f"| {lat.load_average:.1f} |"
            )
    return "\n".join(lines)


# --- main -------------------------------------------------------------------------------------


def preload(config: StackConfig, kind: Kind, count: int, label: str) -> str:
    """A fresh topic holding ``count`` events of ``kind``; its name."""
    topic = f"bench.{kind}.{label}-{uuid.uuid4().hex[:6]}"
    summary = runner.produce(
        kind, config, count=count, seed=SEED, start=START, disorder_ms=DISORDER_MS, topic=topic
    )
    if not summary.ok:
        raise RuntimeError(summary.line())
    print(f"  {summary.line()}", flush=True)
    return topic


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--count", type=int, help="events per timed run (default: per job, DEFAULT_COUNTS)"
    )
    parser.add_argument("--warmup-count", type=int, default=20_000, help="0: no warm-up/compare")
    parser.add_argument("--parallelism", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--jobs", nargs="+", choices=sorted(JOBS), default=sorted(JOBS))
    parser.add_argument("--rate", type=float, default=5000.0, help="latency: events/s")
    parser.add_argument("--latency-seconds", type=float, default=30.0, help="0: no latency")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument(
        "--engines",
        nargs="+",
        choices=ENGINES,
        default=["featurestream", "baseline"],
        help="timed runs: io-ceiling is a pass-through job (source → the same sinks, no windows)",
    )
    args = parser.parse_args(argv)

    config = load_stack_config()
    stack.up(config)
    client = registry.client(config)
    for topic, name in schemas.topic_schemas(args.jobs).items():
        registry.ensure_registered(client, topic, name)
    began = time.monotonic()
    print(f"load average at start: {load_average():.2f}", flush=True)

    print("pre-loading inputs", flush=True)
    counts = {job: args.count or DEFAULT_COUNTS[job] for job in args.jobs}
    inputs = {job: preload(config, JOBS[job][1], counts[job], "timed") for job in args.jobs}
    warm = {
        job: preload(config, JOBS[job][1], args.warmup_count, "warm")
        for job in args.jobs
        if args.warmup_count
    }

    agreements: list[Agreement] = []
    for job, warm_topic in warm.items():
        print(f"warm-up and agreement: {job}", flush=True)
        warm_runs: dict[Engine, Run] = {
            engine: run_bounded(config, engine, job, warm_topic, args.warmup_count, 1)
            for engine in ("featurestream", "baseline")
        }
        feature_job = JOBS[job][0]
        ours = feature_topics(feature_job, warm_runs["featurestream"].topic_suffix)
        theirs = feature_topics(feature_job, warm_runs["baseline"].topic_suffix)
        for view, our_topic in ours.items():
            agreements.append(
                compare(view, read_features(config, our_topic), read_features(config, theirs[view]))
            )

    runs: list[Run] = []
    for index, parallelism in enumerate(args.parallelism):
        for job in args.jobs:
            engines = [e for e in ENGINES if e in args.engines]
            # Alternate which engine goes first, so none always runs on a warmer machine.
            for engine in engines if index % 2 == 0 else engines[::-1]:
                runs.append(run_bounded(config, engine, job, inputs[job], counts[job], parallelism))

    latencies = []
    if args.latency_seconds:
        for job in args.jobs:
            latencies.append(measure_latency(config, job, args.rate, args.latency_seconds))

    print(report(runs, agreements, latencies))
    print(
        f"\nwall time {time.monotonic() - began:.0f} s, load average at end {load_average():.2f}, "
        f"{os.cpu_count()} CPUs"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "runs": [asdict(r) | {"events_per_s": r.events_per_s} for r in runs],
                    "agreements": [asdict(a) for a in agreements],
                    "latencies": [asdict(lat) for lat in latencies],
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
