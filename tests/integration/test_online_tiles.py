"""The tile script (``common/online_tiles.lua``, decision 76) in a real Redis: a history's events
folded in release order, with replays written again as a restarted job writes them, read with
``evaluate_tiles`` at edge read times, equal the DuckDB reference with tile-rounded windows, for
every function a tile keeps (count, sum, avg, min, max, stddev, distinct count, last, since-prev).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from common.config import StackConfig
from common.features import (
    Avg,
    Count,
    DistinctCount,
    Entity,
    FeatureView,
    Last,
    Max,
    Min,
    SecondsSincePrev,
    StddevPop,
    Sum,
)
from common.features.read_time import (
    LoggedEvent,
    evaluate_tiles,
    keep_ms,
    read_time_spec,
    tiles_script_args,
)
from jobs.payment_features.features import PAYMENTS
from tests.feature_reference import reference_at
from tests.integration.feature_checks import values_equal
from tests.integration.history import history
from tests.read_times import input_values, read_times

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).parents[2] / "common" / "online_tiles.lua"

EVERY_PART = FeatureView(
    name="tiles_every_part",
    version=1,
    entity=Entity("merchant_id"),
    source=PAYMENTS,
    read_time=True,
    tile=timedelta(minutes=1),
    features=(
        Count("n_10m", window="10m"),
        Count("amount_n_1h", "amount_usd_cents", window="1h"),
        Sum("amount_sum_1h", "amount_usd_cents", window="1h"),
        Avg("amount_avg_10m", "amount_usd_cents", window="10m"),
        Min("amount_min_1h", "amount_usd_cents", window="1h"),
        Max("amount_max_10m", "amount_usd_cents", window="10m"),
        StddevPop("amount_stddev_1h", "amount_usd_cents", window="1h"),
        DistinctCount("cards_1h", "card_id", window="1h"),
        DistinctCount("countries_10m", "country", window="10m"),
        Last("last_country", "country"),
        SecondsSincePrev("since_prev"),
    ),
)


def _write(
    client: redis.Redis,
    view: FeatureView,
    prefix: str,
    records: list[dict[str, Any]],
    batch: int = 40,
    replayed: int = 15,
) -> list[int]:
    """Every record through the script in release order ((time, id) per key), each batch
    followed by its last ``replayed`` again (a job restarted from a checkpoint writes them
    twice)."""
    script = client.register_script(SCRIPT.read_text())
    source = view.source
    ordered = sorted(records, key=lambda r: (r[source.event_time], r[source.id_column]))
    results: list[int] = []
    for start in range(0, len(ordered), batch):
        chunk = ordered[start : start + batch]
        pipeline = client.pipeline(transaction=False)
        for record in [*chunk, *chunk[-replayed:]] if replayed else chunk:
            member = json.dumps(
                [record[source.id_column], *input_values(view, record)], separators=(",", ":")
            )
            script(
                keys=[prefix + record[view.entity.key]],
                args=[record[source.event_time], member, *tiles_script_args(view)],
                client=pipeline,
            )
        results += pipeline.execute()
    return results


@pytest.mark.parametrize("view", [EVERY_PART], ids=lambda v: v.name)
def test_tiles_written_by_the_script_read_as_the_reference(
    stack_config: StackConfig, view: FeatureView
) -> None:
    client = redis.Redis.from_url(stack_config.redis_url, decode_responses=True)
    records = history(seed=29)
    prefix = f"fst:{view.name}:v{view.version}:{uuid.uuid4().hex[:8]}:"
    spec = {**read_time_spec(view)}
    spec["tiles"] = {**spec["tiles"], "prefix": prefix}

    written = _write(client, view, prefix, records)

    assert written.count(1) == len(records)  # every replay was recognised, none folded twice
    logs: dict[str, list[LoggedEvent]] = {}
    for r in records:
        logs.setdefault(r[view.entity.key], []).append(
            LoggedEvent(r["event_time"], r["payment_id"], ())
        )
    reads = read_times(view, logs, seed=5)
    expected = reference_at(view, records, reads)
    keys = sorted(logs)
    pipeline = client.pipeline(transaction=False)
    for key in [*keys, *(k for k, _ in reads)]:
        pipeline.hgetall(prefix + key)
    fetched = pipeline.execute()
    hashes = dict(zip(keys, fetched[: len(keys)], strict=True))
    mismatches = []
    for (key, at), want, fields in zip(reads, expected, fetched[len(keys) :], strict=True):
        got = evaluate_tiles(spec, fields, at)
        assert not got.too_early, (key, at)
        for name, value in got.features.items():
            if not values_equal(value, want[name]):
                mismatches.append((key, at, name, value, want[name]))
    assert mismatches == [], f"{len(mismatches)} of {len(reads)} reads differ: {mismatches[:5]}"

    # Trimmed on write: no key keeps a tile no read at or after its newest event folds.
    tile, keep = spec["tiles"]["tile_ms"], keep_ms(view)
    for key, fields in hashes.items():
        newest = int(fields["@t"])
        starts = [int(f) for f in fields if not f.startswith("@")]
        assert min(starts) >= newest - keep and len(starts) <= keep // tile + 1, key
    assert client.pttl(prefix + keys[0]) > 0
    # A read before the newest event cannot drop the tile's later events: too early.
    newest = int(hashes[keys[0]]["@t"])
    assert evaluate_tiles(spec, hashes[keys[0]], newest - 1).too_early


def test_an_out_of_order_write_is_skipped_not_folded(stack_config: StackConfig) -> None:
    """The script trusts release order: an event before the key's newest is a replay, so it
    returns 0 and the tiles stay as they were (the sink counts it)."""
    client = redis.Redis.from_url(stack_config.redis_url, decode_responses=True)
    view = replace(EVERY_PART, name="tiles_order")
    prefix = f"fst:{view.name}:v1:{uuid.uuid4().hex[:8]}:"
    records = [
        {**r, "merchant_id": "m"} for r in sorted(history(seed=3), key=lambda r: r["event_time"])
    ][:3]
    assert _write(client, view, prefix, records[1:]).count(1) == 2
    before = client.hgetall(prefix + "m")
    assert _write(client, view, prefix, records[:1]) == [0, 0]
    assert client.hgetall(prefix + "m") == before


def test_the_same_events_give_byte_identical_tiles_whatever_the_replays(
    stack_config: StackConfig,
) -> None:
    """Determinism: the whole store (every key's hash, as bytes) hashes the same after a run
    without replays and one replaying most of each batch."""
    client = redis.Redis.from_url(stack_config.redis_url, decode_responses=True)
    records = history(seed=31)
    digests = []
    for batch, replayed in ((500, 0), (7, 6)):
        prefix = f"fst:{EVERY_PART.name}:v1:{uuid.uuid4().hex[:8]}:"
        _write(client, EVERY_PART, prefix, records, batch, replayed)
        keys = sorted(client.scan_iter(match=f"{prefix}*", count=1000))
        pipeline = client.pipeline(transaction=False)
        for key in keys:
            pipeline.hgetall(key)
        whole = [
            (key[len(prefix) :], sorted(fields.items()))
            for key, fields in zip(keys, pipeline.execute(), strict=True)
        ]
        digests.append(hashlib.sha256(json.dumps(whole).encode()).hexdigest())
    assert digests[0] == digests[1]
