"""Online read latency: payment_fraud's feature vector from Redis, directly and over HTTP.

Paths, each at a fixed open-loop rate (1k and 5k requests/s by default) on loopback:

- ``hgetall`` (baseline): one bare redis-py ``HGETALL`` of a card vector per request;
- ``model_vector``: ``common.models.serving.model_vector`` for payment_fraud (two ``HGETALL``
  in one pipeline, typed, in contract order) from Python;
- ``http-floor`` (baseline): ``GET /healthz`` on the feature server: what the load tool, the
  kernel and an HTTP round trip cost with no lookup at all;
- ``http-go``: ``GET /models/payment_fraud/features`` on the feature server (``featurestream
  serve``, Go), the path the p99 <= 2 ms target is about: features at the read time, folded from
  each key's event log (issue 17);
- ``http-go-stored`` (baseline): the same with ``at=last_event``, the stored vectors (one
  ``HGETALL`` per view), what lookups cost before read-time features;
- ``http-stdlib``: the same on ``featurestream serve --engine stdlib`` (the reference server;
  only at rates up to ``--stdlib-max-rate``: above it, it cannot keep up at all);
- ``batch-go``: ``POST`` of 100 lookups in one request, at ``--batch-rate`` (200/s).

Open loop: request ``i`` is scheduled at ``start + i / rate`` whatever happened before, and its
latency runs from that scheduled time to the response, so a stall delays (and is charged to)
every request behind it: coordinated omission is counted, not hidden. The Python paths spread the
schedule over ``--clients`` processes; the HTTP paths use vegeta (pinned, built with ``go
install``), whose results carry each request's sequence number and actual start, from which the
latency is recomputed against the schedule the same way. The first ``--warmup`` seconds of each
run are left out. CPU seconds of the load generator, the server and Redis are reported per run:
the load generator must not be what starves the server. Keys are drawn uniformly from the stored
vectors (10,000 cards, 1,000 merchants); each card (payment_card is a read-time view) has an
event log shaped like the jobs' (1-20 events in the last 24 h), and each merchant
(payment_merchant, a tiled read-time view, decision 76) one-minute tiles of 1-300 payments in the
last hour (``--merchant-events``), written through the jobs' own script
(``common/online_tiles.lua``, the sink's arguments); Redis memory per key of the vector, the log
and the tiles is measured (``MEMORY USAGE``) and reported per 1M keys. After the fixed rates,
``http-go`` runs at each ``--max-rate`` in turn until its p99 passes 2 ms.

Usage (from the repository root; Redis from the local stack, started if it is not running; stop
the rest of the stack first for quiet cores)::

    .venv/bin/python -m bench.serving                      # 1k and 5k/s, 20 s per run
    .venv/bin/python -m bench.serving --rates 1000 --seconds 5 --max-rate --json out.json
"""

from __future__ import annotations

import argparse
import base64
import csv
import io
import json
import multiprocessing
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import redis

from common.config import load_stack_config
from common.features.read_time import (
    keep_ms,
    read_time_spec,
    tiles_prefix,
    tiles_script_args,
)
from common.local import stack, tools
from common.models.server import DEFAULT_HOST
from common.models.serving import model_vector
from common.online_store import (
    EVENTS_SCRIPT,
    WRITE_SCRIPT,
    OnlineStore,
    events_key,
    redis_key,
)
from jobs.inference_requests.models import PAYMENT_FRAUD
from jobs.payment_features.features import PAYMENT_CARD, PAYMENT_MERCHANT
from tests.read_times import input_values

ROOT = Path(__file__).resolve().parents[1]
CARDS = 10_000
MERCHANTS = 1_000
PYTHON_PATHS = ("hgetall", "model_vector")
PATHS = (*PYTHON_PATHS, "http-floor", "http-go", "http-go-stored", "http-stdlib", "batch-go")
CARD_EVENTS = (1, 20)
"""Events per card in its log, over 24 h."""
MERCHANT_EVENTS = (1, 300)
"""Events per merchant folded into its tiles, over the last hour (``--merchant-events``)."""
TILES_SCRIPT = ROOT / "common" / "online_tiles.lua"
TARGET_P99_MS = 2.0
TARGET_BATCH_P99_MS = 5.0
BATCH_SIZE = 100
LATE_START_MS = 1.0
"""A request that starts this much after its scheduled time counts as a late start."""


