"""Online store writes with read-time logs and tiles (issue 17): job throughput and Redis cost.

Since decisions 75 and 76 every feature view keeps, next to its Redis vector, read-time data
written by the online-store sink per released event: ``payment_card`` an event log
(``common/online_events.lua``), ``payment_merchant``, ``trade_account`` one-minute tiles and
``trade_symbol`` 5 s tiles (``common/online_tiles.lua``): one more Lua script call per event and
view in the sink's pipeline. This measures what that costs, A/B in the same run:

- **A, logs/tiles**: ``jobs/<job>/job.py`` as deployed, online store on;
- **B, vectors only**: the same job with every view ``read_time=False, tile=None``
  (``bench/stored_jobs.py``, driver modules ``bench.stored_<job>``), online store on.

Each run is bounded over the same pre-loaded topic (``bench.feature_jobs.preload``: seed 1,
event time from 2026-01-01 ~1 ms apart, up to 1 s out of order) on the chart's settings
(``--state-backend rocksdb``, parallelism 2) with the streaming watermark, like
``bench/feature_jobs.py``, whose ``submit``-free helpers (``follow``, ``preload``) it reuses.
Redis of the stack is emptied (``FLUSHALL SYNC``) before every run, so the runs start equal
(a tile skips events older than its newest one; a replay over kept data would skip them all).

Per run: events/s (events / Flink's job duration), Redis CPU (``INFO cpu`` user + sys, delta
around the run, per 100k input events), Redis calls (``INFO commandstats`` delta), Redis memory
after the run (``used_memory`` over the emptied Redis; per key kind: vectors ``fs:``, logs
``fse:``, tiles ``fst:``, mean ``MEMORY USAGE`` of up to ``--memory-sample`` keys times their
count), and the sink's counters as Flink's REST API last reported them (its metric fetcher lags
by up to 10 s, so the final flushes may be missing: Redis' ``evalsha`` count is exact).

Usage (repository root; stack on its own ports, see docs/benchmarks.md)::

    .venv/bin/python -m bench.online_writes
    .venv/bin/python -m bench.online_writes --jobs trade_features --runs 1 --json out.json

Starts the local stack if it is not running (per ``FEATURESTREAM_*`` settings) and leaves it up.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import httpx
import redis

from bench import feature_jobs
from bench.stored_jobs import STORED_PAYMENT_FEATURES, STORED_TRADE_FEATURES
from common import registry, schemas
from common.config import StackConfig, load_stack_config
from common.features.sql import FeatureJob
from common.local import flink_client, stack
from common.runtime import launch
from jobs.payment_features.job import JOB as PAYMENT_FEATURES
from jobs.trade_features.job import JOB as TRADE_FEATURES

Variant = Literal["logs+tiles", "vectors"]
VARIANTS: tuple[Variant, ...] = ("logs+tiles", "vectors")
JOBS: dict[str, dict[Variant, tuple[FeatureJob, str | None]]] = {
    "trade_features": {
        "logs+tiles": (TRADE_FEATURES, None),
        "vectors": (STORED_TRADE_FEATURES, "bench.stored_trade_features"),
    },
    "payment_features": {
        "logs+tiles": (PAYMENT_FEATURES, None),
        "vectors": (STORED_PAYMENT_FEATURES, "bench.stored_payment_features"),
    },
}
DEFAULT_COUNTS = {"trade_features": 200_000, "payment_features": 100_000}
KEY_KINDS = {"fs": "vector", "fse": "log", "fst": "tiles"}
SCRIPT_COMMANDS = ("evalsha", "eval", "evalsha_ro", "eval_ro", "fcall")
SINK_COUNTERS = (
    "onlineStoreWritten",
    "onlineStoreSkippedOlder",
    "onlineStoreEventsWritten",
    "onlineStoreEventsSkippedOld",
    "onlineStoreRetries",
)
COUNTER_INTERVAL_S = 2.0


@dataclass(frozen=True)
class KeyKind:
    """Redis keys of one kind after a run (``fs:`` vectors, ``fse:`` logs, ``fst:`` tiles)."""

    keys: int
    sampled: int
    mean_bytes: float
    """Mean ``MEMORY USAGE`` of the sampled keys."""

    @property
    def estimated_bytes(self) -> float:
        """Mean times count."""
        return self.mean_bytes * self.keys


@dataclass
class Run:
    """One bounded run of one variant over the pre-loaded topic."""

    job: str
    variant: Variant
    events: int
    job_id: str
    duration_ms: int
    load_average: float
    redis_cpu_s: float
    redis_commands: dict[str, dict[str, float]]
    """Command → calls and usec (``INFO commandstats`` delta)."""
    redis_used_memory: int
    """``used_memory`` after the run minus that of the emptied Redis before it."""
    key_kinds: dict[str, KeyKind]
    sink_counters: dict[str, int] = field(default_factory=dict)
    """``<operator>.<counter>`` → sum over subtasks, as Flink's REST API last reported it."""
    vertices: tuple[feature_jobs.VertexLoad, ...] = ()

    @property
    def events_per_s(self) -> float:
        """Input events per second of job duration."""
        return self.events / (self.duration_ms / 1000)

    @property
    def redis_cpu_s_per_100k(self) -> float:
        """Redis CPU seconds per 100k input events."""
        return self.redis_cpu_s / self.events * 100_000


