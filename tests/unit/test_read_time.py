"""Read-time features (``common.features.read_time``) against the independent DuckDB reference
evaluated at the read time, on days of generated history with hand-placed window edges.

Each key's log is what the job leaves in Redis: its events down to its newest event time minus
the retention. Read times: at the newest event and its same-time peers, exactly one window after
an event (the event still inside) and 1 ms later (outside), hours and days after the last event,
inside windows between events, and unknown keys.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from common.features import FeatureView, Min
from common.features.definitions import DefinitionError
from common.features.expressions import evaluate as evaluate_expression
from common.features.expressions import parse
from common.features.read_time import (
    LoggedEvent,
    ReadTimeVector,
    evaluate,
    evaluate_tiles,
    read_time_spec,
)
from common.generate.runner import generate_events
from jobs.payment_features.features import PAYMENT_CARD, PAYMENT_MERCHANT
from jobs.trade_features.features import TRADE_ACCOUNT, TRADE_SYMBOL
from tests.feature_reference import reference_at
from tests.integration.feature_checks import values_equal
from tests.integration.history import D, M, history
from tests.read_times import input_values, read_times

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _trades() -> list[dict[str, Any]]:
    return [
        e.record
        for e in generate_events("trades", 4_000, seed=5, start=T0, disorder_ms=1_500, rate=0.02)
    ]


def _logs(view: FeatureView, records: list[dict[str, Any]]) -> dict[str, list[LoggedEvent]]:
    """Per key, what the log holds after every event: down to the newest minus the retention,
    and the latest event before that (what ``seconds_since_prev`` and ``last`` need)."""
    keep = read_time_spec(view)["keep_ms"]
    by_key: dict[str, list[LoggedEvent]] = defaultdict(list)
    source = view.source
    for record in records:
        by_key[record[view.entity.key]].append(
            LoggedEvent(
                record[source.event_time], record[source.id_column], input_values(view, record)
            )
        )
    logs = {}
    for key, events in by_key.items():
        events.sort(key=lambda e: (e.time_ms, e.event_id))
        horizon = events[-1].time_ms - keep
        older = [e for e in events if e.time_ms < horizon]
        logs[key] = older[-1:] + [e for e in events if e.time_ms >= horizon]
    return logs


def _tiles(view: FeatureView, records: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Per key, the tile hash after every event (decision 76), folded here in plain Python as
    ``common/online_tiles.lua`` folds it in Redis (the integration tests run the script)."""
    spec = read_time_spec(view)
    tile, parts = spec["tiles"]["tile_ms"], spec["tiles"]["parts"]
    source = view.source
    ordered = sorted(records, key=lambda r: (r[source.event_time], r[source.id_column]))
    folded: dict[str, dict[int, list[Any]]] = defaultdict(dict)
    hashes: dict[str, dict[str, str]] = defaultdict(dict)
    for record in ordered:
        key, at = record[view.entity.key], record[source.event_time]
        values = input_values(view, record)
        start = at // tile * tile
        count, *columns = folded[key].get(start, [0, *([] for _ in parts)])
        folded[key][start] = [
            count + 1,
            *(_fold(letters, c, v) for letters, c, v in zip(parts, columns, values, strict=True)),
        ]
        hashes[key] = {str(s): json.dumps(t) for s, t in folded[key].items()}
        hashes[key]["@t"] = str(at)
        hashes[key]["@e"] = json.dumps([record[source.id_column], *values])
    return hashes


def _fold(letters: str, column: list[Any], value: Any) -> list[Any]:
    """One input's parts after ``value`` (letters of ``nslhwd``)."""
    old = dict(zip(letters, _split(letters, column), strict=True)) if column else {}
    present = value is not None
    n = old.get("n", 0) + present
    out: list[Any] = []
    for letter in letters:
        if letter == "n":
            out.append(n)
        elif letter == "s":
            out.append(old.get("s", 0) + (value if present else 0))
        elif letter in "lh":
            held = [v for v in (old.get(letter), value) if v is not None]
            out.append((min if letter == "l" else max)(held) if held else None)
        elif letter == "w":
            mean, m2 = old.get("w", (0.0, 0.0))
            if present:
                delta = value - mean
                mean += delta / n
                m2 += delta * (value - mean)
            out += [mean, m2]
        else:
            seen = old.get("d", [])
            out.append([*seen, value] if present and value not in seen else seen)
    return out


