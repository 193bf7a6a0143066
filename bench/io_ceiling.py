"""The I/O ceiling decomposed: Kafka's own perf tools, then Flink stage by stage, in one run.

On one pre-loaded topic of N events (the feature job's input, 2 partitions), at parallelism 1:

1. Kafka's producer perf tool (``org.apache.kafka.tools.ProducerPerformance``) writing N records
   of the topic's mean value size with the Kafka client's defaults (what Flink's Kafka sink
   uses unless told otherwise), and with lz4, 20 ms linger and 128 KB batches;
2. Kafka's consumer perf tool reading the topic;
3. the Flink stages of ``bench/io_stages.py`` (raw bytes at-least-once; + the job's Avro decode;
   + the views' Avro encode; + exactly-once sinks), each writing one record per view per event;
   the exactly-once stage also with the sinks as they were before decision 61
   (``exactly-once-legacy``: ``avro-confluent``, producer defaults), and the ceiling as
   ``bench/feature_jobs.py`` measured it before (``sql-passthrough``: ``avro-confluent`` source
   and sinks, ``bench/baseline_sql.py --passthrough``); and ``keyed``, the job with one
   ``SecondsSincePrev`` per view (its keyed exchange, window-function state, timers and
   rows, without window arithmetic);
4. the feature job itself (``jobs/<job>/job.py``, windows, no Redis sink).

Flink figures are N / Flink's job duration (start and final commit included: a low bound) and
each vertex's busy time. Usage (from the repository root; starts the local stack if needed)::

    .venv/bin/python -m bench.io_ceiling --count 1000000
    .venv/bin/python -m bench.io_ceiling --stages encode --sink-property linger.ms=20 ...
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from bench import feature_jobs
from bench.io_stages import LEGACY_SINK, STAGES
from common import registry, schemas
from common.config import StackConfig, load_stack_config
from common.local import artifacts, flink_client, parts, stack

ROOT = Path(__file__).resolve().parents[1]
STAGES_SCRIPT = ROOT / "bench" / "io_stages.py"
TUNED_PRODUCER = ("linger.ms=20", "batch.size=131072", "compression.type=lz4")
LEGACY = "exactly-once-legacy"
SQL_PASSTHROUGH = "sql-passthrough"
CHOICES = (*STAGES, LEGACY, SQL_PASSTHROUGH, "job")
_PERF_RATE = re.compile(r"([\d.]+) records/sec")


@dataclass(frozen=True)
class Measure:
    """One line of the table: what ran, records/s, and where the time went."""

    name: str
    records: int
    seconds: float
    note: str = ""

    @property
    def per_s(self) -> float:
        """Records per second."""
        return self.records / self.seconds


def mean_value_size(config: StackConfig, topic: str, sample: int = 20_000) -> int:
    """Mean value size in bytes of the first ``sample`` records of ``topic``."""
    consumer = Consumer(
        {
            "bootstrap.servers": config.bootstrap_servers,
            "group.id": f"bench-io-size-{uuid.uuid4().hex[:6]}",
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    sizes: list[int] = []
    deadline = time.monotonic() + 60
    while len(sizes) < sample and time.monotonic() < deadline:
        for message in consumer.consume(1000, timeout=1):
            if message.error() is None:
                sizes.append(len(message.value() or b""))
    consumer.close()
    if not sizes:
        raise RuntimeError(f"{topic}: no records to size")
    return round(sum(sizes) / len(sizes))


def _kafka_tool(config: StackConfig, main: str, args: list[str]) -> str:
    classpath = str(artifacts.part_dir(config.cache_dir, "kafka-tools") / "*")
    result = subprocess.run(
        [parts.java(), "-Xmx1g", "-cp", classpath, main, *args],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{main} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return result.stdout


def producer_perf(config: StackConfig, records: int, size: int, props: Sequence[str]) -> Measure:
    """Kafka's ProducerPerformance: ``records`` of ``size`` bytes, client defaults + ``props``."""
    topic = f"bench.io.producer-{uuid.uuid4().hex[:6]}"
    out = _kafka_tool(
        config,
        "org.apache.kafka.tools.ProducerPerformance",
        [
            "--topic",
            topic,
            "--num-records",
            str(records),
            "--record-size",
            str(size),
            "--throughput",
            "-1",
            "--producer-props",
            f"bootstrap.servers={config.bootstrap_servers}",
            *props,
        ],
    )
    rate = float(_PERF_RATE.findall(out)[-1])
    name = "Kafka producer perf tool, " + (" ".join(props) if props else "client defaults")
    return Measure(name, records, records / rate, f"{size} B records")


def consumer_perf(config: StackConfig, topic: str, records: int) -> Measure:
    """Kafka's ConsumerPerformance reading ``records`` of ``topic``."""
    out = _kafka_tool(
        config,
        "org.apache.kafka.tools.ConsumerPerformance",
        [
            *("--bootstrap-server", config.bootstrap_servers, "--topic", topic),
            *("--messages", str(records), "--group", f"bench-io-{uuid.uuid4().hex[:6]}"),
        ],
    )
    # Columns: start, end, MB, MB/s, msgs, msgs/s, rebalance ms, fetch ms, fetch MB/s, fetch msgs/s
    fields = [f.strip() for f in out.strip().splitlines()[-1].split(",")]
    consumed, fetch_ms = int(fields[4]), float(fields[7])
    return Measure("Kafka consumer perf tool", consumed, fetch_ms / 1000, "fetch time")


