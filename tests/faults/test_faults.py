"""The pipeline under faults: TaskManager kills, a broker kill, Redis and registry outages and
hostile input, while payments and trades stream in; then checks that read only the outputs.

One run drives ``payment_features`` (p=2), ``trade_features``, ``inference_requests``
(``payment_fraud``) and ``model_scoring`` (an artefact trained first) on the session's stack
with steady load (``FEATURESTREAM_FAULT_RATE`` events/s of each kind, default 300, disorder
within the bound) and injects, one after another, waiting for the outputs to move again each
time:

1. ``FEATURESTREAM_FAULT_TM_KILLS`` (default 3) ``kill -9`` of the TaskManager at random
   moments, one of them while a checkpoint is in flight; ``local up`` starts a new one;
2. 10k+ hostile payments (``harness.hostile_payments``);
3. ``kill -9`` of the Kafka broker (and with it the transaction coordinator), restarted;
4. ``kill -9`` of Redis, restarted; then Redis frozen (SIGSTOP) for 30 s;
5. the schema registry killed for 30 s, while payments with a writer schema id the jobs have
   never seen arrive;
6. ``kill -9`` of the JobManager: the stack runs Flink with ZooKeeper high availability, and
   the new JobManager takes the same jobs back from their latest checkpoints.

Then, for a ``read_committed`` reader: every good event exactly once per view, per model's
requests and per model's results,
every bad record exactly once in ``dlq.<job>`` with its reason, values equal to the DuckDB
reference, the online store holding each card's newest vector, and no job restarted by the
Redis or registry outage. A second test shows the check failing on at-least-once sinks.

Recovery per fault is kill → first feature row of an event produced after the kill (watermark
delay and the next checkpoint's commit included). ``FEATURESTREAM_FAULT_REPORT=<file>`` writes the
table of ``docs/reliability.md``.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from common import registry, serde
from common.config import StackConfig
from common.features import FeatureView, output_schema, read_time
from common.generate.runner import generate_events
from common.kafka import read_topic
from common.local import flink_client
from common.online_store import OnlineStore
from common.runtime.catalog import load_job, load_runnable
from common.runtime.launch import RunOptions, submit
from jobs.inference_requests.models import PAYMENT_FRAUD
from jobs.model_scoring import launch as scoring
from tests.faults.harness import (
    Arrivals,
    Hostile,
    Load,
    RawProducer,
    account,
    env_float,
    hostile_payments,
    kill9,
    newer_payment_schema,
    payment_record,
    register_writer,
    restart,
    suspend,
)
from tests.feature_reference import reference_at
from tests.integration.feature_checks import assert_match_reference, values_equal
from tests.model_training import train_payment_fraud
from tests.polling import wait_for

pytestmark = pytest.mark.faults

RATE = env_float("FEATURESTREAM_FAULT_RATE", 300)
TM_KILLS = int(env_float("FEATURESTREAM_FAULT_TM_KILLS", 3))
HOSTILE_PER_KIND = int(env_float("FEATURESTREAM_FAULT_HOSTILE_PER_KIND", 1000))
OUTAGE_S = env_float("FEATURESTREAM_FAULT_OUTAGE_S", 30)
PAYMENT_DISORDER_MS = 4_000  # payments allow 5 s
TRADE_DISORDER_MS = 1_500  # trades allow 2 s


@dataclass
class Injection:
    """One fault as it happened."""

    fault: str
    at: float
    recovery_s: float | None = None
    job_failures: int = 0
    notes: str = ""


@dataclass
class Run:
    """The jobs of one run and what it fed them."""

    config: StackConfig
    suffix: str
    payments: str
    trades: str
    jobs: dict[str, str] = field(default_factory=dict)
    injections: list[Injection] = field(default_factory=list)

    def topic(self, base: str) -> str:
        return base + self.suffix

    def all_running(self) -> bool:
        """Every job RUNNING with every task RUNNING."""
        for job_id in self.jobs.values():
            details = flink_client.job_details(self.config, job_id)
            if details["state"] != "RUNNING":
                return False
            if any(v["status"] != "RUNNING" for v in details["vertices"]):
                return False
        return True

    def failures(self) -> dict[str, int]:
        return {name: flink_client.failures(self.config, j) for name, j in self.jobs.items()}


def _event_id(writers: Any) -> Any:
    def decode(value: bytes) -> str:
        return str(serde.decode(value, writers)["event_id"])

    return decode


def _start(
    run: Run,
    sink_guarantee: str = "exactly-once",
    trades_only: bool = False,
    model: Path | None = None,
    checkpoint_interval: str | None = None,
) -> None:
    base = RunOptions(
        topic_suffix=run.suffix,
        startup="earliest",
        checkpoint_interval=checkpoint_interval,
        extra_args=("--sink-guarantee", sink_guarantee),
    )
    plans = [("trade_features", replace(base, parallelism=1, source_topic=run.trades))]
    if not trades_only:
        plans += [
            ("payment_features", replace(base, parallelism=2, source_topic=run.payments)),
            (
                "inference_requests",
                replace(base, parallelism=1, source_topic=run.payments, models=("payment_fraud",)),
            ),
        ]
        # The inference job checks its model against the feature schemas registered under the
        # views' own topics (not the suite's suffixed ones), as `schemas register` leaves them.
        client = registry.client(run.config)
        views = load_job("payment_features").views
        for topic, name in output_schema.topic_schemas(views).items():
            registry.ensure_registered(client, topic, name)
    for name, options in plans:
        options = replace(options, group_id=f"{name}{run.suffix}")
        run.jobs[name] = submit(run.config, load_runnable(name), options)
    if model is not None:
        requests = run.topic(PAYMENT_FRAUD.request_topic)
        options = replace(
            base, parallelism=1, source_topic=requests, group_id=f"model_scoring{run.suffix}"
        )
        run.jobs["model_scoring"] = scoring.submit(run.config, PAYMENT_FRAUD, model, options)
    wait_for("every job's tasks to run", run.all_running, timeout_s=180)


def _checkpoint_in_flight(config: StackConfig, job_id: str) -> bool:
    response = httpx.get(f"{config.flink_rest_url}/jobs/{job_id}/checkpoints", timeout=5)
    return bool(response.json().get("counts", {}).get("in_progress", 0))


def _last_checkpoint(config: StackConfig, job_id: str) -> tuple[int, float]:
    """Completed checkpoints of the job and when the newest was acknowledged (epoch s)."""
    body = httpx.get(f"{config.flink_rest_url}/jobs/{job_id}/checkpoints", timeout=5).json()
    completed = int(body.get("counts", {}).get("completed", 0))
    latest = (body.get("latest") or {}).get("completed") or {}
    return completed, latest.get("latest_ack_timestamp", 0) / 1000


def _recovered(run: Run, probe: Arrivals, load: Load, injection: Injection) -> None:
    wait_for("the jobs to run again", run.all_running, timeout_s=240)
    wait_for(
        f"rows of events produced after {injection.fault}",
        lambda: probe.recovery_after(injection.at, load.produced()) is not None,
        timeout_s=240,
    )
    injection.recovery_s = probe.recovery_after(injection.at, load.produced())


def _inject(
    run: Run,
    probe: Arrivals,
    load: Load,
    fault: str,
    act: Callable[[], None],
    recovered: Callable[[], bool] | None = None,
) -> Injection:
    """Inject ``fault`` with ``act``, wait until outputs move again, record the injection."""
    before = sum(run.failures().values())
    injection = Injection(fault, time.time())
    act()
    if recovered is None:
        _recovered(run, probe, load, injection)
    else:
        wait_for(f"recovery from {fault}", recovered, timeout_s=240)
    injection.job_failures = sum(run.failures().values()) - before
    run.injections.append(injection)
    return injection


def _closers(config: StackConfig, load: Load, count: int = 40) -> set[str]:
    """A few events 20 s ahead, on every partition: the watermark then passes every real event.
    Their own rows wait for a watermark that never comes; they are left out of the checks."""
    start = datetime.now(UTC) + timedelta(seconds=20)
    ids = set()
    for event in generate_events(load.kind, count, seed=load.seed + 1000, start=start):
        record = dict(event.record)
        event_id = f"closer-{record[load.id_column]}"
        record[load.id_column] = event_id
        load.producer.produce(load.topic, load.encoder.encode(record), event_id.encode())
        ids.add(event_id)
    assert load.producer.flush(60) == 0
    return ids


def _rows(config: StackConfig, topic: str, writers: Any) -> list[dict[str, Any]]:
    return [serde.decode(r.value, writers) for r in read_topic(config, topic) if r.value]


def test_outputs_stay_exact_through_kills_outages_and_hostile_input(
    stack_config: StackConfig, unique_topic, tmp_path: Path
) -> None:
    config = stack_config
    run = Run(
        config, "." + unique_topic("faults"), unique_topic("payments"), unique_topic("trades")
    )
    rng = random.Random(int(os.environ.get("FEATURESTREAM_FAULT_SEED", "11")))
    payments = Load(config, "payments", run.payments, RATE, PAYMENT_DISORDER_MS, seed=71)
    trades = Load(config, "trades", run.trades, RATE, TRADE_DISORDER_MS, seed=72)
    train_payment_fraud(tmp_path)
    # Registered before the jobs start (they read the subjects): the outage's new writer id is
    # registered later, while the jobs run.
    _start(run, model=tmp_path / "model")
    writers = registry.writer_schemas(registry.client(config))
    card_topic = run.topic("features.payment_card.v1")
    probe = Arrivals(config, card_topic, _event_id(writers))
    hostile: list[Hostile] = []
    outage_ids: set[str] = set()
    try:
        try:
            payments.start()
            trades.start()
            wait_for(
                "feature rows to flow", lambda: len(probe.first_seen) > 3 * RATE, timeout_s=180
            )

            # 1. TaskManager kills, one in the middle of a checkpoint.
            for n in range(TM_KILLS):
                time.sleep(rng.uniform(2.0, 6.0))  # a random moment: the schedule, not a wait
                if n == 1:
                    wait_for(
                        "a checkpoint in flight",
                        lambda: _checkpoint_in_flight(config, run.jobs["payment_features"]),
                        timeout_s=60,
                    )

                def kill_taskmanager() -> None:
                    kill9(config, "flink-taskmanager")
                    restart(config, "flink")

                _inject(run, probe, payments, "TaskManager kill -9", kill_taskmanager)

            # 2. Hostile input, between good payments.
            def send_hostile() -> None:
                raw = RawProducer(config, run.payments)
                hostile.extend(hostile_payments(config, run.payments, HOSTILE_PER_KIND, raw.send))
                raw.close()

            done = _inject(run, probe, payments, "hostile input", send_hostile)
            done.fault = f"hostile input ({len(hostile):,} records)"

            # 3. The broker, and the transaction coordinator with it.
            def kill_broker() -> None:
                kill9(config, "kafka")
                time.sleep(5)  # the outage: a duration, not a wait for a condition
                restart(config, "kafka")

            _inject(run, probe, payments, "Kafka broker kill -9", kill_broker)

            # 4. Redis: killed and restarted, then frozen. The online-store sink rides it out.
            def kill_redis() -> None:
                kill9(config, "redis")
                restart(config, "redis")

            _inject(run, probe, payments, "Redis kill -9", kill_redis)
            _inject(
                run,
                probe,
                payments,
                f"Redis unreachable {OUTAGE_S:.0f} s",
                lambda: suspend(config, "redis", OUTAGE_S),
            )

            # 5. The registry, while payments with a writer schema new to the jobs arrive.
            newer = register_writer(config, run.payments, newer_payment_schema("outage_note"))

            def registry_outage() -> None:
                kill9(config, "registry")
                raw = RawProducer(config, run.payments)
                for n in range(300):
                    now_ms = int(time.time() * 1000)
                    record = {**payment_record(rng, now_ms, n), "payment_id": f"pay-outage-{n}"}
                    value = newer.encoder.encode({**record, "outage_note": "x"})
                    outage_ids.add(record["payment_id"])
                    raw.send(Hostile("outage_writer", None, value, None, record["payment_id"]))
                raw.close()
                time.sleep(OUTAGE_S)  # the outage: a duration, not a wait for a condition
                restart(config, "registry")

            done = _inject(
                run,
                probe,
                payments,
                f"schema registry down {OUTAGE_S:.0f} s, new writer id",
                registry_outage,
                recovered=lambda: outage_ids <= set(probe.first_seen),
            )
            # Recovery here: the outage → the first row of a payment with the new writer id.
            done.recovery_s = min(probe.first_seen[i] for i in outage_ids) - done.at

            # 6. The JobManager: its successor takes the jobs back from ZooKeeper HA.
            def kill_jobmanager() -> None:
                kill9(config, "flink-jobmanager")
                restart(config, "flink")

            done = _inject(
                run, probe, payments, "JobManager kill -9 (ZooKeeper HA)", kill_jobmanager
            )
            # The new JobManager starts a fresh exception history: no count to compare.
            done.job_failures = 0
        finally:
            payments.stop()
            trades.stop()
        closers = _closers(config, payments) | _closers(config, trades)
        _verify(run, payments, trades, hostile, outage_ids, closers, writers)
    finally:
        probe.close()
        for job_id in run.jobs.values():
            flink_client.cancel(config, job_id)
        _report(run, payments, trades, hostile)


def _verify(
    run: Run,
    payments: Load,
    trades: Load,
    hostile: list[Hostile],
    outage_ids: set[str],
    closers: set[str],
    writers: Any,
) -> None:
    config = run.config
    good_payments = set(payments.produced_at) | outage_ids
    good_payments |= {h.event_id for h in hostile if h.reason is None and h.event_id}
    good_trades = set(trades.produced_at)
    views = {
        "payment_card.v1": good_payments,
        "payment_merchant.v1": good_payments,
        "trade_symbol.v1": good_trades,
        "trade_account.v1": good_trades,
    }
    watchers = {
        view: Arrivals(config, run.topic(f"features.{view}"), _event_id(writers)) for view in views
    }
    try:
        for view, expected in views.items():
            wait_for(
                f"every {view} row",
                lambda w=watchers[view], e=expected: e <= set(w.first_seen),
                timeout_s=300,
            )
    finally:
        for watcher in watchers.values():
            watcher.close()
    # Every expected row is there: one pass over each topic counts exactly.
    rows = {view: _rows(config, run.topic(f"features.{view}"), writers) for view in views}
    for view, expected in views.items():
        found = account(
            expected, (r["event_id"] for r in rows[view] if r["event_id"] not in closers), view
        )
        assert not found.lost and not found.duplicated and not found.unexpected, (
            f"{view}: lost {len(found.lost)} (e.g. {found.lost[:3]}), duplicated "
            f"{sum(found.duplicated.values())} (e.g. {list(found.duplicated)[:3]}), unexpected "
            f"{found.unexpected[:3]}"
        )

    # Requests: one per good payment (the model's trigger), by event id.
    requests = _rows(config, run.topic("inference.requests.payment_fraud.v1"), writers)
    found = account(
        good_payments,
        (r["event_id"] for r in requests if r["event_id"] not in closers),
        "payment_fraud requests",
    )
    assert not found.lost and not found.duplicated, (len(found.lost), found.duplicated)
    # Results: one per request, scored once, through the same faults.
    results = run.topic(PAYMENT_FRAUD.result_topic)
    watcher = Arrivals(config, results, _event_id(writers))
    try:
        wait_for("every result", lambda: good_payments <= set(watcher.first_seen), timeout_s=300)
    finally:
        watcher.close()
    found = account(
        good_payments,
        (r["event_id"] for r in _rows(config, results, writers) if r["event_id"] not in closers),
        "payment_fraud results",
    )
    assert not found.lost and not found.duplicated, (len(found.lost), found.duplicated)

    # Dead letters: every bad record once, with its reason; nothing else.
    letters = _rows(config, run.topic("dlq.payment_features"), writers)
    positions = Counter((d["source_partition"], d["source_offset"]) for d in letters)
    assert max(positions.values(), default=1) == 1, "a record dead-lettered twice"
    want = Counter(h.reason for h in hostile if h.reason is not None)
    assert Counter(d["reason"] for d in letters) == want
    for job in ("trade_features", "inference_requests"):
        extra = _rows(config, run.topic(f"dlq.{job}"), writers)
        if job == "trade_features":
            assert not extra, Counter(d["reason"] for d in extra)
        else:
            assert Counter(d["reason"] for d in extra) == want

    # Values equal the reference over the good events.
    events = {kind: [] for kind in ("payments", "trades")}  # type: dict[str, list[dict[str, Any]]]
    for kind, topic, good in (
        ("payments", run.payments, good_payments),
        ("trades", run.trades, good_trades),
    ):
        for record in read_topic(config, topic):
            try:
                event = serde.decode(record.value or b"", writers)
            except serde.DecodeError:
                continue
            event_id = event.get("payment_id", event.get("trade_id"))
            if event_id in good:
                event["event_time"] = int(event["event_time"].timestamp() * 1000)
                events[kind].append(event)
    for job_name, kind in (("payment_features", "payments"), ("trade_features", "trades")):
        for feature_view in load_job(job_name).views:
            name = feature_view.qualified_name
            assert_match_reference(feature_view, rows[name], events[kind])

    # The online store: each card's vector is that of its newest event.
    card = load_job("payment_features").views[0]
    newest: dict[str, dict[str, Any]] = {}
    for row in rows["payment_card.v1"]:
        current = newest.get(row["card_id"])
        if current is None or (row["event_time"], row["event_id"]) > (
            current["event_time"],
            current["event_id"],
        ):
            newest[row["card_id"]] = row
    # The online sink is at least once and newer-wins: it may briefly lag the topic.
    store = OnlineStore.connect(config)

    def converged() -> bool:
        stored = store.get_many(card.name, card.version, list(newest))
        return all(
            (vector := stored[k]) is not None and vector.event_id == row["event_id"]
            for k, row in newest.items()
        )

    wait_for("the online store to hold every card's newest vector", converged, timeout_s=60)

    # The event logs behind read-time features: each card's released events once (the jobs'
    # retention behind its newest, and the latest before that), whatever was killed and
    # replayed: a lost or doubled member would change a read-time count.
    released = {row["event_id"] for row in rows["payment_card.v1"]}
    logged: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for event in events["payments"]:
        if event["payment_id"] in released:
            logged[event["card_id"]].append((event["event_time"], event["payment_id"]))
    keep = read_time.keep_ms(card)
    expected_logs: dict[str, list[str]] = {}
    for card_id, held in logged.items():
        held.sort()
        horizon = held[-1][0] - keep
        before = [e for e in held if e[0] < horizon][-1:]
        expected_logs[card_id] = [i for _, i in before + [e for e in held if e[0] >= horizon]]
    cards = sorted(expected_logs)

    def logs_exact() -> bool:
        stored = store.get_event_logs([(card.name, card.version, c) for c in cards])
        found = {
            c: [json.loads(m)[0] for m, _ in log] for c, log in zip(cards, stored, strict=True)
        }
        return found == expected_logs

    wait_for("every card's event log to hold its released events once", logs_exact, timeout_s=60)

    # The tiles of busy keys (decision 76: merchants, symbols, accounts): a fold is not
    # idempotent as a log member is, so a replay folded twice or a lost write would change what
    # each key reads at its newest event against the tile-rounded reference over its released
    # events.
    for job_name, kind in (("payment_features", "payments"), ("trade_features", "trades")):
        for tiled in (v for v in load_job(job_name).views if v.tile is not None):
            _assert_tiles_hold_released_events(
                store, tiled, rows[tiled.qualified_name], events[kind]
            )

    # Redis and registry outages are ridden out, not restarted through; hostile input never
    # fails a job. (A broker kill may restart a job: exactly once is what counts there.)
    for injection in run.injections:
        if injection.fault.startswith(("Redis", "schema registry", "hostile")):
            assert injection.job_failures == 0, injection


def _assert_tiles_hold_released_events(
    store: OnlineStore,
    view: FeatureView,
    rows: list[dict[str, Any]],
    events: list[dict[str, Any]],
) -> None:
    source = view.source
    folded = {row["event_id"] for row in rows}
    released = [e for e in events if e[source.id_column] in folded]
    newest_at: dict[str, int] = {}
    for event in released:
        key = event[view.entity.key]
        newest_at[key] = max(newest_at.get(key, event["event_time"]), event["event_time"])
    reads = sorted(newest_at.items())
    expected = reference_at(view, released, reads)
    spec = read_time.read_time_spec(view)
    prefix = spec["tiles"]["prefix"]

    def tiles_exact() -> bool:
        stored = store.get_tiles([(prefix, key) for key, _ in reads])
        return all(
            values_equal(read_time.evaluate_tiles(spec, fields, at).features[name], want[name])
            for (_, at), fields, want in zip(reads, stored, expected, strict=True)
            for name in spec["features"]
        )

    wait_for(f"every {view.name} key's tiles to hold its released events once", tiles_exact, 60)


def _report(run: Run, payments: Load, trades: Load, hostile: list[Hostile]) -> None:
    """Print the injections; with ``FEATURESTREAM_FAULT_REPORT=<file>.json`` also write them as
    JSON and, next to it, the Markdown table of ``docs/reliability.md``."""
    lines = [
        f"{i.fault}: recovery "
        + ("-" if i.recovery_s is None else f"{i.recovery_s:.1f} s")
        + f", job failures {i.job_failures}"
        for i in run.injections
    ]
    print("\n".join(["fault injections:", *lines]))
    target = os.environ.get("FEATURESTREAM_FAULT_REPORT")
    if not target:
        return
    events = len(payments.produced_at) + len(trades.produced_at) + len(hostile)
    Path(target).write_text(
        json.dumps(
            {
                "rate_per_kind": RATE,
                "payments": len(payments.produced_at),
                "trades": len(trades.produced_at),
                "hostile": len(hostile),
                "injections": [asdict(i) for i in run.injections],
            },
            indent=2,
        )
    )
    by_fault: dict[str, list[Injection]] = {}
    for injection in run.injections:
        by_fault.setdefault(injection.fault, []).append(injection)
    table = [
        "| fault | injections | events in the run | lost | duplicated | wrong values "
        "| recovery p50 / max | job restarts |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for fault, injections in by_fault.items():
        times = sorted(i.recovery_s for i in injections if i.recovery_s is not None)
        recovery = f"{statistics.median(times):.1f} s / {times[-1]:.1f} s" if times else "-"
        restarts = sum(i.job_failures for i in injections)
        table.append(
            f"| {fault} | {len(injections)} | {events:,} | 0 | 0 | 0 | {recovery} | {restarts} |"
        )
    Path(target).with_suffix(".md").write_text("\n".join(table) + "\n")


def test_the_check_catches_an_at_least_once_sink(stack_config: StackConfig, unique_topic) -> None:
    """trade_features with at-least-once sinks through one TaskManager kill: the same check
    must report duplicates (it is what makes the exactly-once result mean something)."""
    config = stack_config
    run = Run(config, "." + unique_topic("alo"), unique_topic("payments"), unique_topic("trades"))
    trades = Load(config, "trades", run.trades, RATE, TRADE_DISORDER_MS, seed=73)
    # Checkpoints 10 s apart, and the kill only once rows written after the newest one are
    # visible: what the restart replays must then reach the topic twice. (Killed at a random
    # moment, the control saw no duplicate once in a CI run: nothing had been written since the
    # checkpoint of 1 s before.)
    _start(run, sink_guarantee="at-least-once", trades_only=True, checkpoint_interval="10 s")
    writers = registry.writer_schemas(registry.client(config))
    topic = run.topic("features.trade_symbol.v1")
    probe = Arrivals(config, topic, _event_id(writers))
    job_id = run.jobs["trade_features"]

    def written_since_checkpoint() -> bool:
        completed, acked = _last_checkpoint(config, job_id)
        after = sum(1 for seen in probe.first_seen.values() if seen > acked + 0.5)
        return (
            completed > 0
            and after >= 50
            and not _checkpoint_in_flight(config, job_id)
            and _last_checkpoint(config, job_id)[0] == completed
        )

    try:
        trades.start()
        wait_for("rows to flow", lambda: len(probe.first_seen) > 3 * RATE, timeout_s=180)
        wait_for("rows written since the last checkpoint", written_since_checkpoint, timeout_s=120)
        injection = Injection("TaskManager kill -9", time.time())
        kill9(config, "flink-taskmanager")
        restart(config, "flink")
        _recovered(run, probe, trades, injection)
    finally:
        trades.stop()
    closers = _closers(config, trades)
    try:
        expected = set(trades.produced_at)
        wait_for(
            "every row",
            lambda: expected <= {r["event_id"] for r in _rows(config, topic, writers)},
            timeout_s=240,
        )
        rows = _rows(config, topic, writers)
        found = account(expected, (r["event_id"] for r in rows if r["event_id"] not in closers), "")
        assert not found.lost
        assert sum(found.duplicated.values()) > 0, "the duplicate check saw none"
        print(f"at-least-once: {sum(found.duplicated.values())} duplicated rows detected")
    finally:
        probe.close()
        for job_id in run.jobs.values():
            flink_client.cancel(config, job_id)