def _split(letters: str, column: list[Any]) -> list[Any]:
    """A stored column's parts, one per letter (``w`` as its (mean, m2) pair)."""
    parts, position = [], 0
    for letter in letters:
        width = 2 if letter == "w" else 1
        chunk = column[position : position + width]
        parts.append(tuple(chunk) if letter == "w" else chunk[0])
        position += width
    return parts


@pytest.mark.parametrize(
    ("view", "source"),
    [
        (PAYMENT_CARD, "payments"),
        (PAYMENT_MERCHANT, "payments"),
        (TRADE_SYMBOL, "trades"),
        (TRADE_ACCOUNT, "trades"),
    ],
    ids=lambda v: getattr(v, "name", v),
)
def test_read_time_features_equal_the_reference_at_the_read_time(
    view: FeatureView, source: str
) -> None:
    records = history() if source == "payments" else _trades()
    logs = _logs(view, records)
    reads = read_times(view, logs, seed=3)
    spec = read_time_spec(view)

    expected = reference_at(view, records, reads)
    tiles = _tiles(view, records) if view.tile is not None else {}

    def read(key: str, at: int) -> ReadTimeVector:
        if view.tile is not None:
            return evaluate_tiles(spec, tiles.get(key, {}), at)
        return evaluate(spec, logs.get(key, []), at)

    mismatches = []
    for (key, at), want in zip(reads, expected, strict=True):
        got = read(key, at)
        assert not got.too_early
        for name, value in got.features.items():
            if not values_equal(value, want[name]):
                mismatches.append((key, at, name, value, want[name]))
    assert mismatches == [], f"{len(mismatches)} of {len(reads)} reads differ: {mismatches[:5]}"
    # The data reaches every edge: empty windows, a dormant key's since-prev days later.
    features = [read(k, t).features for k, t in reads]
    counts = [f[n] for f in features for n in f if n.endswith(("_10m", "_1h", "_1m"))]
    assert 0 in counts and max(c for c in counts if isinstance(c, int)) > 1


def test_a_read_before_what_the_log_holds_is_too_early() -> None:
    spec = read_time_spec(PAYMENT_CARD)
    log = [LoggedEvent(10 * D, "a", (100, "m1", "US"))]
    late = evaluate(spec, log, 10 * D - spec["margin_ms"])
    early = evaluate(spec, log, 10 * D - spec["margin_ms"] - 1)

    assert not late.too_early and late.features["card_txn_count_24h"] == 0
    assert early.too_early and set(early.features.values()) == {None}


def test_unknown_keys_read_as_an_empty_history() -> None:
    got = evaluate(read_time_spec(PAYMENT_CARD), [], 10 * D)

    assert not got.found and got.last_event_ms is None
    assert got.features["card_txn_count_10m"] == 0
    assert got.features["card_distinct_merchants_24h"] == 0
    assert got.features["card_amount_usd_sum_24h"] is None
    assert got.features["card_seconds_since_prev"] is None