@dataclass(frozen=True)
class Result:
    """Latency of one path at one rate, and what it cost."""

    path: str
    rate: int
    requests: int
    achieved_rate: float
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    p99_from_send_ms: float
    """p99 from each request's actual start (vegeta's own figure): without the load tool's
    pacing error, but also without coordinated omission counted. Python paths: as p99_ms."""
    late_starts: float
    """Share of requests that started more than LATE_START_MS after their scheduled time."""
    errors: int
    load_cpu_s: float
    """CPU seconds of the load generator (the client processes, or vegeta)."""
    server_cpu_s: float
    redis_cpu_s: float
    load_average: float
    server_p99_ms: float | None = None
    """Upper bound of the p99 of the time inside the Go server (its own histogram's bucket)."""
    writes_per_s: float = 0.0
    """Payments written during the run (``--writes``), each as the jobs write it: both vectors,
    the card's log and the merchant's tiles."""
    tile_cache: tuple[float, float, float] | None = None
    """Shares of the Go server's tiled reads during the run answered from its tile cache as it
    was (hit), brought up to date from the tiles read with the newest event (update), and
    fetched whole (miss)."""


def _card(i: int) -> str:
    return f"tok_bench{i:07x}"


def _merchant(i: int) -> str:
    return f"mer_bench{i:04x}"


def _pairs(features: dict[str, int | float]) -> list[str | int | float]:
    return [x for pair in features.items() for x in pair]


def _write_live(redis_url: str, rate: int, stop: Any, written: Any) -> None:
    """Payments at ``rate`` per second of wall time until ``stop`` is set, written as the jobs'
    sinks write them (four script calls: both vectors, the card's log, the merchant's tiles),
    pipelined every 20 ms as the sinks batch. Event times are the wall clock, so each is the
    newest of its keys and moves their tiles and logs the way live traffic does."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    rng = random.Random(os.getpid())
    vector = client.register_script(WRITE_SCRIPT.read_text(encoding="utf-8"))
    log = client.register_script(EVENTS_SCRIPT.read_text(encoding="utf-8"))
    tiles = client.register_script(TILES_SCRIPT.read_text(encoding="utf-8"))
    tile_args = tiles_script_args(PAYMENT_MERCHANT)
    card_keep = keep_ms(PAYMENT_CARD)
    began = time.monotonic()
    sent = 0
    while not stop.is_set():
        due = int((time.monotonic() - began) * rate)
        pipeline = client.pipeline(transaction=False)
        for _ in range(due - sent):
            at = int(time.time() * 1000)
            payment_id = f"pay-live-{os.getpid()}-{sent:012d}"
            card, merchant = _card(rng.randrange(CARDS)), _merchant(rng.randrange(MERCHANTS))
            amount = rng.randint(100, 50_000)
            merchant_values = input_values(
                PAYMENT_MERCHANT, {"amount_usd_cents": amount, "card_id": card}
            )
            card_member = json.dumps([payment_id, amount, merchant, "US"], separators=(",", ":"))
            merchant_member = json.dumps([payment_id, *merchant_values], separators=(",", ":"))
            vector(
                keys=[redis_key(PAYMENT_CARD.name, 1, card)],
                args=[at, payment_id, 1, 0, *_pairs(_card_features(rng))],
                client=pipeline,
            )
            log(
                keys=[events_key(PAYMENT_CARD.name, 1, card)],
                args=[at, card_member, card_keep, 0],
                client=pipeline,
            )
            vector(
                keys=[redis_key(PAYMENT_MERCHANT.name, 1, merchant)],
                args=[at, payment_id, 1, 0, *_pairs(_merchant_features(rng))],
                client=pipeline,
            )
            tiles(
                keys=[tiles_prefix(PAYMENT_MERCHANT) + merchant],
                args=[at, merchant_member, *tile_args],
                client=pipeline,
            )
            sent += 1
        pipeline.execute()
        written.value = sent
        time.sleep(0.02)  # pacing the writes, not waiting for a condition


def _card_features(rng: random.Random) -> dict[str, int | float]:
    """A card vector shaped like the job's (every feature of payment_fraud set)."""
    return {
        "card_txn_count_10m": rng.randint(1, 5),
        "card_txn_count_1h": rng.randint(1, 20),
        "card_txn_count_24h": rng.randint(1, 80),
        "card_amount_usd_sum_1h": rng.randint(100, 100_000),
        "card_amount_usd_sum_24h": rng.randint(100, 1_000_000),
        "card_amount_usd_avg_24h": rng.uniform(100, 50_000),
        "card_amount_usd_max_24h": rng.randint(100, 200_000),
        "card_distinct_merchants_24h": rng.randint(1, 30),
        "card_distinct_countries_24h": rng.randint(1, 4),
        "card_seconds_since_prev": rng.uniform(0, 86_400),
    }


