"""``make demo``: the whole pipeline on the local stack, live.

Run as ``python -m common.demo``: brings up the stack, registers the schemas, trains the
``payment_fraud`` model once (``common.demo_models``), starts ``payment_features``,
``trade_features``, ``inference_requests`` and ``model_scoring`` (left running), produces trades
and payments at a steady rate (event time = wall clock, a share malformed) while it tails the
scored payments, then prints live feature vectors from the Redis online store, each job's
dead-letter count and each view's freshness as its job reports it (``common.runtime.metrics``).
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime

import httpx

from common import registry, schemas, serde, topics
from common.config import StackConfig, load_stack_config
from common.demo_models import ResultTail, ensure_model, start_scoring
from common.deploy.local import LocalError, wait_running
from common.features import FeatureView, output_schema
from common.features.sql import FeatureJob
from common.generate.events import Kind
from common.generate.runner import generate_events, produce
from common.kafka import end_offsets, read_topic
from common.local import flink_client, progress, stack
from common.models.serving import read_at
from common.online_store import OnlineStore
from common.runtime import catalog, launch, locks, metrics
from common.runtime.launch import RunOptions

# Four jobs share the 2 cores with the stack and the generators: at 1,000 or 500 events/s of
# each kind the scoring job fell behind (scores 37 s / 20 s after the event); at 250/s it
# keeps up, ~9 s (decision 49).
LIVE_EVENTS = 6_000
LIVE_RATE = 250.0
BAD_PCT = 1.0


def _show_topic(config: StackConfig, topic: str, sample: int = 2) -> None:
    writers = registry.writer_schemas(registry.client(config))
    outcome: Counter[str] = Counter()
    shown: list[dict[str, object]] = []
    for record in read_topic(config, topic):
        try:
            value = serde.decode(record.value or b"", writers)
        except serde.DecodeError as error:
            outcome[error.reason] += 1
            continue
        outcome["decoded"] += 1
        if len(shown) < sample:
            shown.append(value)
    print(
        f"\n{topic}: {sum(outcome.values()):,} records in the topic: "
        + ", ".join(f"{k} {v:,}" for k, v in outcome.most_common())
    )
    for value in shown:
        print(f"  {value}")


def _running_jobs(config: StackConfig) -> dict[str, str]:
    """Running Flink jobs by name → id."""
    response = httpx.get(f"{config.flink_rest_url}/jobs/overview", timeout=10)
    response.raise_for_status()
    return {j["name"]: j["jid"] for j in response.json()["jobs"] if j["state"] == "RUNNING"}


def _start_jobs(config: StackConfig) -> dict[str, str]:
    """The feature jobs, then the inference job, streaming from committed offsets (left
    running if already up)."""
    running = _running_jobs(config)
    ids = {}
    for name in [*catalog.job_names(), "inference_requests"]:
        job = catalog.load_runnable(name)
        if job.dashed in running:
            progress.step(f"{job.name} already running (job {running[job.dashed]})")
            ids[name] = running[job.dashed]
            continue
        what = (
            f"views {', '.join(v.qualified_name for v in job.views)}"
            if isinstance(job, FeatureJob)
            else f"models {', '.join(m.qualified_name for m in job.models)}"
        )
        progress.step(f"starting {job.name} ({what})")
        ids[name] = launch.submit(config, job, RunOptions(parallelism=1))
    return ids


def _produce_live(config: StackConfig, seed: int) -> bool:
    """Trades and payments at a steady rate, concurrently; whether every write succeeded."""
    results = {}

    def run(kind: Kind) -> None:
        results[kind] = produce(
            kind,
            config,
            count=LIVE_EVENTS,
            rate=LIVE_RATE,
            bad_pct=BAD_PCT,
            disorder_ms=1_000,
            seed=seed,
        )

    threads = [threading.Thread(target=run, args=(k,)) for k in ("payments", "trades")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for summary in results.values():
        print(summary.line())
    return all(summary.ok for summary in results.values())


def _sample_keys(view: FeatureView, seed: int) -> list[str]:
    """Entity keys of this run's first events (the generator is deterministic per seed)."""
    kind: Kind = "payments" if view.source.schema == "payment_event" else "trades"
    keys = []
    for event in generate_events(kind, 400, seed=seed):
        key = str(event.record[view.entity.key])
        if key not in keys:
            keys.append(key)
    return keys


