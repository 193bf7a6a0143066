"""Tiles against exact windows: the error one-minute tiles make, and what they cost in Redis.

payment_merchant is read at the read time from one-minute tiles (decision 76): a window over
``w`` folds the tiles from ``T - w`` rounded to the nearest tile boundary, so it holds the
events of ``[b, T]`` instead of ``[T - w, T]``. This bench measures that error on merchant-like
load, through the real write path:

- data sets: ``synthetic`` (``--merchants`` merchants at rates spread geometrically from
  ``--min-rate`` to ``--max-rate`` payments an hour over ``--hours``; Poisson counts, uniform
  random times in ms, a share of same-time peers, cards partly regulars, log-normal amounts; own
  seeded generator) and ``history`` (``tests.integration.history.history()``: the generator's
  bursty payments over ~4.6 days plus the hand-placed edge cases);
- every event is written, in (event time, id) order, through ``common/online_tiles.lua`` into a
  real Redis (pipelined EVALSHA, the sink's ARGV), and through ``common/online_events.lua`` into
  the event-log alternative (keep = the untiled view's ``keep_ms``, the same TTL);
- reads (``HGETALL`` + ``read_time.evaluate_tiles``): ``during`` (while the events stream: at
  random event times ``C`` from an hour and a tile after the first event on, up to 10 keys
  with an event in the hour before ``C``, read with only the events up to ``C`` written),
  ``at`` (each key at its newest event), ``after`` (each key at random times 0-2 h after its
  newest event), ``edges`` (``tests.read_times.read_times``: for the busiest
  and a sample of keys, at and 1 ms around where a recent event's tile leaves the window, and
  exactly one window after it: the worst case, reported apart);
- each read is compared with the exact reference (``tests.feature_reference.reference_at`` on
  the view without its tile, DuckDB) for the error figures, and must EQUAL the tiled reference
  (``reference_at`` on the view as defined): any difference there is a bug, printed, and the
  bench exits 1;
- Redis memory per merchant key (``MEMORY USAGE ... SAMPLES 0``) of the tile hash and of the
  event log of the same events, by rate band.

Relative errors are over the reads whose exact value is not 0. A sum over an empty window is
null; it counts as 0 in the error figures (and as inexact when the other side is not null).

Usage (repository root; starts its own redis-server on a free port and stops it)::

    .venv/bin/python -m bench.tile_error                        # ~1-2 min
    .venv/bin/python -m bench.tile_error --merchants 50 --json /tmp/tile_error.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import redis

from common.features.read_time import (
    LoggedEvent,
    evaluate_tiles,
    events_prefix,
    keep_ms,
    log_ttl_ms,
    read_time_spec,
    tiles_prefix,
    tiles_script_args,
)
from common.local.parts import redis_server
from jobs.payment_features.features import PAYMENT_MERCHANT
from tests.feature_reference import reference_at
from tests.integration.feature_checks import values_equal
from tests.integration.history import history
from tests.read_times import input_values, read_times

ROOT = Path(__file__).resolve().parents[1]
TILES_SCRIPT = ROOT / "common" / "online_tiles.lua"
EVENTS_SCRIPT = ROOT / "common" / "online_events.lua"
VIEW = PAYMENT_MERCHANT
EXACT = dataclasses.replace(PAYMENT_MERCHANT, tile=None)
"""The same view with an event log: its reference is the exact window ``[T - w, T]``."""
H = 3_600_000
START_MS = int(datetime(2026, 12, 1, tzinfo=UTC).timestamp() * 1000)
TIE_SHARE = 0.05
"""Share of synthetic events that take the time of an earlier event of the same merchant."""
REGULAR_SHARE = 0.2
"""Share of a synthetic merchant's payments by one of its 8 regular cards."""
CARD_POOL = 500_000
BANDS = ((0, 20), (20, 80), (80, 300), (300, math.inf))
"""Rate bands (payments an hour) the synthetic figures are also split by."""
PIPELINE = 2_000


@dataclass(frozen=True)
class Read:
    key: str
    at_ms: int
    kind: str
    """'during', 'at' or 'after'."""
    fields: dict[str, str]