# --- Redis ------------------------------------------------------------------------------------


def info(client: redis.Redis, section: str) -> dict[str, Any]:
    """``INFO <section>`` as redis-py parses it (its types cover the asyncio client too)."""
    return cast(dict[str, Any], client.info(section))


def redis_cpu_s(client: redis.Redis) -> float:
    """Redis' own CPU seconds so far (user + system, main and I/O threads)."""
    cpu = info(client, "cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


def redis_commands(client: redis.Redis) -> dict[str, dict[str, float]]:
    """Command → {calls, usec} so far."""
    stats = info(client, "commandstats")
    return {
        name.removeprefix("cmdstat_"): {"calls": float(v["calls"]), "usec": float(v["usec"])}
        for name, v in stats.items()
        if isinstance(v, dict)
    }


def command_delta(
    before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]
) -> dict[str, dict[str, float]]:
    """What each command added between two ``redis_commands`` readings."""
    delta = {}
    for name, now in after.items():
        then = before.get(name, {"calls": 0.0, "usec": 0.0})
        calls = now["calls"] - then["calls"]
        if calls > 0:
            delta[name] = {"calls": calls, "usec": now["usec"] - then["usec"]}
    return delta


def script_calls(commands: dict[str, dict[str, float]]) -> float:
    """Lua script calls among ``commands`` (the sink writes everything through scripts)."""
    return sum(commands.get(name, {}).get("calls", 0.0) for name in SCRIPT_COMMANDS)


def key_kinds(client: redis.Redis, sample: int) -> dict[str, KeyKind]:
    """Keys per kind and their mean memory (``MEMORY USAGE`` of up to ``sample`` of each)."""
    found: dict[str, list[bytes]] = {prefix: [] for prefix in KEY_KINDS}
    counts = dict.fromkeys(KEY_KINDS, 0)
    for key in client.scan_iter(count=1000):
        prefix = key.split(b":", 1)[0].decode()
        if prefix in counts:
            counts[prefix] += 1
            if len(found[prefix]) < sample:
                found[prefix].append(key)
    result = {}
    for prefix, keys in found.items():
        sizes = [int(cast(int | None, client.memory_usage(k, samples=0)) or 0) for k in keys]
        result[KEY_KINDS[prefix]] = KeyKind(
            counts[prefix], len(keys), statistics.fmean(sizes) if sizes else 0.0
        )
    return result


# --- Flink sink counters ----------------------------------------------------------------------