def flink_stage(
    config: StackConfig,
    job: str,
    stage: str,
    topic: str,
    events: int,
    sink_properties: Sequence[str],
    flink_conf: Sequence[str],
) -> Measure:
    """One ``bench/io_stages.py`` stage over ``topic``, bounded, at parallelism 1."""
    suffix = f".io-{uuid.uuid4().hex[:6]}-{stage}"
    legacy = stage == LEGACY
    args = [job, "exactly-once" if legacy else stage, "--source-topic", topic]
    args += ["--topic-suffix", suffix, "--bounded"]
    if legacy:
        args.append(f"--{LEGACY_SINK}")
    args += ["--group-id", f"bench-io{suffix}"]
    for prop in sink_properties:
        args += ["--sink-property", prop]
    for conf in flink_conf:
        args += ["--flink-conf", conf]
    print(f"  flink {stage}: submitting", flush=True)
    job_id = flink_client.submit_python(
        config, script=STAGES_SCRIPT, parallelism=1, args=args, cwd=ROOT
    )
    return _finished(config, job_id, f"Flink: {stage}", events)


def feature_job(
    config: StackConfig, job: str, topic: str, events: int, engine: str = "featurestream"
) -> Measure:
    """The feature job itself over ``topic`` (no Redis sink), as ``bench/feature_jobs.py``;
    with ``engine="io-ceiling"`` that benchmark's pass-through (the ceiling it measured)."""
    print(f"  flink {engine}: submitting", flush=True)
    job_id = feature_jobs.submit(
        config,
        engine,  # type: ignore[arg-type]
        job,
        source_topic=topic,
        topic_suffix=f".io-{uuid.uuid4().hex[:6]}-job",
        parallelism=1,
        bounded=True,
    )
    name = f"Flink: {job} (windows)" if engine == "featurestream" else f"Flink: {SQL_PASSTHROUGH}"
    return _finished(config, job_id, name, events)


def _finished(config: StackConfig, job_id: str, name: str, events: int) -> Measure:
    details, vertices = feature_jobs.follow(config, job_id, timeout_s=max(300.0, events / 2000))
    source = vertices[0]
    if source.records_in != events:
        raise RuntimeError(f"{name}: read {source.records_in:,} of {events:,} events")
    busy = "; ".join(
        f"{v.name} {feature_jobs._percent(v.busy)} busy" for v in vertices if v.busy is not None
    )
    measure = Measure(name, events, details["duration"] / 1000, busy)
    print(f"  {name}: {measure.per_s:,.0f} events/s ({measure.seconds:.1f} s) {busy}", flush=True)
    return measure


def report(measures: list[Measure], reference: str) -> str:
    """A markdown table; ratios against the measure named ``reference``."""
    base = next((m for m in measures if m.name == reference), None)
    lines = [
        "| what | records | time | records/s | vs raw Flink stage | notes |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for m in measures:
        ratio = f"{m.per_s / base.per_s:.2f}" if base else ""
        figures = f"{m.records:,} | {m.seconds:.1f} s | {m.per_s:,.0f}"
        lines.append(f"| {m.name} | {figures} | {ratio} | {m.note} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the decomposition and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--job", choices=sorted(feature_jobs.JOBS), default="payment_features")
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--warmup-count", type=int, default=100_000, help="0: no warm-up")
    parser.add_argument("--stages", nargs="+", choices=CHOICES, default=list(CHOICES))
    parser.add_argument("--no-kafka-tools", action="store_true")
    parser.add_argument(
        "--sink-property",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Kafka producer property for the stages' sinks (A/B of producer settings)",
    )
    parser.add_argument("--flink-conf", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    config = load_stack_config()
    stack.up(config)
    client = registry.client(config)
    for topic, name in schemas.topic_schemas([args.job]).items():
        registry.ensure_registered(client, topic, name)
    kind = feature_jobs.JOBS[args.job][1]
    print(f"load average at start: {feature_jobs.load_average():.2f}", flush=True)
    topic = feature_jobs.preload(config, kind, args.count, "io")
    if args.warmup_count:
        # The TaskManager's JIT and class loading, once for all stages.
        warm = feature_jobs.preload(config, kind, args.warmup_count, "io-warm")
        flink_stage(config, args.job, "exactly-once", warm, args.warmup_count, (), ())

    measures: list[Measure] = []
    if not args.no_kafka_tools:
        size = mean_value_size(config, topic)
        measures.append(producer_perf(config, args.count, size, ()))
        measures.append(producer_perf(config, args.count, size, TUNED_PRODUCER))
        measures.append(consumer_perf(config, topic, args.count))
    for stage in args.stages:
        if stage == "job":
            measures.append(feature_job(config, args.job, topic, args.count))
        elif stage == SQL_PASSTHROUGH:
            measures.append(feature_job(config, args.job, topic, args.count, "io-ceiling"))
        else:
            measures.append(
                flink_stage(
                    config, args.job, stage, topic, args.count, args.sink_property, args.flink_conf
                )
            )
    print()
    print(report(measures, "Flink: raw"))
    print(f"\nload average at end {feature_jobs.load_average():.2f}, {os.cpu_count()} CPUs")
    if args.json:
        args.json.write_text(
            json.dumps([asdict(m) | {"per_s": m.per_s} for m in measures], indent=2)
        )


if __name__ == "__main__":
    main()
