"""Online read latency: payment_fraud's feature vector from Redis, directly and over HTTP.

Three paths, each at a fixed open-loop rate (1k and 5k requests/s by default) on loopback:

- ``hgetall`` (baseline): one bare redis-py ``HGETALL`` of a card vector per request;
- ``model_vector``: ``common.models.serving.model_vector`` for payment_fraud (two ``HGETALL``
  in one pipeline, typed, in contract order), the Redis read path the target is about;
- ``http``: ``GET /models/payment_fraud/features`` on ``featurestream serve`` (started by the
  script as a subprocess), one keep-alive connection per client process.

Open loop: request ``i`` is scheduled at ``start + i / rate`` whatever happened before, and its
latency runs from that scheduled time to the response, so a stall delays (and is charged to)
every request behind it: coordinated omission is counted, not hidden. The schedule is spread
over ``--clients`` processes (request ``i`` goes to process ``i % clients``), each with its own
connection, so that the client's own Python is not the bottleneck. The first
``--warmup`` seconds of each run are left out. Keys are drawn uniformly from the stored
vectors (10,000 cards, 1,000 merchants).

Usage (from the repository root; Redis from the local stack, started if it is not running)::

    .venv/bin/python -m bench.serving                      # 1k and 5k/s, 20 s per run
    .venv/bin/python -m bench.serving --rates 1000 --seconds 5 --json out.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

import numpy as np
import redis

from common.config import load_stack_config
from common.local import stack
from common.models.server import DEFAULT_HOST
from common.models.serving import model_vector
from common.online_store import OnlineStore, redis_key
from jobs.inference_requests.models import PAYMENT_FRAUD

ROOT = Path(__file__).resolve().parents[1]
CARDS = 10_000
MERCHANTS = 1_000
PATHS = ("hgetall", "model_vector", "http")
TARGET_P99_MS = 2.0
LATE_START_MS = 1.0
"""A request that starts this much after its scheduled time counts as a late start."""


@dataclass(frozen=True)
class Result:
    """Latency of one path at one rate."""

    path: str
    rate: int
    requests: int
    achieved_rate: float
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    late_starts: float
    """Share of requests that started more than LATE_START_MS after their scheduled time."""
    errors: int
    load_average: float


def _card(i: int) -> str:
    return f"tok_bench{i:07x}"


def _merchant(i: int) -> str:
    return f"mer_bench{i:04x}"


def populate(store: OnlineStore, event_time_ms: int) -> None:
    """Card and merchant vectors shaped like the jobs' (every feature of payment_fraud set)."""
    rng = random.Random(1)
    for i in range(CARDS):
        store.write(
            "payment_card",
            1,
            _card(i),
            event_time_ms,
            f"pay-bench-{i}",
            {
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
            },
        )
    for i in range(MERCHANTS):
        store.write(
            "payment_merchant",
            1,
            _merchant(i),
            event_time_ms,
            f"pay-bench-m{i}",
            {
                "merchant_txn_count_1h": rng.randint(1, 5_000),
                "merchant_amount_usd_sum_1h": rng.randint(100, 10_000_000),
                "merchant_distinct_cards_1h": rng.randint(1, 3_000),
            },
        )


def _request_function(path: str, redis_url: str, http_port: int) -> Callable[[int, int], Any]:
    """A function (card index, merchant index) → response, with its own connection."""
    if path == "hgetall":
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        return lambda card, _merchant_index: client.hgetall(
            redis_key("payment_card", 1, _card(card))
        )
    if path == "model_vector":
        store = OnlineStore(redis.Redis.from_url(redis_url, decode_responses=True))

        def vector(card: int, merchant: int) -> Any:
            keys = {"card_id": _card(card), "merchant_id": _merchant(merchant)}
            return model_vector(store, PAYMENT_FRAUD, keys, {"amount_usd_cents": "1250"})

        return vector
    connection = HTTPConnection(DEFAULT_HOST, http_port, timeout=10)

    def get(card: int, merchant: int) -> Any:
        connection.request(
            "GET",
            f"/models/payment_fraud/features?card_id={_card(card)}"
            f"&merchant_id={_merchant(merchant)}&amount_usd_cents=1250",
        )
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {body[:200]!r}")
        return body

    return get


