"""Features as of the moment they are read: every feature of a view for a virtual event at ``T``.

The job keeps, per key, a log of its recent events (``fse:<view>:v<N>:<key>``: event time,
id and the aggregate inputs; decision 75). A read at ``T`` evaluates the view's definitions
over it, with the job's window rule moved to ``T``:

- a windowed aggregate over ``w`` folds the key's events with ``T - w <= t' <= T``; an empty
  window gives counts of 0 and null for every other function;
- ``seconds_since_prev`` is ``T`` minus the key's latest event time ``<= T`` (null when there is
  none within ``last_event_retention``); ``last`` is the input of that event (same-time peers:
  the largest event id);
- derived features are evaluated over those aggregates (``common.features.expressions``).

The log holds events down to the key's newest event time ``N`` minus ``keep_ms`` (the window
state's retention): a read is exact for ``T >= N - margin_ms`` (``margin_ms`` = retention minus
the largest window). Earlier reads get no values, the view listed as ``too_early``: the past
belongs to ``featurestream offline`` and training sets.

A view with a ``tile`` keeps tiles instead (``fst:<view>:v<N>:<key>``, a hash of partial
aggregates per tile, decision 76; ``evaluate_tiles``): a window folds the tiles from ``T - w``
rounded to the nearest tile boundary, and reads before the key's newest event are too early.

``read_time_spec(view)`` is the JSON both this module and the Go server evaluate, so the
semantics above exist once per runtime and are tested against the same DuckDB reference.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from common.features import expressions
from common.features.columns import feature_kind
from common.features.definitions import (
    DefinitionError,
    Derived,
    FeatureView,
    Last,
    SecondsSincePrev,
)
from common.features.spec import input_columns, window_spec


def events_prefix(view: FeatureView) -> str:
    """``fse:<view>:v<N>:``: the event-log keys of a view."""
    return f"fse:{view.name}:v{view.version}:"


def tiles_prefix(view: FeatureView) -> str:
    """``fst:<view>:v<N>:``: the tile hashes of a tiled view."""
    return f"fst:{view.name}:v{view.version}:"


def tile_ms(view: FeatureView) -> int | None:
    """The view's tile length in millis, None when it keeps an event log."""
    return None if view.tile is None else round(view.tile.total_seconds() * 1000)


def keep_ms(view: FeatureView) -> int:
    """How far behind a key's newest event its log keeps events (the window state's retention),
    or its tiles are kept (the largest window plus a tile: no read at or after the newest event
    folds an older tile)."""
    tile = tile_ms(view)
    if tile is not None:
        largest = max(view.windows, default=timedelta(0))
        return round(largest.total_seconds() * 1000) + tile
    return round(view.state_retention.total_seconds() * 1000)


def log_ttl_ms(view: FeatureView) -> int:
    """Expiry of a key's log after its last write: ``last_event_retention`` when a feature looks
    back that far (``seconds_since_prev``, ``last``), else the retention (every window is empty
    by then, so an expired key reads exactly like one that never had events)."""
    if any(isinstance(f, SecondsSincePrev | Last) for f in view.features):
        return round(view.last_event_retention.total_seconds() * 1000)
    return keep_ms(view)


def tiles_script_args(view: FeatureView) -> tuple[int, int, int, str]:
    """``ARGV[3..6]`` of ``common/online_tiles.lua`` for a tiled view, as the sink passes them
    after the event's time and member: keep, TTL, tile length (millis) and the parts."""
    tiles = read_time_spec(view)["tiles"]
    return keep_ms(view), log_ttl_ms(view), tiles["tile_ms"], ",".join(tiles["parts"])


