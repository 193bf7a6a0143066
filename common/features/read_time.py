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

``read_time_spec(view)`` is the JSON both this module and the Go server evaluate, so the
semantics above exist once per runtime and are tested against the same DuckDB reference.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from common.features import expressions
from common.features.columns import feature_kind
from common.features.definitions import (
    Derived,
    FeatureView,
    Last,
    SecondsSincePrev,
)
from common.features.spec import input_columns, window_spec


def events_prefix(view: FeatureView) -> str:
    """``fse:<view>:v<N>:``: the event-log keys of a view."""
    return f"fse:{view.name}:v{view.version}:"


def keep_ms(view: FeatureView) -> int:
    """How far behind a key's newest event its log keeps events: the window state's retention."""
    return round(view.state_retention.total_seconds() * 1000)


def log_ttl_ms(view: FeatureView) -> int:
    """Expiry of a key's log after its last write: ``last_event_retention`` when a feature looks
    back that far (``seconds_since_prev``, ``last``), else the retention (every window is empty
    by then, so an expired key reads exactly like one that never had events)."""
    if any(isinstance(f, SecondsSincePrev | Last) for f in view.features):
        return round(view.last_event_retention.total_seconds() * 1000)
    return keep_ms(view)


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
    return {
        "events_prefix": events_prefix(view),
        "keep_ms": keep_ms(view),
        "margin_ms": keep_ms(view) - largest,
        "last_event_retention_ms": round(view.last_event_retention.total_seconds() * 1000),
        "inputs": [{"column": c.column, "kind": c.kind} for c in inputs],
        "aggregates": aggregates,
        "derived": derived,
        "features": [f.name for f in view.output_features],
    }


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
        if function == "seconds_since_prev":
            age = None if latest is None else at_ms - latest.time_ms
            fresh = age is not None and age <= spec["last_event_retention_ms"]
            values[aggregate["name"]] = age / 1000 if fresh and age is not None else None
            continue
        if function == "last":
            values[aggregate["name"]] = None if latest is None else latest.values[column]
            continue
        start = at_ms - aggregate["window_ms"]
        window = [e for e in held if e.time_ms >= start]
        if column is None:
            values[aggregate["name"]] = len(window)
            continue
        present = [e.values[column] for e in window if e.values[column] is not None]
        values[aggregate["name"]] = _fold(function, aggregate["kind"], present)
    for derived in spec["derived"]:
        values[derived["name"]] = expressions.evaluate(derived["expr"], values)
    result.features = {name: values[name] for name in spec["features"]}
    return result


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
