"""Window state at production scale: throughput, checkpoint cost and state size, heap vs RocksDB.

The dense benchmark (``bench/feature_jobs.py``) spans minutes of event time: no event ever leaves
a window and state only grows. This one looks like production:

- event time spread over ``--hours`` (default 48): 10 min, 1 h and 24 h windows all evict, and
  state reaches a plateau;
- payments over 200,000 cards and 8,000 merchants (Zipf-skewed: a few hot merchants), trades over
  24 symbols and 12,000 accounts (``common.generate.events.Population``); up to 3 s disorder;
- each job as deployed (``jobs/<job>/job.py``, minus Redis), over a pre-loaded topic, bounded but
  with the streaming watermark (``--streaming-watermark``), at parallelism 1, on the heap backend
  and on RocksDB with incremental checkpoints (the chart's settings), checkpointing every
  ``--checkpoint-interval``; after an unmeasured warm-up run per job and backend (a cold
  TaskManager ran the first job at half speed).

Per run: events/s (Flink's job duration), and per completed checkpoint its duration, the bytes it
wrote (``checkpointed_size``: for incremental RocksDB checkpoints, what changed) and the state
it covers (``state_size``). The ratio of throughput at the largest count to the smallest shows
whether cost grows with state once it plateaus.

Usage (repository root)::

    .venv/bin/python -m bench.state_scale                                   # 250k, 1M, 2M
    .venv/bin/python -m bench.state_scale --counts 250000 --backends heap --jobs trade_features
    .venv/bin/python -m bench.state_scale --fixed-rate   # 250k over 48 h ... 2M over 16 days

Starts the local stack if needed and leaves it up. ``--json FILE`` keeps every figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from common.config import StackConfig, load_stack_config
from common.generate import runner
from common.generate.events import Kind, Population
from common.local import flink_client, stack
from common.runtime import launch
from jobs.payment_features.job import JOB as PAYMENT_FEATURES
from jobs.trade_features.job import JOB as TRADE_FEATURES

START = datetime(2026, 1, 1, tzinfo=UTC)
SEED = 5
DISORDER_MS = 1_500  # within both jobs' bound (trades: 2 s)
POPULATION = Population(cards=200_000, merchants=8_000, accounts=12_000, symbols=24)
JOBS = {
    "payment_features": (PAYMENT_FEATURES, "payments"),
    "trade_features": (TRADE_FEATURES, "trades"),
}
# Name → (--state-backend, extra Flink settings). "rocksdb" is what the chart deploys
# (incremental checkpoints, bloom filters); the others are the experiments of decisions 59, 62.
VARIANTS: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "heap": ("heap", ()),
    "rocksdb": ("rocksdb", ()),
    "rocksdb-heap-timers": ("rocksdb", (("state.backend.rocksdb.timer-service.factory", "HEAP"),)),
    "rocksdb-no-bloom": ("rocksdb", (("state.backend.rocksdb.use-bloom-filter", "false"),)),
    "forst": ("rocksdb", (("state.backend.type", "forst"),)),
    # Memory and compaction (issue 12, item 4): the slot's managed memory is fixed by the
    # cluster; these move what RocksDB does with it.
    "rocksdb-ssd": (
        "rocksdb",
        (("state.backend.rocksdb.predefined-options", "FLASH_SSD_OPTIMIZED"),),
    ),
    "rocksdb-write-buffers-0.25": (
        "rocksdb",
        (("state.backend.rocksdb.memory.write-buffer-ratio", "0.25"),),
    ),
    "rocksdb-write-buffers-0.75": (
        "rocksdb",
        (("state.backend.rocksdb.memory.write-buffer-ratio", "0.75"),),
    ),
}
WARMUP_EVENTS = 40_000
DEFAULT_COUNTS = (250_000, 1_000_000, 2_000_000)


@dataclass(frozen=True)
class Checkpoint:
    """One completed checkpoint as Flink reports it."""

    checkpoint_id: int
    duration_ms: int
    checkpointed_bytes: int
    state_bytes: int


@dataclass
class Run:
    """One job over one input on one backend."""

    job: str
    backend: str
    events: int
    hours: float
    job_id: str
    duration_ms: int = 0
    checkpoints: list[Checkpoint] = field(default_factory=list)

    @property
    def events_per_s(self) -> float:
        return self.events / (self.duration_ms / 1000)

    def summary(self) -> dict[str, Any]:
        """The figures of the report table."""
        done = self.checkpoints
        late = done[len(done) // 2 :] or done  # the second half: state has grown by then
        return {
            "events_per_s": round(self.events_per_s),
            "checkpoint_count": len(done),
            "checkpoint_ms_p50": statistics.median(c.duration_ms for c in late) if late else None,
            "checkpointed_bytes_p50": statistics.median(c.checkpointed_bytes for c in late)
            if late
            else None,
            # The largest: the last checkpoint may follow the final watermark, when keys expire.
            "state_bytes_max": max(c.state_bytes for c in done) if done else None,
        }


def preload(config: StackConfig, kind: Kind, count: int, hours: float) -> str:
    """A fresh topic with ``count`` events of ``kind`` spread over ``hours`` of event time."""
    topic = f"bench.scale.{kind}.{count}-{uuid.uuid4().hex[:6]}"
    summary = runner.produce(
        kind,
        config,
        count=count,
        seed=SEED,
        start=START,
        rate=count / (hours * 3600),
        disorder_ms=DISORDER_MS,
        topic=topic,
        pace=False,
        population=POPULATION,
    )
    if not summary.ok:
        raise RuntimeError(summary.line())
    print(f"  {summary.line()}", flush=True)
    return topic


def _checkpoints(config: StackConfig, job_id: str) -> list[Checkpoint]:
    response = httpx.get(f"{config.flink_rest_url}/jobs/{job_id}/checkpoints", timeout=5)
    if response.status_code != 200:
        return []
    found = []
    for entry in response.json().get("history", []):
        if entry.get("status") == "COMPLETED":
            found.append(
                Checkpoint(
                    checkpoint_id=int(entry["id"]),
                    duration_ms=int(entry["end_to_end_duration"]),
                    checkpointed_bytes=int(entry.get("checkpointed_size", 0)),
                    state_bytes=int(entry.get("state_size", 0)),
                )
            )
    return found


def run_one(
    config: StackConfig,
    job: str,
    backend: str,
    topic: str,
    events: int,
    hours: float,
    checkpoint_interval: str,
    quiet: bool = False,
) -> Run:
    """Run ``job`` over ``topic`` to the end, collecting every completed checkpoint.

    ``backend`` names one of ``VARIANTS``.
    """
    suffix = f".scale-{uuid.uuid4().hex[:6]}"
    state_backend, settings = VARIANTS[backend]
    conf_args = tuple(arg for key, value in settings for arg in ("--flink-conf", f"{key}={value}"))
    options = launch.RunOptions(
        parallelism=1,
        source_topic=topic,
        topic_suffix=suffix,
        startup="earliest",
        bounded=True,
        online_store=False,
        group_id=f"bench{suffix}",
        checkpoint_interval=checkpoint_interval,
        state_backend=state_backend,
        extra_args=("--streaming-watermark", *conf_args),
    )
    job_id = launch.submit(config, JOBS[job][0], options)
    run = Run(job, backend, events, hours, job_id)
    seen: dict[int, Checkpoint] = {}
    deadline = time.monotonic() + max(600.0, events / 200)
    while True:
        # Flink keeps the last few checkpoints in its history: poll often enough to see all.
        for checkpoint in _checkpoints(config, job_id):
            seen[checkpoint.checkpoint_id] = checkpoint
        details = flink_client.job_details(config, job_id)
        if details["state"] == "FINISHED":
            break
        if details["state"] in flink_client.TERMINAL_STATES or time.monotonic() > deadline:
            flink_client.cancel(config, job_id)
            raise flink_client.FlinkJobError(
                f"{job} {backend}: {details['state']}\n"
                + flink_client.job_exception(config, job_id)[:2000]
            )
        time.sleep(1.0)
    for checkpoint in _checkpoints(config, job_id):
        seen[checkpoint.checkpoint_id] = checkpoint
    source = details["vertices"][0]["metrics"]["read-records"]
    if source != events:
        raise RuntimeError(f"{job} {backend}: read {source:,} of {events:,} events")
    run.duration_ms = int(details["duration"])
    run.checkpoints = [seen[k] for k in sorted(seen)]
    if quiet:
        return run
    s = run.summary()
    print(
        f"  {job} {backend} {events:,}: {s['events_per_s']:,} events/s, "
        f"{s['checkpoint_count']} checkpoints, p50 {s['checkpoint_ms_p50']} ms, "
        f"{_mb(s['checkpointed_bytes_p50'])} written of {_mb(s['state_bytes_max'])} state",
        flush=True,
    )
    return run


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value / 1e6:.1f} MB"


def medians(runs: list[Run]) -> list[Run]:
    """Per job, backend and event count, the run with the median throughput (repeats)."""
    groups: dict[tuple[str, str, int], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.job, run.backend, run.events), []).append(run)
    chosen = []
    for group in groups.values():
        ranked = sorted(group, key=lambda r: r.events_per_s)
        chosen.append(ranked[(len(ranked) - 1) // 2])
    return chosen


def report(runs: list[Run]) -> str:
    """The Markdown table of ``docs/benchmarks.md`` (the median of repeated runs)."""
    runs = medians(runs)
    lines = [
        "| job | backend | events | events/s | vs heap | vs smallest N | checkpoints | "
        "checkpoint p50 | written per checkpoint (p50) | state size (max) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in runs:
        s = run.summary()
        heap = next(
            (r for r in runs if (r.job, r.events, r.backend) == (run.job, run.events, "heap")),
            None,
        )
        smallest = min(
            (r for r in runs if (r.job, r.backend) == (run.job, run.backend)),
            key=lambda r: r.events,
        )
        versus_heap = f"{run.events_per_s / heap.events_per_s:.2f}" if heap else "-"
        versus_small = f"{run.events_per_s / smallest.events_per_s:.2f}"
        lines.append(
            f"| {run.job} | {run.backend} | {run.events:,} | {s['events_per_s']:,} | "
            f"{versus_heap} | {versus_small} | {s['checkpoint_count']} | "
            f"{s['checkpoint_ms_p50']} ms | {_mb(s['checkpointed_bytes_p50'])} | "
            f"{_mb(s['state_bytes_max'])} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--jobs", nargs="+", choices=sorted(JOBS), default=sorted(JOBS))
    parser.add_argument("--counts", nargs="+", type=int, default=list(DEFAULT_COUNTS))
    parser.add_argument(
        "--backends",
        nargs="+",
        choices=sorted(VARIANTS),
        default=["heap", "rocksdb"],
        help="state backends (rocksdb: the chart's settings; the others are experiments)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=WARMUP_EVENTS,
        help="events of an unmeasured first run per job and backend (JIT, caches; 0: none)",
    )
    parser.add_argument("--hours", type=float, default=48.0, help="event time spanned")
    parser.add_argument(
        "--fixed-rate",
        action="store_true",
        help="keep the event-time density of the smallest count instead of the span: the "
        "smallest count spans --hours, larger ones proportionally more (the plateau alone, "
        "without denser windows)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per backend and count; the median is reported"
    )
    parser.add_argument("--checkpoint-interval", default="10 s")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args(argv)
    config = load_stack_config()
    stack.up(config)
    runs = []
    for job in args.jobs:
        kind = JOBS[job][1]
        if args.warmup:
            print(f"{job}: warm-up, {args.warmup:,} {kind}", flush=True)
            topic = preload(config, kind, args.warmup, args.hours)  # type: ignore[arg-type]
            for backend in args.backends:
                run_one(
                    config,
                    job,
                    backend,
                    topic,
                    args.warmup,
                    args.hours,
                    args.checkpoint_interval,
                    quiet=True,
                )
        for count in args.counts:
            hours = args.hours * count / min(args.counts) if args.fixed_rate else args.hours
            print(f"{job}: {count:,} {kind} over {hours:g} h", flush=True)
            topic = preload(config, kind, count, hours)  # type: ignore[arg-type]
            for _ in range(args.repeat):
                for backend in args.backends:
                    runs.append(
                        run_one(config, job, backend, topic, count, hours, args.checkpoint_interval)
                    )
    print()
    print(report(runs))
    if args.json:
        args.json.write_text(
            json.dumps([{**asdict(r), **r.summary()} for r in runs], indent=2, default=str)
        )


if __name__ == "__main__":
    main()
