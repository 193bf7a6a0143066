"""Inference requests: latency from event time to a visible request at a fixed input rate.

For each model, the inference_requests job streams (parallelism 1, ``--model``) while the
generator produces at ``--rate`` events/s with event time = wall clock; a ``read_committed``
consumer stamps each request on receipt. Latency = receive time - event time, split at the
request's Kafka timestamp (when the job's sink wrote it) into *event time to sink write*
(watermark wait + join + processing) and *sink write to visible* (the exactly-once transaction
waits for the next checkpoint). Budget (the issue's target): p99 <= the source's allowed
out-of-orderness + 500 ms.

Baseline, in the same run on the same stack: the same job with the feature jobs' intervals
(1 s checkpoints, 200 ms watermark emission) instead of the inference job's (200 ms, 50 ms), so
the table shows what the shorter intervals buy.

Usage (from the repository root)::

    .venv/bin/python -m bench.inference_latency               # both models, 5k events/s, 30 s
    .venv/bin/python -m bench.inference_latency --model payment_fraud --seconds 20
"""

from __future__ import annotations

import argparse
import json
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.feature_jobs import Percentiles, latency_rows, stream_at_rate
from common import registry
from common.config import StackConfig, load_stack_config
from common.features import output_schema
from common.generate.events import Kind
from common.generate.sinks import ensure_topic
from common.local import stack
from common.models.contract import ModelContract
from common.models.request_job import CHECKPOINT_INTERVAL, WATERMARK_INTERVAL
from common.runtime import launch
from jobs.inference_requests.job import JOB
from jobs.inference_requests.models import MODELS

KINDS: dict[str, Kind] = {"payments": "payments", "trades": "trades"}
SETTINGS = {
    "inference job": (CHECKPOINT_INTERVAL, WATERMARK_INTERVAL),
    "feature-job intervals (baseline)": ("1 s", "200 ms"),
}


@dataclass(frozen=True)
class RequestLatency:
    """Latency of one model's requests at a fixed input rate, under one setting."""

    model: str
    setting: str
    checkpoint_interval: str
    watermark_interval: str
    rate: float
    achieved_rate: float
    events: int
    received: int
    caught_up: bool
    records: int
    budget_ms: float
    total: Percentiles
    to_sink_write: Percentiles
    sink_write_to_visible: Percentiles
    checkpoint_duration_ms: float | None
    load_average: float


def measure(
    config: StackConfig,
    model: ModelContract,
    setting: str,
    rate: float,
    seconds: float,
) -> RequestLatency:
    """Stream the model's pipeline while producing at ``rate``; latency of its requests."""
    checkpoint, watermark = SETTINGS[setting]
    kind = KINDS[model.trigger.topic]
    tag = uuid.uuid4().hex[:6]
    topic = f"bench.{kind}.req-{tag}"
    suffix = f".bench-{tag}"
    ensure_topic(config, topic)
    registry.ensure_registered(registry.client(config), topic, model.trigger.schema)
    output = model.request_topic + suffix
    options = launch.RunOptions(
        parallelism=1,
        source_topic=topic,
        topic_suffix=suffix,
        startup="earliest",
        group_id=f"bench{suffix}",
        models=(model.name,),
        checkpoint_interval=checkpoint,
        extra_args=("--watermark-interval", watermark),
    )
    print(f"  {model.qualified_name} [{setting}]: submitting", flush=True)
    job_id = launch.submit(config, JOB, options)
    ensure_topic(config, output)
    live = stream_at_rate(config, job_id, [output], kind, topic, rate, seconds)
    rows = latency_rows(live, config)
    return RequestLatency(
        model=model.qualified_name,
        setting=setting,
        checkpoint_interval=checkpoint,
        watermark_interval=watermark,
        rate=rate,
        achieved_rate=live.produced.events_per_s,
        events=live.produced.records,
        received=len(live.received),
        caught_up=live.drained,
        records=len(rows),
        budget_ms=model.trigger.max_out_of_orderness.total_seconds() * 1000 + 500,
        total=Percentiles.of([received - event for event, received, _ in rows]),
        to_sink_write=Percentiles.of([written - event for event, _, written in rows]),
        sink_write_to_visible=Percentiles.of([received - written for _, received, written in rows]),
        checkpoint_duration_ms=live.checkpoint_ms,
        load_average=live.load,
    )


def report(results: list[RequestLatency]) -> str:
    """The results as a Markdown table."""
    lines = [
        "| model | setting (checkpoint / watermark interval) | received / events | "
        "event time → visible p50 / p99 | budget (p99) | met | event time → sink write p50 / p99 "
        "| sink write → visible p50 / p99 | checkpoint p50 | load avg |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        checkpoint = f"{r.checkpoint_duration_ms:.0f} ms" if r.checkpoint_duration_ms else "-"
        lines.append(
            f"| {r.model} | {r.setting} ({r.checkpoint_interval} / {r.watermark_interval}) "
            f"| {r.received:,} / {r.events:,} | {r.total.p50:,.0f} / {r.total.p99:,.0f} ms "
            f"| {r.budget_ms:,.0f} ms | {'yes' if r.total.p99 <= r.budget_ms else 'no'} "
            f"| {r.to_sink_write.p50:,.0f} / {r.to_sink_write.p99:,.0f} ms "
            f"| {r.sink_write_to_visible.p50:,.0f} / {r.sink_write_to_visible.p99:,.0f} ms "
            f"| {checkpoint} | {r.load_average:.1f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: measure, print the table, optionally keep the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", default=[], help="default: every model")
    parser.add_argument("--rate", type=float, default=5_000.0, help="events/s")
    parser.add_argument("--seconds", type=float, default=30.0, help="production time per run")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args(argv)
    config = load_stack_config()
    stack.up(config)
    chosen = [m for m in MODELS if not args.model or m.name in args.model]
    # The contracts are checked against the feature schemas: registered as the feature jobs do.
    client = registry.client(config)
    for topic, name in output_schema.topic_schemas({v for m in chosen for v in m.views}).items():
        registry.ensure_registered(client, topic, name)
    results = [
        measure(config, model, setting, args.rate, args.seconds)
        for model in chosen
        for setting in SETTINGS
    ]
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2, default=str))


if __name__ == "__main__":
    main()