def _merchant_features(rng: random.Random) -> dict[str, int | float]:
    return {
        "merchant_txn_count_1h": rng.randint(1, 5_000),
        "merchant_amount_usd_sum_1h": rng.randint(100, 10_000_000),
        "merchant_distinct_cards_1h": rng.randint(1, 3_000),
    }


def populate(store: OnlineStore, event_time_ms: int) -> None:
    """Card and merchant vectors shaped like the jobs'."""
    rng = random.Random(1)
    for i in range(CARDS):
        store.write(
            "payment_card", 1, _card(i), event_time_ms, f"pay-bench-{i}", _card_features(rng)
        )
    for i in range(MERCHANTS):
        store.write(
            "payment_merchant",
            1,
            _merchant(i),
            event_time_ms,
            f"pay-bench-m{i}",
            _merchant_features(rng),
        )


def populate_logs(store: OnlineStore, client: redis.Redis, now_ms: int) -> None:
    """Event logs of the same cards, written by the jobs' script: members shaped like theirs
    (payment ids, amounts, merchant and country)."""
    rng = random.Random(2)
    keep_ms = read_time_spec(PAYMENT_CARD)["keep_ms"]
    # From empty logs: an earlier run's --writes would leave more events per card than these.
    client.delete(
        *(events_key(PAYMENT_CARD.name, PAYMENT_CARD.version, _card(n)) for n in range(CARDS))
    )
    for n in range(CARDS):
        for e in range(rng.randint(*CARD_EVENTS)):
            store.write_event(
                PAYMENT_CARD.name,
                PAYMENT_CARD.version,
                _card(n),
                now_ms - rng.randrange(86_400_000),
                f"pay-bench-{n}-{e}-{rng.getrandbits(40):010x}",
                (rng.randint(100, 50_000), _merchant(rng.randrange(MERCHANTS)), "US"),
                keep_ms,
            )


def populate_tiles(client: redis.Redis, now_ms: int, events: tuple[int, int]) -> int:
    """Tiles of the same merchants, written by the jobs' script with the sink's arguments: each
    merchant's payments of the last hour (cards of the bench, amounts), in (time, id) order as
    the window function releases them; pipelined. Returns the events folded. The hashes
    expire with the sink's TTL (61 min after their last write), longer than a run."""
    rng = random.Random(3)
    sha = str(client.script_load(TILES_SCRIPT.read_text(encoding="utf-8")))
    tile_args = tiles_script_args(PAYMENT_MERCHANT)
    folded = 0
    pipeline = client.pipeline(transaction=False)
    # From empty tiles: an earlier run's newer events would make the script skip these.
    client.delete(*(tiles_prefix(PAYMENT_MERCHANT) + _merchant(n) for n in range(MERCHANTS)))
    for n in range(MERCHANTS):
        payments = sorted(
            (now_ms - rng.randrange(3_600_000), f"pay-bench-m{n}-{rng.getrandbits(40):010x}")
            for _ in range(rng.randint(*events))
        )
        for at, payment_id in payments:
            record = {
                "amount_usd_cents": rng.randint(100, 50_000),
                "card_id": _card(rng.randrange(CARDS)),
            }
            values = input_values(PAYMENT_MERCHANT, record)
            member = json.dumps([payment_id, *values], separators=(",", ":"))
            key = tiles_prefix(PAYMENT_MERCHANT) + _merchant(n)
            pipeline.evalsha(sha, 1, key, at, member, *tile_args)
        if len(pipeline) >= 2_000:
            folded += int(sum(pipeline.execute()))
    folded += int(sum(pipeline.execute()))
    return folded


@dataclass(frozen=True)
class Memory:
    """Redis memory of one view's keys (``MEMORY USAGE``, a sample of 500 keys): its stored
    vector and what it is read from at the read time (an event log, or tiles)."""

    view: str
    vector_bytes: float
    history: str
    """"log" (``fse:``, a sorted set of events) or "tiles" (``fst:``, a hash of tiles)."""
    history_bytes: float
    history_entries: float
    """Events in the log (ZCARD), or fields of the tile hash (HLEN: tiles plus @t and @e)."""

    def per_million_gib(self) -> tuple[float, float]:
        """(vector, history) GiB per 1M keys."""
        return self.vector_bytes * 1e6 / 2**30, self.history_bytes * 1e6 / 2**30