def sink_counters(config: StackConfig, job_id: str) -> dict[str, int]:
    """``<operator>.<counter>`` → sum over subtasks of the online-store sinks' counters."""
    totals: dict[str, int] = {}
    for vertex in flink_client.job_details(config, job_id).get("vertices", []):
        url = f"{config.flink_rest_url}/jobs/{job_id}/vertices/{vertex['id']}/metrics"
        ids = [m["id"] for m in httpx.get(url, timeout=5).json()]
        wanted = [i for i in ids if i.rsplit(".", 1)[-1] in SINK_COUNTERS]
        if not wanted:
            continue
        for metric in httpx.get(url, params={"get": ",".join(wanted)}, timeout=5).json():
            # "<subtask>.<operator>.<counter>": summed over subtasks.
            name = metric["id"].split(".", 1)[-1]
            totals[name] = totals.get(name, 0) + int(float(metric["value"]))
    return totals


class CounterSampler(threading.Thread):
    """Reads the sink counters every ``COUNTER_INTERVAL_S`` while the job runs; keeps the last."""

    def __init__(self, config: StackConfig, job_id: str) -> None:
        super().__init__(daemon=True)
        self._config = config
        self._job_id = job_id
        self._stopping = threading.Event()
        self.last: dict[str, int] = {}

    def read(self) -> None:
        """One reading, kept if it has anything."""
        try:
            counters = sink_counters(self._config, self._job_id)
        except (httpx.HTTPError, flink_client.FlinkJobError, KeyError, ValueError):
            return
        if counters:
            self.last = counters

    def run(self) -> None:
        """Read until stopped."""
        while not self._stopping.wait(COUNTER_INTERVAL_S):
            self.read()

    def stop(self) -> dict[str, int]:
        """Stop, read once more (the finished job's last fetched values), and return them."""
        self._stopping.set()
        self.join()
        self.read()
        return self.last


# --- runs -------------------------------------------------------------------------------------


def run_once(
    config: StackConfig,
    client: redis.Redis,
    job: str,
    variant: Variant,
    topic: str,
    events: int,
    parallelism: int,
    memory_sample: int,
) -> Run:
    """Empty Redis, run ``variant`` of ``job`` over ``topic`` to completion, measure Redis."""
    feature_job, module = JOBS[job][variant]
    suffix = f".bench-{uuid.uuid4().hex[:6]}-{'tiles' if variant == 'logs+tiles' else 'vectors'}"
    client.flushall(asynchronous=False)
    memory_before = int(info(client, "memory")["used_memory"])
    cpu_before = redis_cpu_s(client)
    commands_before = redis_commands(client)
    options = launch.RunOptions(
        parallelism=parallelism,
        source_topic=topic,
        topic_suffix=suffix,
        startup="earliest",
        bounded=True,
        online_store=True,
        group_id=f"bench{suffix}",
        extra_args=("--streaming-watermark",),
        module=module,
        state_backend="rocksdb",
    )
    print(f"  {job} {variant}: submitting", flush=True)
    job_id = launch.submit(config, feature_job, options)
    load = feature_jobs.load_average()
    sampler = CounterSampler(config, job_id)
    sampler.start()
    try:
        details, vertices = feature_jobs.follow(config, job_id, timeout_s=max(300.0, events / 500))
    finally:
        counters = sampler.stop()
    cpu = redis_cpu_s(client) - cpu_before
    commands = command_delta(commands_before, redis_commands(client))
    memory = int(info(client, "memory")["used_memory"]) - memory_before
    if vertices[0].records_in != events:
        raise RuntimeError(f"{job} {variant}: read {vertices[0].records_in:,} of {events:,}")
    run = Run(
        job=job,
        variant=variant,
        events=events,
        job_id=job_id,
        duration_ms=details["duration"],
        load_average=load,
        redis_cpu_s=cpu,
        redis_commands=commands,
        redis_used_memory=memory,
        key_kinds=key_kinds(client, memory_sample),
        sink_counters=counters,
        vertices=tuple(vertices),
    )
    scripts = script_calls(commands)
    print(
        f"  {job} {variant}: {run.events_per_s:,.0f} events/s ({run.duration_ms / 1000:.1f} s, "
        f"load {load:.1f}); Redis {run.redis_cpu_s_per_100k:.2f} CPU s/100k events, "
        f"{scripts:,.0f} script calls, +{memory / 2**20:.1f} MiB",
        flush=True,
    )
    return run