def read_time_spec(view: FeatureView) -> dict[str, Any]:
    """What a reader needs to evaluate ``view`` at a read time (the serving plan's
    ``read_time``).

    Raises:
        DefinitionError: a derived feature's expression is outside the supported subset.
    """
    spec = window_spec(view)
    inputs = input_columns(view)
    index = {c.column: i for i, c in enumerate(inputs)}
    kinds = {f.name: feature_kind(view, f) for f in view.features}
    aggregates = [
        {
            "name": a["name"],
            "function": a["function"],
            "input": None if a["input"] is None else index[a["input"]],
            "window_ms": a["window_ms"],
            "kind": kinds[a["name"]],
        }
        for a in spec["aggregates"]
    ]
    integers = frozenset(n for n, k in kinds.items() if k == "BIGINT")
    derived = [
        {
            "name": f.name,
            "expr": expressions.parse(
                f.expression, integers, f"view {view.qualified_name}, feature {f.name!r}"
            ),
        }
        for f in view.features
        if isinstance(f, Derived)
    ]
    largest = max((a["window_ms"] or 0 for a in aggregates), default=0)
    tile = tile_ms(view)
    location: dict[str, Any] = (
        {"events_prefix": events_prefix(view), "margin_ms": keep_ms(view) - largest}
        if tile is None
        else {
            "tiles": {
                "prefix": tiles_prefix(view),
                "tile_ms": tile,
                "parts": tile_parts(view, aggregates, [c.kind for c in inputs]),
            },
            "margin_ms": 0,
        }
    )
    return {
        **location,
        "keep_ms": keep_ms(view),
        "last_event_retention_ms": round(view.last_event_retention.total_seconds() * 1000),
        "inputs": [{"column": c.column, "kind": c.kind} for c in inputs],
        "aggregates": aggregates,
        "derived": derived,
        "features": [f.name for f in view.output_features],
    }


# The partial aggregates a tile keeps per input, by function (decision 76).
_PARTS = {
    "count": "n",
    "sum": "ns",
    "avg": "ns",
    "min": "nl",
    "max": "nh",
    "stddev_pop": "nw",
    "distinct_count": "d",
}
_ORDER = "nslhwd"


def tile_parts(
    view: FeatureView, aggregates: Sequence[dict[str, Any]], kinds: Sequence[str]
) -> list[str]:
    """Per input, the letters of the partial aggregates its tiles keep (canonical order).

    Raises:
        DefinitionError: sum, avg, min, max or stddev of a string or boolean (the script
            folds numbers only; strings would need UTF-16 order, which Lua lacks).
    """
    letters: list[set[str]] = [set() for _ in kinds]
    for a in aggregates:
        if a["input"] is None or a["function"] in ("last", "seconds_since_prev"):
            continue
        numeric = kinds[a["input"]] in ("BIGINT", "DOUBLE")
        if a["function"] not in ("count", "distinct_count") and not numeric:
            raise DefinitionError(
                f"view {view.qualified_name}, feature {a['name']!r}: {a['function']} of a "
                f"{kinds[a['input']].lower()} cannot be tiled (tiles fold numbers); drop the "
                "tile (an event log) or the feature"
            )
        letters[a["input"]].update(_PARTS[a["function"]])
    return ["".join(c for c in _ORDER if c in wanted) for wanted in letters]


@dataclass(frozen=True)
class LoggedEvent:
    """One event of a key's log: time (epoch millis), id and input values (spec order)."""

    time_ms: int
    event_id: str
    values: tuple[Any, ...]


def parse_member(member: str, score: float, kinds: Sequence[str]) -> LoggedEvent:
    """A log member (``["<id>", v0, v1, ...]``) as a ``LoggedEvent``.

    Raises:
        ValueError: the member is not such an array of ``len(kinds)`` values.
    """
    decoded = json.loads(member)
    if not isinstance(decoded, list) or len(decoded) != len(kinds) + 1:
        raise ValueError(f"log member {member[:80]!r} is not [id, {len(kinds)} values]")
    values = []
    for value, kind in zip(decoded[1:], kinds, strict=True):
        if kind == "DOUBLE" and value is not None:
            value = float(value)  # "NaN", "Infinity" and integers written as 1.0E10 alike
        values.append(value)
    return LoggedEvent(int(score), str(decoded[0]), tuple(values))


