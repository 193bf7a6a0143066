"""Generator throughput into Kafka, against the raw producer ceiling measured in the same run.

Baseline: the same ``KafkaSink`` (same client settings, same broker) sending N copies of one
pre-encoded record: what the client and broker can take with no generation or encoding.
Candidate: ``featurestream generate`` (generate + encode + produce) for trades and payments.

Usage: .venv/bin/python bench/generator_throughput.py [--count 300000]
Starts the local stack if it is not running (per FEATURESTREAM_* settings).
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import UTC, datetime

from common.config import load_stack_config
from common.generate import runner
from common.generate.events import Kind
from common.generate.sinks import KafkaSink, ensure_topic
from common.local import stack
from common.serde import Encoder, load_schema

START = datetime(2026, 1, 1, tzinfo=UTC)


def baseline(count: int, value: bytes, key: bytes) -> float:
    """Events/s of the bare sink for ``count`` copies of ``value``."""
    config = load_stack_config()
    topic = f"bench-baseline-{uuid.uuid4().hex[:8]}"
    ensure_topic(config, topic)
    sink = KafkaSink(config, topic)
    started = time.perf_counter()
    for _ in range(count):
        sink.send(key, value)
    failures = sink.close()
    elapsed = time.perf_counter() - started
    assert failures == 0, f"{failures} baseline deliveries failed"
    return count / elapsed


def candidate(kind: Kind, count: int) -> float:
    """Events/s of the generator for ``count`` events of ``kind``."""
    config = load_stack_config()
    topic = f"bench-{kind}-{uuid.uuid4().hex[:8]}"
    summary = runner.produce(kind, config, count=count, start=START, topic=topic)
    assert summary.ok, summary.line()
    return summary.events_per_s


def main() -> None:
    """Run the benchmark and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=300_000)
    count = parser.parse_args().count
    stack.up(load_stack_config())
    rows = []
    for kind, schema in (("trades", "trade_event"), ("payments", "payment_event")):
        first = next(runner.generate_events(kind, 1, start=START))
        value = Encoder(1, load_schema(schema)).encode(first.record)
        base = baseline(count, value, first.key)
        cand = candidate(kind, count)
        rows.append((kind, base, cand))
    print(f"\n{count:,} events per run, one broker on loopback\n")
    print("| events | raw producer (baseline) | generator | ratio |")
    print("| --- | --- | --- | --- |")
    for kind, base, cand in rows:
        print(f"| {kind} | {base:,.0f}/s | {cand:,.0f}/s | {cand / base:.2f} |")


if __name__ == "__main__":
    main()