def memory(client: redis.Redis) -> list[Memory]:
    """Mean bytes per key of the vectors, logs and tiles of the bench's cards and merchants."""
    found = []
    for view, keys in (
        (PAYMENT_CARD, [_card(i) for i in range(0, CARDS, CARDS // 500)]),
        (PAYMENT_MERCHANT, [_merchant(i) for i in range(0, MERCHANTS, MERCHANTS // 500)]),
    ):
        tiled = view.tile is not None
        pipeline = client.pipeline(transaction=False)
        for k in keys:
            history = tiles_prefix(view) + k if tiled else events_key(view.name, 1, k)
            pipeline.memory_usage(redis_key(view.name, 1, k), samples=0)
            pipeline.memory_usage(history, samples=0)
            pipeline.hlen(history) if tiled else pipeline.zcard(history)
        replies = [int(r or 0) for r in pipeline.execute()]
        vector, history_bytes, entries = replies[0::3], replies[1::3], replies[2::3]
        if not view.read_time:
            history_bytes = entries = [0]
        found.append(
            Memory(
                view.qualified_name,
                float(np.mean(vector)),
                "tiles" if tiled else "log",
                float(np.mean(history_bytes)),
                float(np.mean(entries)),
            )
        )
    return found


def _request_function(path: str, redis_url: str) -> Callable[[int, int], Any]:
    """A function (card index, merchant index) -> response, with its own connection."""
    if path == "hgetall":
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        return lambda card, _merchant_index: client.hgetall(
            redis_key("payment_card", 1, _card(card))
        )
    store = OnlineStore(redis.Redis.from_url(redis_url, decode_responses=True))

    def vector(card: int, merchant: int) -> Any:
        keys = {"card_id": _card(card), "merchant_id": _merchant(merchant)}
        return model_vector(store, PAYMENT_FRAUD, keys, {"amount_usd_cents": "1250"})

    return vector


def _client(
    path: str,
    redis_url: str,
    rate: int,
    count: int,
    clients: int,
    index: int,
    start: float,
    out: Any,
) -> None:
    """One client process: requests index, index + clients, ... at their scheduled times."""
    request = _request_function(path, redis_url)
    request(0, 0)  # connect before the clock starts
    rng = random.Random(index)
    mine = range(index, count, clients)
    latencies = np.empty(len(mine))
    late = 0
    errors = 0
    for n, i in enumerate(mine):
        scheduled = start + i / rate
        ahead = scheduled - time.perf_counter()
        if ahead > 0:
            time.sleep(ahead)
        began = time.perf_counter()
        if began - scheduled > LATE_START_MS / 1000:
            late += 1
        try:
            request(rng.randrange(CARDS), rng.randrange(MERCHANTS))
        except Exception:
            errors += 1
        latencies[n] = time.perf_counter() - scheduled
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    out.put((index, latencies.tolist(), late, errors, time.perf_counter(), cpu))


class _Cpu:
    """CPU seconds each of some processes used between construction and ``seconds()``."""

    def __init__(self, *processes: psutil.Process) -> None:
        self._processes = processes
        self._start = [self._total(p) for p in processes]

    @staticmethod
    def _total(process: psutil.Process) -> float:
        times = process.cpu_times()
        return float(times.user + times.system)

    def seconds(self) -> list[float]:
        return [self._total(p) - s for p, s in zip(self._processes, self._start, strict=True)]


def _result(
    path: str,
    rate: int,
    measured_ms: np.ndarray[Any, Any],
    from_send_ms: np.ndarray[Any, Any] | None = None,
    **figures: Any,
) -> Result:
    from_send_ms = measured_ms if from_send_ms is None else from_send_ms
    return Result(
        path=path,
        rate=rate,
        requests=len(measured_ms),
        p50_ms=float(np.percentile(measured_ms, 50)),
        p99_ms=float(np.percentile(measured_ms, 99)),
        p999_ms=float(np.percentile(measured_ms, 99.9)),
        max_ms=float(measured_ms.max()),
        p99_from_send_ms=float(np.percentile(from_send_ms, 99)),
        load_average=os.getloadavg()[0],
        **figures,
    )


def run_python(
    path: str,
    rate: int,
    seconds: float,
    warmup: float,
    clients: int,
    redis_url: str,
    redis_process: psutil.Process,
) -> Result:
    """One open-loop run of a Python path at ``rate`` requests/s for ``seconds``."""
    count = int(rate * (seconds + warmup))
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    # perf_counter is CLOCK_MONOTONIC on Linux: the same clock in every forked process.
    start = time.perf_counter() + 1.0
    cpu = _Cpu(redis_process)
    processes = [
        context.Process(target=_client, args=(path, redis_url, rate, count, clients, i, start, out))
        for i in range(clients)
    ]
    for process in processes:
        process.start()
    gathered = [out.get(timeout=seconds + warmup + 120) for _ in processes]
    for process in processes:
        process.join()
    (redis_cpu,) = cpu.seconds()
    scheduled = np.empty(count)
    latencies = np.empty(count)
    for index, values, *_ in gathered:
        positions = np.arange(index, count, clients)
        scheduled[positions] = positions / rate
        latencies[positions] = values
    finished = max(g[4] for g in gathered) - start
    return _result(
        path,
        rate,
        latencies[scheduled >= warmup] * 1000,
        achieved_rate=count / finished,
        late_starts=sum(g[2] for g in gathered) / count,
        errors=sum(g[3] for g in gathered),
        load_cpu_s=sum(g[5] for g in gathered),
        server_cpu_s=0.0,
        redis_cpu_s=redis_cpu,
    )


def _targets(path: str, port: int, directory: Path) -> Path:
    """A vegeta target file (JSON lines) of random lookups for ``path``."""
    rng = random.Random(7)
    base = f"http://{DEFAULT_HOST}:{port}"
    lines = []
    for _ in range(2_000 if path == "batch-go" else 20_000):
        if path == "http-floor":
            target: dict[str, Any] = {"method": "GET", "url": f"{base}/healthz"}
        elif path == "batch-go":
            rows = [
                {
                    "card_id": _card(rng.randrange(CARDS)),
                    "merchant_id": _merchant(rng.randrange(MERCHANTS)),
                    "amount_usd_cents": 1250,
                }
                for _ in range(BATCH_SIZE)
            ]
            target = {
                "method": "POST",
                "url": f"{base}/models/payment_fraud/features",
                "body": base64.b64encode(json.dumps({"rows": rows}).encode()).decode(),
                "header": {"Content-Type": ["application/json"]},
            }
        else:
            card, merchant = _card(rng.randrange(CARDS)), _merchant(rng.randrange(MERCHANTS))
            stored = "&at=last_event" if path == "http-go-stored" else ""
            target = {
                "method": "GET",
                "url": f"{base}/models/payment_fraud/features?card_id={card}"
                f"&merchant_id={merchant}&amount_usd_cents=1250{stored}",
            }
        lines.append(json.dumps(target))
    file = directory / f"{path}.targets.jsonl"
    file.write_text("\n".join(lines) + "\n")
    return file


def run_vegeta(
    path: str,
    rate: int,
    seconds: float,
    warmup: float,
    port: int,
    server: psutil.Process,
    redis_process: psutil.Process,
    directory: Path,
    writes: int = 0,
    redis_url: str = "",
) -> Result:
    """One open-loop vegeta run of an HTTP path; latency recomputed against the schedule. With
    ``writes``, payments are written at that rate meanwhile (``_write_live``)."""
    vegeta = tools.ensure(load_stack_config().cache_dir, "vegeta")
    targets = _targets(path, port, directory)
    route = ROUTES.get(path)
    histogram = _server_histogram(port, route) if route else {}
    cache = _tile_cache(port)
    results = directory / f"{path}-{rate}.bin"
    stop, written = multiprocessing.Event(), multiprocessing.Value("q", 0)
    writer = multiprocessing.Process(target=_write_live, args=(redis_url, writes, stop, written))
    if writes:
        writer.start()
    cpu = _Cpu(server, redis_process)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.monotonic()
    subprocess.run(
        [
            str(vegeta),
            "attack",
            f"-targets={targets}",
            "-format=json",
            f"-rate={rate}",
            f"-duration={seconds + warmup}s",
            "-keepalive",
            # Bounded: uncapped, vegeta opens a worker and a connection whenever none is free,
            # and reached ~7,000 connections in 8 s at 5k/s (measured), which then costs the
            # server and vegeta more than the lookups. Falling behind is charged anyway: latency
            # runs from the schedule.
            "-workers=16",
            "-max-workers=64",
            "-connections=64",
            "-timeout=30s",
            f"-output={results}",
        ],
        check=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu, redis_cpu = cpu.seconds()
    writes_per_s = 0.0
    if writes:
        stop.set()
        writer.join(timeout=30)
        writes_per_s = written.value / (time.monotonic() - began)
    server_p99 = _histogram_p99_ms(histogram, _server_histogram(port, route)) if route else None
    hits, updates, misses = (b - a for a, b in zip(cache, _tile_cache(port), strict=True))
    reads = hits + updates + misses
    encoded = subprocess.run(
        [str(vegeta), "encode", "--to=csv", str(results)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    # Columns: timestamp (ns), code, latency (ns), bytes out, bytes in, error, body, attack, seq.
    rows = list(csv.reader(io.StringIO(encoded)))
    started_ns = np.array([int(r[0]) for r in rows], dtype=np.int64)
    latency_ns = np.array([int(r[2]) for r in rows], dtype=np.int64)
    seq = np.array([int(r[8]) for r in rows], dtype=np.int64)
    ok = np.array([r[1] == "200" and not r[5] for r in rows])
    # Request seq is due at t0 + seq / rate; t0 is the earliest start consistent with that.
    due_ns = seq * (1e9 / rate)
    t0 = float((started_ns - due_ns).min())
    lateness_ns = started_ns - (t0 + due_ns)
    keep = seq / rate >= warmup
    span_s = float(started_ns.max() - started_ns.min()) / 1e9
    return _result(
        path,
        rate,
        ((lateness_ns + latency_ns) / 1e6)[keep],
        (latency_ns / 1e6)[keep],
        achieved_rate=(len(rows) - 1) / span_s if span_s else 0.0,
        late_starts=float((lateness_ns > LATE_START_MS * 1e6).mean()),
        errors=int((~ok).sum()),
        load_cpu_s=(after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
        server_cpu_s=server_cpu,
        redis_cpu_s=redis_cpu,
        server_p99_ms=server_p99,
        writes_per_s=writes_per_s,
        tile_cache=(hits / reads, updates / reads, misses / reads) if reads else None,
    )


def _tile_cache(port: int) -> tuple[float, float, float]:
    """The feature server's tiled reads so far: (hits, updates, misses) of its tile cache."""
    found = {"hit": 0.0, "update": 0.0, "miss": 0.0}
    for line, value in _metric(port, "featureserver_tile_cache_total"):
        found[_label(line, "result")] = value
    return found["hit"], found["update"], found["miss"]


ROUTES = {"http-go": "model", "http-go-stored": "model", "batch-go": "model_batch"}
"""The feature server's histogram route of each HTTP path it serves."""


def _server_histogram(port: int, route: str) -> dict[float, float]:
    """Cumulative counts by upper bound of the feature server's duration histogram."""
    counts: dict[float, float] = {}
    for line, value in _metric(port, "featureserver_request_duration_seconds_bucket"):
        if f'route="{route}"' in line and 'code="200"' in line:
            bound = float(_label(line, "le"))
            counts[bound] = counts.get(bound, 0.0) + value
    return counts


def _metric(port: int, name: str) -> list[tuple[str, float]]:
    """Every sample of metric ``name`` on the feature server's ``/metrics``: (line, value)."""
    connection = HTTPConnection(DEFAULT_HOST, port, timeout=5)
    connection.request("GET", "/metrics")
    return [
        (line, float(line.rsplit(" ", 1)[1]))
        for line in connection.getresponse().read().decode().splitlines()
        if line.startswith(name + "{")
    ]


def _label(line: str, name: str) -> str:
    """The value of label ``name`` on a sample line."""
    return line.split(f'{name}="', 1)[1].split('"', 1)[0]


def _histogram_p99_ms(before: dict[float, float], after: dict[float, float]) -> float | None:
    bounds = sorted(after)
    total = after[bounds[-1]] - before.get(bounds[-1], 0.0) if bounds else 0.0
    if not total:
        return None
    for bound in bounds:
        if after[bound] - before.get(bound, 0.0) >= 0.99 * total:
            return bound * 1000
    return None


def _start_server(port: int, engine: str, profile: Path | None) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "common.cli", "serve", "--engine", engine]
    command += ["--port", str(port), *(["--no-access-log"] if engine == "go" else [])]
    if profile is not None and engine == "go":
        command += ["--cpuprofile", str(profile)]
    # The same FEATURESTREAM_* environment: the same Redis. `serve` execs the Go server, so
    # the pid is the server's (its CPU is measured).
    server = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"serve --engine {engine} exited with {server.returncode}")
        try:
            connection = HTTPConnection(DEFAULT_HOST, port, timeout=1)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.2)  # polling until the server answers
    server.kill()
    raise RuntimeError(f"serve --engine {engine} did not answer on port {port}")


def _settle(client: redis.Redis) -> None:
    """Rewrite Redis' append-only file now and wait for it: the writes of ``populate`` would
    otherwise trigger a rewrite (a fork) in the middle of a run."""
    client.execute_command("BGREWRITEAOF")  # type: ignore[no-untyped-call]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        info: dict[str, Any] = client.info("persistence")  # type: ignore[assignment]
        busy = info.get("aof_rewrite_in_progress") or info.get("aof_rewrite_scheduled")
        if not busy and not info.get("rdb_bgsave_in_progress"):
            return
        time.sleep(0.2)  # polling Redis' own flags
    raise RuntimeError("Redis kept rewriting its append-only file for 5 minutes")


def _redis_process(port: int) -> psutil.Process:
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if process.info["name"] == "redis-server" and f":{port}" in cmdline:
            return process
    raise RuntimeError(f"no redis-server on port {port}")


def _print(r: Result) -> None:
    print(
        f"{r.path:<12} {r.rate:>6}/s: p50 {r.p50_ms:.3f}  p99 {r.p99_ms:.3f}  p99.9 "
        f"{r.p999_ms:.3f}  max {r.max_ms:.1f} ms  from send {r.p99_from_send_ms:.3f}  "
        f"late {r.late_starts:.1%}  errors {r.errors}  "
        f"achieved {r.achieved_rate:,.0f}/s  CPU s load/server/redis {r.load_cpu_s:.1f}/"
        f"{r.server_cpu_s:.1f}/{r.redis_cpu_s:.1f}  load {r.load_average:.2f}"
        f"{_live(r)}",
        flush=True,
    )


def _live(r: Result) -> str:
    """The writes meanwhile and the tile cache's hits, when there were any."""
    text = f"  writes {r.writes_per_s:,.0f}/s" if r.writes_per_s else ""
    if r.tile_cache is not None:
        hit, update, miss = r.tile_cache
        text += f"  tile cache hit/update/miss {hit:.0%}/{update:.0%}/{miss:.0%}"
    return text


def _verdicts(results: list[Result]) -> None:
    bare = {r.rate: r.p99_ms for r in results if r.path == "hgetall"}
    stored = {r.rate: r.p99_ms for r in results if r.path == "http-go-stored"}
    for r in results:
        if r.path == "http-go" and r.rate in stored:
            print(
                f"read time vs stored vectors at {r.rate:,}/s: p99 {r.p99_ms / stored[r.rate]:.2f}x"
            )
        if r.path == "http-go":
            verdict = "meets" if r.p99_ms <= TARGET_P99_MS and not r.errors else "misses"
            ratio = f" ({r.p99_ms / bare[r.rate]:.2f}x bare HGETALL)" if r.rate in bare else ""
            print(f"http-go at {r.rate:,}/s {verdict} p99 <= {TARGET_P99_MS} ms{ratio}")
        if r.path == "batch-go":
            verdict = "meets" if r.p99_ms <= TARGET_BATCH_P99_MS and not r.errors else "misses"
            print(
                f"batch of {BATCH_SIZE} at {r.rate:,}/s {verdict} p99 <= {TARGET_BATCH_P99_MS} ms"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds left out per run")
    parser.add_argument("--clients", type=int, default=4, help="client processes (Python paths)")
    parser.add_argument("--paths", nargs="+", choices=PATHS, default=list(PATHS))
    parser.add_argument("--stdlib-max-rate", type=int, default=1000)
    parser.add_argument("--batch-rate", type=int, default=200)
    parser.add_argument(
        "--max-rate",
        type=int,
        nargs="*",
        default=[6000, 7000, 8000, 10000],
        help="http-go rates tried last, in turn, until one's p99 passes 2 ms (none: skip)",
    )
    parser.add_argument(
        "--merchant-events",
        type=int,
        nargs=2,
        default=list(MERCHANT_EVENTS),
        metavar=("MIN", "MAX"),
        help="payments per merchant in the last hour, folded into its tiles",
    )
    parser.add_argument(
        "--writes",
        type=int,
        default=0,
        help="payments per second written meanwhile, as the jobs write them (the lookup paths)",
    )
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument(
        "--server-profile", type=Path, help="diagnostics: the Go server's CPU profile, written here"
    )
    args = parser.parse_args()

    config = load_stack_config()
    stack.up(config, ["redis"])
    store = OnlineStore.connect(config)
    print(f"populating {CARDS:,} card and {MERCHANTS:,} merchant vectors", flush=True)
    now_ms = int(time.time() * 1000)
    populate(store, now_ms)
    print("populating the cards' event logs", flush=True)
    client = redis.Redis.from_url(config.redis_url, decode_responses=True)
    populate_logs(store, client, now_ms)
    print(
        f"populating the merchants' tiles ({args.merchant_events[0]}-{args.merchant_events[1]} "
        "payments in the last hour each)",
        flush=True,
    )
    began = time.perf_counter()
    folded = populate_tiles(client, now_ms, tuple(args.merchant_events))
    print(f"  {folded:,} payments folded in {time.perf_counter() - began:.1f} s", flush=True)
    _settle(client)
    footprint = memory(client)
    for m in footprint:
        vector_gib, history_gib = m.per_million_gib()
        entries = "events" if m.history == "log" else "fields"
        print(
            f"{m.view}: vector {m.vector_bytes:,.0f} B/key, {m.history} "
            f"{m.history_bytes:,.0f} B/key ({m.history_entries:.1f} {entries}); "
            f"per 1M keys {vector_gib:.2f} + {history_gib:.2f} GiB",
            flush=True,
        )
    redis_process = _redis_process(config.redis_port)
    ports = {"go": 18097, "stdlib": 18098}
    servers: dict[str, subprocess.Popen[bytes]] = {}
    if {"http-floor", "http-go", "http-go-stored", "batch-go"} & set(args.paths):
        servers["go"] = _start_server(ports["go"], "go", args.server_profile)
    if "http-stdlib" in args.paths:
        servers["stdlib"] = _start_server(ports["stdlib"], "stdlib", None)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    results: list[Result] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:

            def http(path: str, rate: int) -> Result:
                engine = "stdlib" if path == "http-stdlib" else "go"
                server = psutil.Process(servers[engine].pid)
                return run_vegeta(
                    path,
                    rate,
                    args.seconds,
                    args.warmup,
                    ports[engine],
                    server,
                    redis_process,
                    Path(tmp),
                    args.writes if path in ROUTES else 0,
                    config.redis_url,
                )

            for rate in args.rates:
                for path in args.paths:
                    if path in PYTHON_PATHS:
                        result = run_python(
                            path,
                            rate,
                            args.seconds,
                            args.warmup,
                            args.clients,
                            config.redis_url,
                            redis_process,
                        )
                    elif path == "batch-go" or (
                        path == "http-stdlib" and rate > args.stdlib_max_rate
                    ):
                        continue
                    else:
                        result = http(path, rate)
                    results.append(result)
                    _print(result)
            if "batch-go" in args.paths:
                results.append(http("batch-go", args.batch_rate))
                _print(results[-1])
            if "http-go" in args.paths:
                for rate in args.max_rate:
                    results.append(http("http-go", rate))
                    _print(results[-1])
                    if results[-1].p99_ms > TARGET_P99_MS or results[-1].errors:
                        break
    finally:
        for server in servers.values():
            server.terminate()
            server.wait(timeout=30)
    print(
        "\n| path | rate | requests | p50 | p99 | p99.9 | max | p99 from send | server p99 "
        "| late starts | errors "
        "| CPU s: load / server / Redis | load avg | writes, tile cache |"
    )
    print("| --- " * 14 + "|")
    for r in results:
        print(
            f"| {r.path} | {r.rate:,}/s | {r.requests:,} | {r.p50_ms:.3f} ms | {r.p99_ms:.3f} ms"
            f" | {r.p999_ms:.3f} ms | {r.max_ms:.1f} ms | {r.p99_from_send_ms:.3f} ms | "
            f"{'-' if r.server_p99_ms is None else f'<= {r.server_p99_ms:g} ms'} | "
            f"{r.late_starts:.1%} | {r.errors} | "
            f"{r.load_cpu_s:.1f} / {r.server_cpu_s:.1f} / {r.redis_cpu_s:.1f} | "
            f"{r.load_average:.2f} | {_live(r).strip() or '-'} |"
        )
    _verdicts(results)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "started": started,
                    "memory": [asdict(m) for m in footprint],
                    "results": [asdict(r) for r in results],
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