# --- report -----------------------------------------------------------------------------------


def _mean(values: Sequence[float]) -> float:
    return statistics.fmean(values)


def _spread(values: Sequence[float], fmt: str) -> str:
    mean = _mean(values)
    text = format(mean, fmt)
    if len(values) > 1:
        text += f" ({format(min(values), fmt)}-{format(max(values), fmt)})"
    return text


def _mib(value: float) -> str:
    return f"{value / 2**20:.1f}"


def report(runs: list[Run]) -> str:
    """The results as markdown tables (timed runs only)."""
    lines = ["\n### Per job and variant (mean of the timed runs, range in brackets)\n"]
    lines.append(
        "| job | variant | runs | events/s | vs vectors | Redis CPU s / 100k events "
        "| Redis busy | script calls / event | Redis memory after (MiB) | load avg |"
    )
    lines.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    by: dict[tuple[str, Variant], list[Run]] = {}
    for run in runs:
        by.setdefault((run.job, run.variant), []).append(run)
    for job in dict.fromkeys(r.job for r in runs):
        vectors = by.get((job, "vectors"))
        base = _mean([r.events_per_s for r in vectors]) if vectors else None
        for variant in VARIANTS:
            mine = by.get((job, variant))
            if not mine:
                continue
            rate = _mean([r.events_per_s for r in mine])
            ratio = "-" if base is None else f"{rate / base:.2f}"
            busy = [r.redis_cpu_s / (r.duration_ms / 1000) for r in mine]
            calls = [script_calls(r.redis_commands) / r.events for r in mine]
            rates = _spread([r.events_per_s for r in mine], ",.0f")
            lines.append(
                f"| {job} | {variant} | {len(mine)} | {rates} "
                f"| {ratio} | {_spread([r.redis_cpu_s_per_100k for r in mine], '.2f')} "
                f"| {_spread([b * 100 for b in busy], '.0f')} % | {_mean(calls):.2f} "
                f"| {_mib(_mean([r.redis_used_memory for r in mine]))} "
                f"| {' / '.join(f'{r.load_average:.1f}' for r in mine)} |"
            )
    lines.append("\n### Redis keys after the last timed run of each (memory: mean MEMORY USAGE)\n")
    lines.append("| job | variant | kind | keys | bytes / key | total (MiB) |")
    lines.append("| --- | --- | --- | --- | --- | --- |")
    for (job, variant), mine in by.items():
        for kind, keys in mine[-1].key_kinds.items():
            if keys.keys:
                lines.append(
                    f"| {job} | {variant} | {kind} | {keys.keys:,} | {keys.mean_bytes:,.0f} "
                    f"| {_mib(keys.estimated_bytes)} |"
                )
    lines.append("\n### Redis calls per run (INFO commandstats delta; usec = Redis' own time)\n")
    lines.append("| job | variant | command | calls | usec / call |")
    lines.append("| --- | --- | --- | --- | --- |")
    for (job, variant), mine in by.items():
        for name, stats in sorted(mine[-1].redis_commands.items()):
            if stats["calls"] >= 100:
                lines.append(
                    f"| {job} | {variant} | {name} | {stats['calls']:,.0f} "
                    f"| {stats['usec'] / stats['calls']:.1f} |"
                )
    lines.append("\n### Sink counters (Flink REST, last reported; may miss the final flushes)\n")
    lines.append("| job | variant | counter | value |")
    lines.append("| --- | --- | --- | --- |")
    for (job, variant), mine in by.items():
        for name, value in sorted(mine[-1].sink_counters.items()):
            lines.append(f"| {job} | {variant} | {name} | {value:,} |")
    lines.append("\n### Where the time goes (mean busy / backpressured, last timed run)\n")
    lines.append("| job | variant | vertex | busy | backpressured |")
    lines.append("| --- | --- | --- | --- | --- |")
    for (job, variant), mine in by.items():
        for vertex in mine[-1].vertices:
            lines.append(
                f"| {job} | {variant} | {vertex.name} | {feature_jobs._percent(vertex.busy)} "
                f"| {feature_jobs._percent(vertex.backpressured)} |"
            )
    return "\n".join(lines)