@dataclass
class ReadTimeVector:
    """The features of one key at ``at_ms``: ``found`` False when the log holds no event of
    it, ``too_early`` when ``at_ms`` is before what the log can answer exactly."""

    at_ms: int
    features: dict[str, Any] = field(default_factory=dict)
    last_event_ms: int | None = None
    last_event_id: str | None = None
    found: bool = False
    too_early: bool = False


def evaluate(spec: dict[str, Any], events: Sequence[LoggedEvent], at_ms: int) -> ReadTimeVector:
    """The view's features at ``at_ms`` over a key's logged events (any order)."""
    result = ReadTimeVector(at_ms=at_ms, found=bool(events))
    if events and at_ms < max(e.time_ms for e in events) - spec["margin_ms"]:
        result.too_early = True
        result.features = {name: None for name in spec["features"]}
        return result
    held = [e for e in events if e.time_ms <= at_ms]
    latest = max(held, key=lambda e: (e.time_ms, e.event_id), default=None)
    if latest is not None:
        result.last_event_ms, result.last_event_id = latest.time_ms, latest.event_id
    values: dict[str, Any] = {}
    for aggregate in spec["aggregates"]:
        function = aggregate["function"]
        column = aggregate["input"]
        if function in ("seconds_since_prev", "last"):
            values[aggregate["name"]] = _from_latest(spec, aggregate, latest, at_ms)
            continue
        start = at_ms - aggregate["window_ms"]
        window = [e for e in held if e.time_ms >= start]
        if column is None:
            values[aggregate["name"]] = len(window)
            continue
        present = [e.values[column] for e in window if e.values[column] is not None]
        values[aggregate["name"]] = _fold(function, aggregate["kind"], present)
    _finish(spec, values, result)
    return result


def _from_latest(
    spec: dict[str, Any], aggregate: dict[str, Any], latest: LoggedEvent | None, at_ms: int
) -> Any:
    """``seconds_since_prev`` (null past ``last_event_retention``) or ``last`` at ``at_ms``, from
    the key's latest event at or before it."""
    if latest is None:
        return None
    if aggregate["function"] == "last":
        return latest.values[aggregate["input"]]
    age = at_ms - latest.time_ms
    return age / 1000 if age <= spec["last_event_retention_ms"] else None


def _finish(spec: dict[str, Any], values: dict[str, Any], result: ReadTimeVector) -> None:
    """The derived features over ``values``, then the output features into ``result``."""
    for derived in spec["derived"]:
        values[derived["name"]] = expressions.evaluate(derived["expr"], values)
    result.features = {name: values[name] for name in spec["features"]}


@dataclass
class _Tile:
    """One tile's partial aggregates: the event count and, per input, its parts by letter."""

    count: int
    parts: list[dict[str, Any]]


def _number(value: Any) -> Any:
    if isinstance(value, str):
        return float(value)  # "NaN", "Infinity", "-Infinity": how the script writes them
    return value


def _parse_tile(text: str, letters: Sequence[str], kinds: Sequence[str]) -> _Tile:
    decoded = json.loads(text)
    if not isinstance(decoded, list) or len(decoded) != len(letters) + 1:
        raise ValueError(f"tile {text[:80]!r} is not [count, {len(letters)} inputs]")
    parts: list[dict[str, Any]] = []
    for column, wanted, kind in zip(decoded[1:], letters, kinds, strict=True):
        got: dict[str, Any] = {}
        position = 0
        for letter in wanted:
            if letter == "w":
                got["w"] = (float(_number(column[position])), float(_number(column[position + 1])))
                position += 2
                continue
            value = column[position]
            position += 1
            if letter == "d":
                got["d"] = {_typed(v, kind) for v in value}
            elif letter == "n":
                got["n"] = int(value)
            elif value is not None:
                got[letter] = _typed(_number(value), kind)
        if position != len(column):
            raise ValueError(f"tile {text[:80]!r}: input parts are not {wanted!r}")
        parts.append(got)
    return _Tile(int(decoded[0]), parts)


