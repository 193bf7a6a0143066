"""Redis time per call of the online store's scripts, against the vector write in the same run.

The sink makes one script call per (view, event) for the vector, and one more for a read-time
view's event log (``common/online_events.lua``) or tiles (``common/online_tiles.lua``,
decision 76). This bench writes shaped workloads through each script into a private
redis-server and reports Redis's own time per call (``INFO commandstats``: the script's work,
not the client's or the network's), next to the vector script's (``common/online_store.lua``)
on the same server as the baseline:

- ``vector``: payment_card-shaped vectors (ten features), keys written in turn;
- ``log``: card logs, 30 payments per card 1 min to 4 h apart, trimmed at 24 h 5 min;
- ``tiles k/tile``: merchant tiles (payment_merchant's parts), ``k`` payments per one-minute
  tile per merchant, a new card each time (the distinct list grows to ``k``).

Usage (repository root; starts its own redis-server on a free port and stops it; ~30 s)::

    .venv/bin/python -m bench.store_scripts
    .venv/bin/python -m bench.store_scripts --keys 200 --json /tmp/store_scripts.json
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import redis

from bench.tile_error import start_redis
from common.features.read_time import keep_ms, tiles_prefix, tiles_script_args
from common.online_store import EVENTS_SCRIPT, WRITE_SCRIPT, events_key, redis_key
from jobs.payment_features.features import PAYMENT_CARD, PAYMENT_MERCHANT
from tests.read_times import input_values

TILES_SCRIPT = Path(__file__).resolve().parents[1] / "common" / "online_tiles.lua"
T0 = 1_800_000_000_000
Call = tuple[str, list[object]]
"""One script call: its key and ARGV."""


@dataclass(frozen=True)
class Figure:
    workload: str
    calls: int
    usec_per_call: float
    vs_vector: float


def _vectors(keys: int, rng: random.Random) -> Iterator[Call]:
    for i in range(30):
        for k in range(keys):
            features = [x for n in range(10) for x in (f"feature_{n}", rng.randint(0, 10**6))]
            yield (
                redis_key("payment_card", 1, f"card{k}"),
                [T0 + i * 1000, f"p{i}", 1, 0, *features],
            )


def _logs(keys: int, rng: random.Random) -> Iterator[Call]:
    events = []
    for k in range(keys):
        t = T0
        for i in range(30):
            t += rng.randint(60_000, 4 * 3_600_000)
            events.append((t, k, i))
    keep = keep_ms(PAYMENT_CARD)
    for t, k, i in sorted(events):
        member = json.dumps(
            [f"pay-{k}-{i:06d}", rng.randint(100, 50_000), f"mer{rng.randrange(1000)}", "US"],
            separators=(",", ":"),
        )
        yield events_key(PAYMENT_CARD.name, 1, f"card{k}"), [t, member, keep, 90_000_000]


def _tiles(per_tile: int) -> Callable[[int, random.Random], Iterator[Call]]:
    def calls(keys: int, rng: random.Random) -> Iterator[Call]:
        tile_args = tiles_script_args(PAYMENT_MERCHANT)
        step = tile_args[2] // per_tile
        for i in range(max(60, per_tile * 2)):
            for k in range(keys):
                record = {"amount_usd_cents": rng.randint(100, 50_000), "card_id": f"tok{i:07x}"}
                member = json.dumps(
                    [f"pay-{k}-{i:06d}", *input_values(PAYMENT_MERCHANT, record)],
                    separators=(",", ":"),
                )
                key = tiles_prefix(PAYMENT_MERCHANT) + f"mer{k}"
                yield key, [T0 + i * step, member, *tile_args]

    return calls


def measure(client: redis.Redis, script: Path, calls: Iterator[Call]) -> tuple[int, float]:
    """Calls and Redis microseconds per call of ``script`` over ``calls``."""
    sha = str(client.script_load(script.read_text(encoding="utf-8")))
    client.flushall()
    client.config_resetstat()
    pipeline = client.pipeline(transaction=False)
    for key, args in calls:
        pipeline.evalsha(sha, 1, key, *args)  # type: ignore[arg-type]
        if len(pipeline) >= 1_000:
            pipeline.execute()
    pipeline.execute()
    stats = client.info("commandstats")["cmdstat_evalsha"]  # type: ignore[index]
    return int(stats["calls"]), float(stats["usec_per_call"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=100, help="keys per workload")
    parser.add_argument("--per-tile", type=int, nargs="+", default=[1, 5, 60, 200])
    parser.add_argument(
        "--tiles-script", type=Path, default=TILES_SCRIPT, help="another version, to compare"
    )
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args()
    workloads: list[tuple[str, Path, Callable[[int, random.Random], Iterator[Call]]]] = [
        ("vector", WRITE_SCRIPT, _vectors),
        ("log", EVENTS_SCRIPT, _logs),
        *((f"tiles {k}/tile", args.tiles_script, _tiles(k)) for k in args.per_tile),
    ]
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="bench-store-scripts-") as tmp:
        process, client = start_redis(Path(tmp))
        try:
            baseline = 0.0
            for name, script, calls in workloads:
                n, usec = measure(client, script, calls(args.keys, random.Random(7)))
                baseline = baseline or usec
                figures.append(Figure(name, n, usec, usec / baseline))
                print(
                    f"{name:<16} {n:>7,} calls  {usec:6.2f} us/call  {usec / baseline:5.2f}x vector"
                )
        finally:
            process.terminate()
            process.wait(timeout=30)
    if args.json:
        args.json.write_text(json.dumps([asdict(f) for f in figures], indent=2))


if __name__ == "__main__":
    main()