def test_last_breaks_same_time_ties_by_the_largest_event_id() -> None:
    spec = read_time_spec(TRADE_SYMBOL)
    log = [
        LoggedEvent(5 * M, "t-9", (1.0, 10.0, 1.0, 10.0)),
        LoggedEvent(5 * M, "t-10", (1.0, 20.0, 0.0, 20.0)),  # "t-9" > "t-10" as strings
    ]
    assert evaluate(spec, log, 6 * M).features["sym_last_price"] == 10.0


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("a / NULLIF(b, 0E0)", {"a": 3.0, "b": 0.0}, None),
        ("a / NULLIF(b, 0E0)", {"a": 3.0, "b": 2.0}, 1.5),
        ("-a + 2 * `b`", {"a": 1.0, "b": 4.0}, 7.0),
        ("COALESCE(a, b, 1)", {"a": None, "b": None}, 1.0),
        ("ABS(CAST(a AS DOUBLE) - b)", {"a": 1.0, "b": 4.0}, 3.0),
        ("a * b", {"a": None, "b": 4.0}, None),
        ("a / b", {"a": -1.0, "b": 0.0}, -math.inf),
    ],
)
def test_expressions(text: str, values: dict[str, float | None], expected: float | None) -> None:
    assert evaluate_expression(parse(text), values) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("n / m", "both sides of '/' are integers"),
        ("CASE WHEN a > 0 THEN 1 ELSE 0 END", "cannot read"),
        ("a +", "unexpected"),
        ("LOG(a)", "unexpected"),
    ],
)
def test_expressions_outside_the_subset_are_refused(text: str, message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        parse(text, frozenset({"n", "m"}))


def test_the_serving_plan_has_a_read_time_spec_for_each_read_time_view() -> None:
    """``featurestream serve`` compiles every view of the repository: read-time ones with the
    spec this module evaluates (no derived expression of ours outside the subset), the others
    without (served from their stored vectors)."""
    from common.serving.plan import serving_plan

    plan = serving_plan()
    ours = {
        v.qualified_name: v for v in (PAYMENT_CARD, PAYMENT_MERCHANT, TRADE_SYMBOL, TRADE_ACCOUNT)
    }
    for view in plan["views"]:
        qualified = f"{view['name']}.v{view['version']}"
        if "read_time" in view:
            spec = view["read_time"]
            assert spec["features"] == [f["name"] for f in view["features"]]
            prefix = spec["tiles"]["prefix"] if "tiles" in spec else spec["events_prefix"]
            assert prefix.endswith(f":{view['name']}:v{view['version']}:")
        if qualified in ours:
            assert ("read_time" in view) == ours[qualified].read_time
            if ours[qualified].read_time:
                assert view["read_time"] == read_time_spec(ours[qualified])
    for view in ours.values():  # the specs of the others compile too, for when they opt in
        read_time_spec(view)
    assert PAYMENT_CARD.read_time and PAYMENT_CARD.tile is None
    assert all(v.tile is not None for v in (PAYMENT_MERCHANT, TRADE_SYMBOL, TRADE_ACCOUNT))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"read_time": False}, "tile needs read_time=True"),
        ({"tile": timedelta(milliseconds=1500)}, "whole number of seconds"),
        ({"tile": timedelta(minutes=7)}, "not a multiple of the tile"),
    ],
)
def test_bad_tiles_are_refused_with_the_rule(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        replace(PAYMENT_MERCHANT, **changes)


def test_min_of_a_string_cannot_be_tiled() -> None:
    view = replace(
        PAYMENT_MERCHANT, features=(*PAYMENT_MERCHANT.features, Min("first_card", "card_id"))
    )
    with pytest.raises(DefinitionError, match="min of a string cannot be tiled"):
        read_time_spec(view)


def test_a_tiled_read_before_the_newest_event_is_too_early_and_rounds_the_window_start() -> None:
    """Tile boundaries at 0, 60 s, ...: an event at 59.9 s is in the tile [0, 60 s). A 1 h
    window read at T folds it while T - 1 h + 30 s < 60 s, i.e. up to T = 1 h + 29.999 s."""
    spec = read_time_spec(PAYMENT_MERCHANT)
    tiles = _tiles(
        PAYMENT_MERCHANT,
        [
            {
                "payment_id": "p",
                "merchant_id": "m",
                "event_time": 59_900,
                "amount_usd_cents": 5,
                "card_id": "c",
            }
        ],
    )["m"]
    count = "merchant_txn_count_1h"

    assert evaluate_tiles(spec, tiles, 59_899).too_early
    assert evaluate_tiles(spec, tiles, 59_900).features[count] == 1
    assert evaluate_tiles(spec, tiles, 3_629_999).features[count] == 1
    assert evaluate_tiles(spec, tiles, 3_630_000).features[count] == 0