def _as_json(run: Run) -> dict[str, Any]:
    return asdict(run) | {
        "events_per_s": run.events_per_s,
        "redis_cpu_s_per_100k": run.redis_cpu_s_per_100k,
    }


# --- main -------------------------------------------------------------------------------------


def wait_for_quiet(limit_s: float) -> bool:
    """Wait up to ``limit_s`` until no pytest process runs; whether it is quiet."""
    deadline = time.monotonic() + limit_s
    while True:
        busy = [
            pid
            for pid in os.listdir("/proc")
            if pid.isdigit() and pid != str(os.getpid()) and _is_pytest(pid)
        ]
        if not busy:
            return True
        if time.monotonic() > deadline:
            return False
        print(f"  waiting: pytest running (pids {', '.join(busy[:4])})", flush=True)
        time.sleep(20)


def _is_pytest(pid: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return b"pytest" in cmdline.read()
    except OSError:
        return False


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", nargs="+", choices=sorted(JOBS), default=list(JOBS))
    parser.add_argument("--count", type=int, help="events per timed run (default per job)")
    parser.add_argument("--warmup-count", type=int, default=20_000, help="0: no warm-up")
    parser.add_argument("--runs", type=int, default=2, help="timed runs per job and variant")
    parser.add_argument("--parallelism", type=int, default=2)
    parser.add_argument("--memory-sample", type=int, default=300, help="keys per kind")
    parser.add_argument(
        "--wait-quiet", type=float, default=1200.0, help="wait up to this long (s) for no pytest"
    )
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args(argv)

    config = load_stack_config()
    stack.up(config)
    client = redis.Redis.from_url(config.redis_url)
    for topic, name in schemas.topic_schemas(args.jobs).items():
        registry.ensure_registered(registry.client(config), topic, name)
    began = time.monotonic()
    if args.wait_quiet and not wait_for_quiet(args.wait_quiet):
        print("  still busy: measuring anyway", flush=True)
    print(f"load average at start: {feature_jobs.load_average():.2f}", flush=True)

    print("pre-loading inputs", flush=True)
    counts = {job: args.count or DEFAULT_COUNTS[job] for job in args.jobs}
    kinds = {job: feature_jobs.JOBS[job][1] for job in args.jobs}
    inputs = {job: feature_jobs.preload(config, kinds[job], counts[job], "w") for job in args.jobs}
    warm = {
        job: feature_jobs.preload(config, kinds[job], args.warmup_count, "warm")
        for job in args.jobs
        if args.warmup_count
    }

    warmups: list[Run] = []
    runs: list[Run] = []
    for job in args.jobs:
        if job in warm:
            print(f"warm-up: {job}", flush=True)
            for variant in VARIANTS:
                warmups.append(
                    run_once(
                        config,
                        client,
                        job,
                        variant,
                        warm[job],
                        args.warmup_count,
                        args.parallelism,
                        args.memory_sample,
                    )
                )
        print(f"timed: {job}", flush=True)
        for index in range(args.runs):
            # Alternate which variant goes first: A B, B A, ...
            for variant in VARIANTS if index % 2 == 0 else VARIANTS[::-1]:
                runs.append(
                    run_once(
                        config,
                        client,
                        job,
                        variant,
                        inputs[job],
                        counts[job],
                        args.parallelism,
                        args.memory_sample,
                    )
                )
    client.flushall(asynchronous=False)

    print(report(runs))
    print(
        f"\nwall time {time.monotonic() - began:.0f} s, "
        f"load average at end {feature_jobs.load_average():.2f}, {os.cpu_count()} CPUs"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "runs": [_as_json(r) for r in runs],
                    "warmups": [_as_json(r) for r in warmups],
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