def _show_online_vectors(config: StackConfig, seed: int, since_ms: int) -> None:
    """Feature vectors of this run's entities, straight from Redis, once they are fresh."""
    store = OnlineStore.connect(config)
    for name in catalog.job_names():
        for view in catalog.load_job(name).views:
            keys = _sample_keys(view, seed)
            deadline = time.monotonic() + 120
            while True:
                stored = store.get_many(view.name, view.version, keys)
                fresh = [v for v in stored.values() if v and v.event_time_ms >= since_ms]
                if len(fresh) >= 2 or time.monotonic() > deadline:
                    break
                time.sleep(1)
            fresh.sort(key=lambda v: v.event_time_ms, reverse=True)
            print(f"\n{view.qualified_name} (key {view.entity.key}), from Redis:")
            if not fresh:
                print(
                    "  no vector of this run yet (is the job running? `featurestream local logs`)"
                )
            for vector in fresh[:2]:
                when = datetime.fromtimestamp(vector.event_time_ms / 1000, UTC)
                features = ", ".join(f"{k}={_short(v)}" for k, v in vector.features.items())
                print(f"  {vector.entity_key} @ {when:%H:%M:%S} UTC (its last event): {features}")
                # The same key as of now: every window ends at the read time (decision 75).
                (read,) = read_at(store, [(view, vector.entity_key)], time.time_ns() // 10**6)
                now = ", ".join(
                    f"{k}={_short(str(v))}" for k, v in read.features.items() if v is not None
                )
                print(f"  {'':{len(vector.entity_key)}} now: {now}")


def _short(value: str) -> str:
    try:
        number = float(value)
    except ValueError:
        return value
    return f"{number:.6g}"


def _dead_letters(config: StackConfig) -> None:
    writers = registry.writer_schemas(registry.client(config))
    for name in catalog.job_names():
        reasons: Counter[str] = Counter()
        for record in read_topic(config, topics.dead_letter_topic(name)):
            reasons[serde.decode(record.value or b"", writers)["reason"]] += 1
        detail = ", ".join(f"{k} {v:,}" for k, v in reasons.most_common()) or "none"
        print(f"dead letters of {name}: {sum(reasons.values()):,} ({detail})")


def _freshness(config: StackConfig, job_ids: dict[str, str]) -> None:
    """Each view's freshness as its job reports it (the Prometheus reporters, as deployed)."""
    try:
        samples = metrics.scrape(config.flink_metrics_urls)
    except metrics.MetricsError as exc:
        print(f"freshness: metrics unavailable ({exc}); `make down` then `make demo` restarts")
        return
    print("freshness (wall clock - event time when a view releases a row; p99 of its last 1024):")
    for name in [*catalog.job_names(), "inference_requests"]:
        job = catalog.load_runnable(name)
        windows = metrics.windows_of_lock(locks.read_lock(name) or {})
        found = metrics.job_metrics(samples, job.dashed, windows, job_ids.get(name))
        for view_name, view in found.views.items():
            last = "-" if view.emit_lag_ms is None else f"{view.emit_lag_ms / 1000:.1f} s"
            p99 = "-" if view.emit_lag_p99_ms is None else f"{view.emit_lag_p99_ms / 1000:.1f} s"
            print(
                f"  {name:<20} {view_name:<28} last {last:>7}  p99 {p99:>7}  "
                f"{view.rows_emitted:>7,} rows"
            )
    print("  (`featurestream status <job>`: the same against the job's objectives)")


def _wait_for_rows(config: StackConfig, timeout_s: float = 120.0) -> None:
    """Until every view's topic has feature rows (the first checkpoint commits them)."""
    deadline = time.monotonic() + timeout_s
    pending = [
        topics.feature_topic(v.name, v.version)
        for n in catalog.job_names()
        for v in catalog.load_job(n).views
    ]
    while pending and time.monotonic() < deadline:
        pending = [t for t in pending if sum(end_offsets(config, t).values()) == 0]
        time.sleep(1)
    if pending:
        raise TimeoutError(f"no feature rows in {', '.join(pending)} after {timeout_s:.0f} s")


def schema_topics() -> dict[str, str]:
    """Every topic the demo registers a value schema for, mapped to the schema's name.

    Feature topics too: training runs the inference job offline before any feature job has
    started (and registered them), and the job checks its model contracts against them.
    """
    views = [v for name in catalog.job_names() for v in catalog.load_job(name).views]
    return schemas.topic_schemas(catalog.job_names()) | output_schema.topic_schemas(views)


def main() -> int:
    """Run the demo; return the process exit code."""
    config = load_stack_config()
    progress.step("bringing up the local stack (Kafka, registry, Redis, Flink)")
    try:
        stack.up(config)
    except stack.StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    client = registry.client(config)
    for topic, name in schema_topics().items():
        reg = registry.ensure_registered(client, topic, name)
        progress.step(f"registered {reg.subject} (id {reg.schema_id})")
    try:
        contract = ensure_model(config)
        job_ids = _start_jobs(config)
        job_ids["model_scoring"] = start_scoring(config, contract, _running_jobs(config))
    except (flink_client.FlinkJobError, RuntimeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    progress.step("waiting until every task of the four jobs runs")
    try:
        for job_id in job_ids.values():
            wait_running(config, job_id)
    except LocalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    since = datetime.now(UTC)
    tail = ResultTail(config, contract, since)
    tail.start()
    progress.step(
        f"producing {LIVE_EVENTS:,} payments and {LIVE_EVENTS:,} trades at {LIVE_RATE:,.0f}/s "
        f"each ({BAD_PCT:g}% malformed), event time = wall clock; scored payments as they come:"
    )
    seed = int(time.time())
    since_ms = int(time.time() * 1000) - 5_000
    if not _produce_live(config, seed):
        return 1
    # Events of the last watermark delay (5 s of payments) wait for later events: expect the rest.
    tail.wait_for(count=LIVE_EVENTS // 3, timeout_s=90)
    tail.stop()
    progress.step(
        "waiting for feature rows (released once the watermark passes, committed per checkpoint)"
    )
    _wait_for_rows(config)
    _show_online_vectors(config, seed, since_ms)
    print()
    _dead_letters(config)
    print()
    _freshness(config, job_ids)
    print()
    for row in stack.status(config):
        print(f"{row.name:<9} {row.state:<9} {row.address}")
    for name, job_id in job_ids.items():
        print(f"{name}: Flink job {job_id} keeps running")
    print(
        "payments of the last 5 s wait for the watermark: they are featured and scored when "
        "later payments arrive (`featurestream generate payments --rate 100 --count 3000`)"
    )
    print("\nFlink web UI:", config.flink_rest_url, "· stop everything with `make down`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