def _client(
    path: str,
    redis_url: str,
    http_port: int,
    rate: int,
    count: int,
    clients: int,
    index: int,
    start: float,
    out: Any,
) -> None:
    """One client process: requests index, index + clients, ... at their scheduled times."""
    request = _request_function(path, redis_url, http_port)
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
    out.put((index, latencies.tolist(), late, errors, time.perf_counter()))


def run(
    path: str,
    rate: int,
    seconds: float,
    warmup: float,
    clients: int,
    redis_url: str,
    http_port: int,
) -> Result:
    """One open-loop run of ``path`` at ``rate`` requests/s for ``seconds``."""
    count = int(rate * (seconds + warmup))
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    # perf_counter is CLOCK_MONOTONIC on Linux: the same clock in every forked process.
    start = time.perf_counter() + 1.0
    processes = [
        context.Process(
            target=_client,
            args=(path, redis_url, http_port, rate, count, clients, i, start, out),
        )
        for i in range(clients)
    ]
    for process in processes:
        process.start()
    gathered = [out.get(timeout=seconds + warmup + 120) for _ in processes]
    for process in processes:
        process.join()
    scheduled = np.empty(count)
    latencies = np.empty(count)
    for index, values, _late, _errors, _end in gathered:
        positions = np.arange(index, count, clients)
        scheduled[positions] = positions / rate
        latencies[positions] = values
    measured = latencies[scheduled >= warmup] * 1000
    finished = max(end for *_, end in gathered) - start
    return Result(
        path=path,
        rate=rate,
        requests=len(measured),
        achieved_rate=count / finished,
        p50_ms=float(np.percentile(measured, 50)),
        p99_ms=float(np.percentile(measured, 99)),
        p999_ms=float(np.percentile(measured, 99.9)),
        max_ms=float(measured.max()),
        late_starts=sum(late for _, _, late, _, _ in gathered) / count,
        errors=sum(errors for *_, errors, _ in gathered),
        load_average=os.getloadavg()[0],
    )


def _start_server(port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [sys.executable, "-m", "common.cli", "serve", "--port", str(port)],
        cwd=ROOT,  # the same FEATURESTREAM_* environment: the same Redis
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            connection = HTTPConnection(DEFAULT_HOST, port, timeout=1)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError(f"featurestream serve did not answer on port {port}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds left out per run")
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    parser.add_argument("--paths", nargs="+", choices=PATHS, default=list(PATHS))
    parser.add_argument("--http-port", type=int, default=18091)
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args()

    config = load_stack_config()
    stack.up(config, ["redis"])
    store = OnlineStore.connect(config)
    print(f"populating {CARDS:,} card and {MERCHANTS:,} merchant vectors", flush=True)
    populate(store, int(time.time() * 1000))
    server = _start_server(args.http_port) if "http" in args.paths else None
    started = datetime.now(UTC).isoformat(timespec="seconds")
    results = []
    try:
        for rate in args.rates:
            for path in args.paths:
                result = run(
                    path,
                    rate,
                    args.seconds,
                    args.warmup,
                    args.clients,
                    config.redis_url,
                    args.http_port,
                )
                results.append(result)
                print(
                    f"{path:<13} {rate:>5}/s: p50 {result.p50_ms:.3f} ms  p99 {result.p99_ms:.3f}"
                    f" ms  p99.9 {result.p999_ms:.3f} ms  max {result.max_ms:.1f} ms  late "
                    f"{result.late_starts:.1%}  errors {result.errors}  achieved "
                    f"{result.achieved_rate:,.0f}/s  load {result.load_average:.2f}",
                    flush=True,
                )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
    print("\n| path | rate | requests | p50 | p99 | p99.9 | max | late starts | load avg |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        print(
            f"| {r.path} | {r.rate:,}/s | {r.requests:,} | {r.p50_ms:.3f} ms | {r.p99_ms:.3f} ms"
            f" | {r.p999_ms:.3f} ms | {r.max_ms:.1f} ms | {r.late_starts:.1%} | "
            f"{r.load_average:.2f} |"
        )
    for r in results:
        if r.path == "model_vector":
            verdict = "meets" if r.p99_ms <= TARGET_P99_MS else "misses"
            print(f"model_vector at {r.rate:,}/s {verdict} the p99 <= {TARGET_P99_MS} ms target")
    if args.json:
        args.json.write_text(
            json.dumps({"started": started, "results": [asdict(r) for r in results]}, indent=2)
        )


if __name__ == "__main__":
    main()
