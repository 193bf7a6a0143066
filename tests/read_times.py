"""Read times that exercise read-time features (``common.features.read_time``) on a key's log:
at its newest event and just before, exactly one window after an event (the event still inside)
and 1 ms later (outside), where a tiled view's window leaves the event's tile, hours and days
after, and an unknown key; only times the log can
answer exactly (``T >= newest - margin``)."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from common.features import FeatureView
from common.features.read_time import LoggedEvent, read_time_spec
from common.features.spec import input_columns
from tests.integration.history import D, H


def read_times(
    view: FeatureView, logs: Mapping[str, Sequence[LoggedEvent]], seed: int
) -> list[tuple[str, int]]:
    """``(key, read time)`` pairs for the keys of ``logs``: edge cards, the ten busiest keys and
    a sample of the rest, and one unknown key."""
    spec = read_time_spec(view)
    windows = sorted({a["window_ms"] for a in spec["aggregates"] if a["window_ms"]})
    tile = spec["tiles"]["tile_ms"] if "tiles" in spec else 0
    rng = random.Random(seed)
    keys = sorted(logs)
    busiest = sorted(keys, key=lambda k: len(logs[k]), reverse=True)[:10]
    chosen = [k for k in keys if "edge" in k] + busiest + rng.sample(keys, min(120, len(keys)))
    reads: list[tuple[str, int]] = []
    for key in chosen:
        times = sorted({e.time_ms for e in logs[key]})
        newest = times[-1]
        earliest = newest - spec["margin_ms"]
        candidates = {newest, newest - 1, earliest, newest + 1, newest + 3 * H, newest + 2 * D}
        candidates |= {newest + 41 * D}
        for t in times[-5:]:
            for w in windows:
                candidates |= {t + w, t + w + 1, t + w - 1}
                if tile:  # where t's tile leaves the window: T - w + tile/2 reaches its end
                    edge = t // tile * tile + tile + w - tile // 2
                    candidates |= {edge - 1, edge, edge + 1}
        reads += [(key, t) for t in sorted(candidates) if t >= earliest]
    reads += [("never_seen_key", max(e.time_ms for log in logs.values() for e in log))]
    return reads


def input_values(view: FeatureView, record: dict[str, Any]) -> tuple[Any, ...]:
    """The job's ``in_<n>`` values of one event, computed here without Flink for the few
    expression shapes these views use (bare columns and the trade views' casts)."""
    values = []
    for column in input_columns(view):
        expression = column.expression
        if expression.startswith("`"):
            value = record[expression.strip("`")]
        elif expression.startswith("CAST(CAST(price AS DOUBLE) * CAST(quantity AS DOUBLE)"):
            value = float(record["price"]) * float(record["quantity"])
        elif expression.startswith("CAST(CASE WHEN side"):
            value = float(record["quantity"]) if record["side"] == "BUY" else 0.0
        elif expression.startswith("CAST(CAST(quantity"):
            value = float(record["quantity"])
        elif expression.startswith("CAST(CAST(price"):
            value = float(record["price"])
        elif expression.startswith("CAST(") and expression.endswith("AS STRING)"):
            value = str(record[expression[5:].split(" ")[0].strip("`")])
        else:
            raise AssertionError(f"no stand-in for {expression!r}")
        if column.kind == "DOUBLE" and value is not None:
            value = float(value)
        values.append(value)
    return tuple(values)