def synthetic(
    merchants: int, low: float, high: float, hours: float, seed: int
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Payments of ``merchants`` merchants (rates geometric from ``low`` to ``high`` an hour)
    and each merchant's rate."""
    rng = random.Random(seed)
    counts = np.random.default_rng(seed)
    span = round(hours * H)
    records: list[dict[str, Any]] = []
    rates: dict[str, float] = {}
    for i in range(merchants):
        rate = low * (high / low) ** (i / max(merchants - 1, 1))
        merchant = f"mer_tile{i:04x}"
        rates[merchant] = rate
        regulars = [f"tok_reg{i:04x}{j}" for j in range(8)]
        times: list[int] = []
        for _ in range(int(counts.poisson(rate * hours))):
            if times and rng.random() < TIE_SHARE:
                t = rng.choice(times)  # a same-time peer
            else:
                t = START_MS + rng.randrange(span)
            times.append(t)
            card = (
                rng.choice(regulars)
                if rng.random() < REGULAR_SHARE
                else f"tok_{rng.randrange(CARD_POOL):07x}"
            )
            records.append(
                {
                    "payment_id": f"pay-{rng.getrandbits(48):012x}",
                    "merchant_id": merchant,
                    "card_id": card,
                    "amount_usd_cents": max(50, int(rng.lognormvariate(math.log(2500), 1.0))),
                    "event_time": t,
                }
            )
    return records, rates


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis(directory: Path) -> tuple[subprocess.Popen[bytes], redis.Redis]:
    """A private redis-server (no persistence: memory is what is measured) on a free port."""
    port = _free_port()
    process = subprocess.Popen(
        [
            redis_server(),
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(directory),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port, decode_responses=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            client.ping()
            return process, client
        except redis.ConnectionError:
            time.sleep(0.1)  # polling until the server answers
    process.kill()
    raise RuntimeError(f"redis-server on port {port} did not answer")


def write_and_read(
    client: redis.Redis,
    records: Sequence[dict[str, Any]],
    during_reads: int,
    after_reads: int,
    seed: int,
) -> tuple[list[Read], dict[str, Any]]:
    """Writes every event through both scripts in (time, id) order, reading tiles on the way
    (``during``) and after (``at``, ``after``)."""
    rng = random.Random(seed)
    client.flushdb()
    tiles_sha = str(client.script_load(TILES_SCRIPT.read_text(encoding="utf-8")))
    events_sha = str(client.script_load(EVENTS_SCRIPT.read_text(encoding="utf-8")))
    tile_args = tiles_script_args(VIEW)
    tile, ttl = tile_args[2], tile_args[1]
    keep_log = str(keep_ms(EXACT))
    tprefix, eprefix = tiles_prefix(VIEW), events_prefix(EXACT)
    ordered = sorted(records, key=lambda r: (r["event_time"], r["payment_id"]))
    first, last = ordered[0]["event_time"], ordered[-1]["event_time"]
    per_checkpoint = 10
    # From one window and a tile after the first event: earlier, a window's old end lies before
    # the data, where there is nothing to get wrong.
    settled = min(first + H + tile, last)
    checkpoints = sorted(
        rng.randrange(settled, last + 1) for _ in range(max(during_reads // per_checkpoint, 1))
    )
    reads: list[Read] = []
    newest: dict[str, int] = {}
    folded = skipped = logged = 0
    pipeline = client.pipeline(transaction=False)
    began = time.perf_counter()

    def flush() -> None:
        nonlocal folded, skipped, logged
        replies = pipeline.execute()
        folded += sum(replies[0::2])
        skipped += len(replies[0::2]) - sum(replies[0::2])
        logged += sum(replies[1::2])

    def read_during(at: int) -> None:
        active = sorted(k for k, t in newest.items() if t >= at - H)
        chosen = rng.sample(active, min(per_checkpoint, len(active)))
        fetch = client.pipeline(transaction=False)
        for key in chosen:
            fetch.hgetall(tprefix + key)
        for key, fields in zip(chosen, fetch.execute(), strict=True):
            reads.append(Read(key, at, "during", fields))

    position = 0
    for record in ordered:
        t = record["event_time"]
        while position < len(checkpoints) and checkpoints[position] < t:
            flush()  # every event at or before the checkpoint is in Redis
            read_during(checkpoints[position])
            position += 1
        key = record["merchant_id"]
        values = input_values(VIEW, record)
        member = json.dumps([record["payment_id"], *values], separators=(",", ":"))
        when = str(t)
        pipeline.evalsha(tiles_sha, 1, tprefix + key, when, member, *tile_args)
        pipeline.evalsha(events_sha, 1, eprefix + key, when, member, keep_log, ttl)
        newest[key] = t
        if len(pipeline) >= PIPELINE:
            flush()
    flush()
    while position < len(checkpoints):
        read_during(checkpoints[position])
        position += 1
    write_s = time.perf_counter() - began
    keys = sorted(newest)
    logs: dict[str, list[LoggedEvent]] = {}
    for record in ordered:
        logs.setdefault(record["merchant_id"], []).append(
            LoggedEvent(record["event_time"], record["payment_id"], input_values(VIEW, record))
        )
    edges = read_times(VIEW, logs, seed)
    fetch = client.pipeline(transaction=False)
    for key, _ in edges:
        fetch.hgetall(tprefix + key)
    for (key, at), fields in zip(edges, fetch.execute(), strict=True):
        reads.append(Read(key, at, "edges", fields))
    fetch = client.pipeline(transaction=False)
    for key in keys:
        fetch.hgetall(tprefix + key)
    for key, fields in zip(keys, fetch.execute(), strict=True):
        reads.append(Read(key, newest[key], "at", fields))
        for _ in range(after_reads):
            reads.append(Read(key, newest[key] + rng.randrange(2 * H + 1), "after", fields))
    written = {
        "events": len(ordered),
        "keys": len(keys),
        "tiles_folded": folded,
        "tiles_skipped": skipped,
        "log_added": logged,
        "write_s": round(write_s, 2),
        "script_calls_per_s": round(2 * len(ordered) / write_s),
    }
    return reads, written


def memory(
    client: redis.Redis, keys: Sequence[str], rates: dict[str, float]
) -> list[dict[str, Any]]:
    """Bytes per key of the tile hash and of the log (exact ``MEMORY USAGE``), by rate band."""
    tprefix, eprefix = tiles_prefix(VIEW), events_prefix(EXACT)
    pipeline = client.pipeline(transaction=False)
    for key in keys:
        pipeline.memory_usage(tprefix + key, samples=0)
        pipeline.hlen(tprefix + key)
        pipeline.memory_usage(eprefix + key, samples=0)
        pipeline.zcard(eprefix + key)
        pipeline.object("encoding", tprefix + key)
        pipeline.object("encoding", eprefix + key)
    replies = pipeline.execute()
    per_key = {k: replies[6 * i : 6 * i + 6] for i, k in enumerate(keys)}
    bands = [(lo, hi) for lo, hi in BANDS if any(lo <= rates[k] < hi for k in keys)]
    rows = []
    for lo, hi in [*bands, (0, math.inf)]:
        chosen = [k for k in keys if lo <= rates[k] < hi]
        if not chosen:
            continue
        tiles_b = np.mean([per_key[k][0] for k in chosen])
        log_b = np.mean([per_key[k][2] for k in chosen])
        encodings = sorted({f"{per_key[k][4]}/{per_key[k][5]}" for k in chosen})
        rows.append(
            {
                "band": "all" if (lo, hi) == (0, math.inf) else _band(lo, hi),
                "keys": len(chosen),
                "rate_per_h": float(np.mean([rates[k] for k in chosen])),
                "tiles_bytes": float(tiles_b),
                "hlen": float(np.mean([per_key[k][1] for k in chosen])),
                "log_bytes": float(log_b),
                "log_events": float(np.mean([per_key[k][3] for k in chosen])),
                "tiles_gib_per_1m": float(tiles_b * 1e6 / 2**30),
                "log_gib_per_1m": float(log_b * 1e6 / 2**30),
                "encodings_tiles_log": encodings,
            }
        )
    return rows


def _band(lo: float, hi: float) -> str:
    return f"{lo:g}-{hi:g}/h" if hi < math.inf else f">= {lo:g}/h"


def _number(value: Any) -> float:
    return 0.0 if value is None else float(value)


def error_stats(pairs: Sequence[tuple[Any, Any]]) -> dict[str, Any]:
    """Error figures of (tiled, exact) value pairs."""
    tiled = np.array([_number(t) for t, _ in pairs])
    exact = np.array([_number(e) for _, e in pairs])
    diff = tiled - exact
    nonzero = exact != 0
    relative = np.abs(diff[nonzero]) / np.abs(exact[nonzero])
    signed = diff[nonzero] / np.abs(exact[nonzero])
    return {
        "reads": len(pairs),
        "exact_share": float(np.mean([values_equal(t, e) for t, e in pairs])),
        "mean_exact_value": float(exact.mean()),
        "abs_mean": float(np.abs(diff).mean()),
        "abs_max": float(np.abs(diff).max()),
        "bias": float(diff.mean()),
        "reads_nonzero": int(nonzero.sum()),
        "rel_mean": float(relative.mean()) if relative.size else 0.0,
        "rel_p99": float(np.percentile(relative, 99)) if relative.size else 0.0,
        "rel_max": float(relative.max()) if relative.size else 0.0,
        "rel_bias": float(signed.mean()) if signed.size else 0.0,
    }


def measure(
    name: str,
    client: redis.Redis,
    records: list[dict[str, Any]],
    rates: dict[str, float] | None,
    args: argparse.Namespace,
) -> tuple[dict[str, Any], list[str]]:
    """One data set: write, read, compare; the figures and any tiled-reference mismatches."""
    print(f"{name}: writing {len(records):,} events through both scripts", flush=True)
    reads, written = write_and_read(client, records, args.during_reads, args.after_reads, args.seed)
    print(
        f"{name}: {written['events']:,} events, {written['keys']:,} keys in "
        f"{written['write_s']:.1f} s ({written['script_calls_per_s']:,} script calls/s); "
        f"{len(reads):,} reads",
        flush=True,
    )
    keys = sorted({r["merchant_id"] for r in records})
    if rates is None:  # events an hour over the data set's span
        span_h = (max(r["event_time"] for r in records) - min(r["event_time"] for r in records)) / H
        counted: dict[str, int] = {}
        for r in records:
            counted[r["merchant_id"]] = counted.get(r["merchant_id"], 0) + 1
        rates = {k: counted[k] / span_h for k in keys}
    footprint = memory(client, keys, rates)
    spec = read_time_spec(VIEW)
    began = time.perf_counter()
    got = [evaluate_tiles(spec, r.fields, r.at_ms) for r in reads]
    evaluate_s = time.perf_counter() - began
    wanted = [(r.key, r.at_ms) for r in reads]
    began = time.perf_counter()
    exact = reference_at(EXACT, records, wanted)
    tiled = reference_at(VIEW, records, wanted)
    reference_s = time.perf_counter() - began
    print(
        f"{name}: evaluated {len(reads):,} reads in {evaluate_s:.1f} s, references (DuckDB, "
        f"exact and tiled) in {reference_s:.1f} s",
        flush=True,
    )
    features = spec["features"]
    mismatches = []
    for read, vector, want in zip(reads, got, tiled, strict=True):
        if vector.too_early:
            mismatches.append(f"{read.key} at {read.at_ms}: too early {vector}")
            continue
        for f in features:
            if not values_equal(vector.features[f], want[f]):
                mismatches.append(
                    f"{read.kind} {read.key} at {read.at_ms}: {f} tiles {vector.features[f]!r} "
                    f"!= tiled reference {want[f]!r}"
                )
    groups: dict[tuple[str, str], list[int]] = {}
    for kind in ("during", "at", "after", "edges"):
        groups[(kind, "all")] = []
    groups[("during+at", "all")] = []
    for lo, hi in BANDS:
        groups[("during+at", _band(lo, hi))] = []
    for n, read in enumerate(reads):
        groups[(read.kind, "all")].append(n)
        # The reads a busy key gets: 'after' reads past an hour are empty windows on both
        # sides, 'edges' are placed where a tile leaves the window (the worst case).
        if read.kind in ("during", "at"):
            groups[("during+at", "all")].append(n)
            band = next(_band(lo, hi) for lo, hi in BANDS if lo <= rates.get(read.key, 0) < hi)
            groups[("during+at", band)].append(n)
    errors = []
    for (kind, band), members in groups.items():
        if not members:
            continue
        for f in features:
            pairs = [(got[n].features[f], exact[n][f]) for n in members]
            errors.append({"read_set": kind, "band": band, "feature": f, **error_stats(pairs)})
    return (
        {
            "data_set": name,
            **written,
            "reads": len(reads),
            "evaluate_s": round(evaluate_s, 2),
            "reference_s": round(reference_s, 2),
            "tiled_reference_mismatches": len(mismatches),
            "memory": footprint,
            "errors": errors,
        },
        mismatches,
    )


SHORT = {
    "merchant_txn_count_1h": "count 1h",
    "merchant_amount_usd_sum_1h": "sum 1h",
    "merchant_distinct_cards_1h": "distinct cards 1h",
}


def _print(result: dict[str, Any]) -> None:
    name = result["data_set"]
    print(
        f"\n{name}: error of tiles against the exact window (relative: over reads whose exact "
        "value is not 0)\n"
        "| reads | rate band | feature | reads | exact | mean value | abs mean | abs max "
        "| bias | rel mean | rel p99 | rel max | rel bias |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    )
    for e in result["errors"]:
        print(
            f"| {e['read_set']} | {e['band']} | {SHORT.get(e['feature'], e['feature'])} | "
            f"{e['reads']:,} | {e['exact_share']:.1%} | {e['mean_exact_value']:,.1f} | "
            f"{e['abs_mean']:,.2f} | {e['abs_max']:,.0f} | {e['bias']:+,.2f} | "
            f"{e['rel_mean']:.3%} | {e['rel_p99']:.2%} | {e['rel_max']:.2%} | "
            f"{e['rel_bias']:+.3%} |"
        )
    print(
        f"\n{name}: Redis memory per merchant key (MEMORY USAGE SAMPLES 0)\n"
        "| rate band | keys | mean rate | tiles / key (HLEN) | log / key (events) "
        "| per 1M keys: tiles / log | encoding tiles/log |\n"
        "| --- | --- | --- | --- | --- | --- | --- |"
    )
    for m in result["memory"]:
        print(
            f"| {m['band']} | {m['keys']:,} | {m['rate_per_h']:,.3g}/h | "
            f"{m['tiles_bytes']:,.0f} B ({m['hlen']:.1f}) | "
            f"{m['log_bytes']:,.0f} B ({m['log_events']:.1f}) | "
            f"{m['tiles_gib_per_1m']:.2f} / {m['log_gib_per_1m']:.2f} GiB | "
            f"{', '.join(m['encodings_tiles_log'])} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--merchants", type=int, default=200)
    parser.add_argument("--min-rate", type=float, default=5.0, help="payments an hour")
    parser.add_argument("--max-rate", type=float, default=600.0, help="payments an hour")
    parser.add_argument("--hours", type=float, default=3.0, help="event time span (synthetic)")
    parser.add_argument("--during-reads", type=int, default=3_000, help="per data set")
    parser.add_argument("--after-reads", type=int, default=20, help="per key")
    parser.add_argument(
        "--history-after-reads", type=int, default=3, help="per key of history (2,079 keys)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--data-sets", nargs="+", choices=("synthetic", "history"), default=["synthetic", "history"]
    )
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args()

    started = datetime.now(UTC).isoformat(timespec="seconds")
    began = time.perf_counter()
    results = []
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-tile-error-") as tmp:
        process, client = start_redis(Path(tmp))
        try:
            print(
                f"redis-server {client.info('server')['redis_version']} on a free port",  # type: ignore[index]
                flush=True,
            )
            for name in args.data_sets:
                if name == "synthetic":
                    records, rates = synthetic(
                        args.merchants, args.min_rate, args.max_rate, args.hours, args.seed
                    )
                    result, mismatches = measure(name, client, records, rates, args)
                else:
                    more = argparse.Namespace(
                        **{**vars(args), "after_reads": args.history_after_reads}
                    )
                    result, mismatches = measure(name, client, history(), None, more)
                results.append(result)
                failures += [f"{name}: {m}" for m in mismatches]
                _print(result)
        finally:
            process.terminate()
            process.wait(timeout=30)
    elapsed = time.perf_counter() - began
    print(f"\n{elapsed:.0f} s in all")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "started": started,
                    "args": {
                        k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()
                    },
                    "tile_ms": read_time_spec(VIEW)["tiles"]["tile_ms"],
                    "keep_ms_tiles": keep_ms(VIEW),
                    "keep_ms_log": keep_ms(EXACT),
                    "ttl_ms": log_ttl_ms(VIEW),
                    "elapsed_s": round(elapsed, 1),
                    "results": results,
                },
                indent=2,
            )
        )
    if failures:
        print(f"\n{len(failures)} reads differ from the tiled reference (a bug):", file=sys.stderr)
        for line in failures[:50]:
            print(f"  {line}", file=sys.stderr)
        sys.exit(1)
    print("every read equals the tiled reference")


if __name__ == "__main__":
    main()