def _typed(value: Any, kind: str) -> Any:
    """A tile's value as the input's kind: Lua writes every number as a double."""
    if kind == "DOUBLE" and value is not None:
        return float(_number(value))
    if kind == "BIGINT" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def evaluate_tiles(spec: dict[str, Any], fields: dict[str, str], at_ms: int) -> ReadTimeVector:
    """The view's features at ``at_ms`` from a key's tile hash (decision 76); a hash that does
    not parse reads as an empty history (the jobs never write one)."""
    tiles_spec = spec["tiles"]
    kinds = [i["kind"] for i in spec["inputs"]]
    tile = tiles_spec["tile_ms"]
    result = ReadTimeVector(at_ms=at_ms)
    try:
        newest = parse_member(fields["@e"], int(fields["@t"]), kinds) if fields else None
        tiles = sorted(
            (int(name), _parse_tile(text, tiles_spec["parts"], kinds))
            for name, text in fields.items()
            if not name.startswith("@")
        )
    except (KeyError, ValueError, TypeError, IndexError):
        newest, tiles = None, []
    if newest is not None:
        result.found = True
        if at_ms < newest.time_ms:
            result.too_early = True
            result.features = {name: None for name in spec["features"]}
            return result
        result.last_event_ms, result.last_event_id = newest.time_ms, newest.event_id
    values: dict[str, Any] = {}
    for aggregate in spec["aggregates"]:
        function, column = aggregate["function"], aggregate["input"]
        if function in ("seconds_since_prev", "last"):
            values[aggregate["name"]] = _from_latest(spec, aggregate, newest, at_ms)
            continue
        start = (at_ms - aggregate["window_ms"] + tile // 2) // tile * tile
        window = [t for s, t in tiles if start <= s <= at_ms]
        if column is None:
            values[aggregate["name"]] = sum(t.count for t in window)
        else:
            values[aggregate["name"]] = _merge(function, [t.parts[column] for t in window])
    _finish(spec, values, result)
    return result


def _merge(function: str, parts: list[dict[str, Any]]) -> Any:
    """One function over the parts of a window's tiles, in ascending tile order."""
    if function == "distinct_count":
        return len(set().union(*(p["d"] for p in parts)))
    n = sum(p["n"] for p in parts)
    if function == "count":
        return n
    held = [p for p in parts if p["n"]]
    if not held:
        return None
    if function in ("sum", "avg"):
        total = held[0]["s"]
        for p in held[1:]:
            total += p["s"]
        return total if function == "sum" else total / n
    if function == "min":
        return min(p["l"] for p in held)
    if function == "max":
        return max(p["h"] for p in held)
    if function == "stddev_pop":
        count, mean, m2 = 0, 0.0, 0.0
        for p in held:  # Chan et al.: merges Welford partials
            other_mean, other_m2 = p["w"]
            merged = count + p["n"]
            delta = other_mean - mean
            mean += delta * p["n"] / merged
            m2 += other_m2 + delta * delta * count * p["n"] / merged
            count = merged
        return math.sqrt(m2 / count)
    raise ValueError(f"unknown function {function!r}")


def _fold(function: str, kind: str, present: list[Any]) -> Any:
    if function == "count":
        return len(present)
    if function == "distinct_count":
        return len(set(present))
    if not present:
        return None
    if function == "sum":
        return sum(present) if kind == "BIGINT" else math.fsum(present)
    if function == "avg":
        total = sum(present) if all(isinstance(v, int) for v in present) else math.fsum(present)
        return total / len(present)
    if function == "min":
        return min(present)
    if function == "max":
        return max(present)
    if function == "stddev_pop":
        mean = math.fsum(present) / len(present)
        return math.sqrt(math.fsum((v - mean) ** 2 for v in present) / len(present))
    raise ValueError(f"unknown function {function!r}")
