"""An independent reference for feature values: DuckDB window queries over the same events.

DuckDB has the window frames Flink streaming SQL lacks (``... AND INTERVAL 1 MILLISECOND
PRECEDING``), so ``seconds_since_prev`` is a plain frame here, and every other feature is the
textbook ``RANGE BETWEEN INTERVAL w PRECEDING AND CURRENT ROW``: peers included, arrival order
irrelevant. Tests compare what the Flink jobs produce with this.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import duckdb
import pyarrow as pa

from common.features import (
    Avg,
    Count,
    Derived,
    DistinctCount,
    Feature,
    FeatureView,
    Last,
    Max,
    Min,
    SecondsSincePrev,
    StddevPop,
    Sum,
    WindowedAggregate,
)


def _window_sql(seconds: float) -> str:
    millis = round(seconds * 1000)
    return f"INTERVAL {millis} MILLISECOND PRECEDING AND CURRENT ROW"


def _aggregate_sql(feature: Feature, key: str, lookback_ms: int) -> str:
    part = f"PARTITION BY {key} ORDER BY event_ts"
    if isinstance(feature, WindowedAggregate):
        frame = f"OVER ({part} RANGE BETWEEN {_window_sql(feature.window_length.total_seconds())})"
        expr = feature.expression
        if isinstance(feature, Count):
            return f"COUNT({expr or '*'}) {frame}"
        if isinstance(feature, Sum):
            return f"SUM({expr}) {frame}"
        if isinstance(feature, Avg):
            return f"AVG(CAST({expr} AS DOUBLE)) {frame}"
        if isinstance(feature, Min):
            return f"MIN({expr}) {frame}"
        if isinstance(feature, Max):
            return f"MAX({expr}) {frame}"
        if isinstance(feature, StddevPop):
            return f"STDDEV_POP(CAST({expr} AS DOUBLE)) {frame}"
        if isinstance(feature, DistinctCount):
            return f"COUNT(DISTINCT {expr}) {frame}"
    if isinstance(feature, SecondsSincePrev):
        previous = (
            f"MAX(event_ts) OVER ({part} RANGE BETWEEN INTERVAL {lookback_ms} MILLISECOND "
            "PRECEDING AND INTERVAL 1 MILLISECOND PRECEDING)"
        )
        return f"(epoch_ms(event_ts) - epoch_ms({previous})) / 1000.0"
    if isinstance(feature, Last):
        # Same-time peers: the one with the largest event id, as the jobs define it.
        return (
            f"LAST({feature.expression} ORDER BY event_id) OVER ({part} RANGE BETWEEN "
            "CURRENT ROW AND CURRENT ROW)"
        )
    raise TypeError(f"no reference for {type(feature).__name__}")


def reference_rows(view: FeatureView, events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per event: ``event_id``, the entity key, ``event_time`` (ms) and the features.

    ``events`` are records as the generator writes them (``event_time`` in epoch millis).
    """
    rows = list(events)
    if not rows:
        return []
    source = view.source
    key = view.entity.key
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    # Arrow in, not bound parameters: 100k events with a dozen columns bind in seconds, not
    # minutes.
    raw = pa.Table.from_pylist(rows)
    con.register("raw_arrow", raw)
    con.execute("CREATE TABLE raw AS SELECT * FROM raw_arrow")
    con.execute(
        f"CREATE TABLE events AS SELECT *, {source.id_column} AS event_id, "
        f"make_timestamp({source.event_time} * 1000) AS event_ts FROM raw"
    )
    aggregates = [f for f in view.features if not isinstance(f, Derived)]
    lookback_ms = round(view.last_event_retention.total_seconds() * 1000)
    select = ", ".join(f"{_aggregate_sql(f, key, lookback_ms)} AS {f.name}" for f in aggregates)
    con.execute(
        f"CREATE TABLE aggregated AS SELECT event_id, {key}, {source.event_time} AS event_time, "
        f"{select} FROM events"
    )
    outputs = [
        f"{f.expression} AS {f.name}" if isinstance(f, Derived) else f.name
        for f in view.output_features
    ]
    result = con.execute(
        f"SELECT event_id, {key}, event_time, {', '.join(outputs)} FROM aggregated "
        "ORDER BY event_id"
    )
    names = [d[0] for d in result.description]
    return [dict(zip(names, values, strict=True)) for values in result.fetchall()]


def _read_time_sql(feature: Feature, lookback_ms: int, tile_ms: int | None) -> str:
    """One feature at the read time ``r._at`` over the joined events ``e`` of the key; with
    ``tile_ms``, windows start at ``T - w`` rounded to the nearest tile boundary (decision 76)."""
    held = "e.event_ts <= r._at"
    if isinstance(feature, WindowedAggregate):
        millis = round(feature.window_length.total_seconds() * 1000)
        start = f"r._at - INTERVAL {millis} MILLISECOND"
        if tile_ms is not None:
            rounded = f"CAST(floor((r._at_ms - {millis} + {tile_ms // 2}) / {tile_ms}) AS BIGINT)"
            start = f"make_timestamp({rounded} * {tile_ms} * 1000)"
        where = f"FILTER (WHERE {held} AND e.event_ts >= {start})"
        expr = feature.expression
        if isinstance(feature, Count):
            return f"COUNT({expr or 'e.event_id'}) {where}"
        if isinstance(feature, Sum):
            return f"SUM({expr}) {where}"
        if isinstance(feature, Avg):
            return f"AVG(CAST({expr} AS DOUBLE)) {where}"
        if isinstance(feature, Min):
            return f"MIN({expr}) {where}"
        if isinstance(feature, Max):
            return f"MAX({expr}) {where}"
        if isinstance(feature, StddevPop):
            return f"STDDEV_POP(CAST({expr} AS DOUBLE)) {where}"
        if isinstance(feature, DistinctCount):
            return f"COUNT(DISTINCT {expr}) {where}"
    if isinstance(feature, SecondsSincePrev):
        latest = f"MAX(e.event_ts) FILTER (WHERE {held})"
        return (
            f"CASE WHEN epoch_ms(r._at) - epoch_ms({latest}) <= {lookback_ms} "
            f"THEN (epoch_ms(r._at) - epoch_ms({latest})) / 1000.0 END"
        )
    if isinstance(feature, Last):
        return f"arg_max({feature.expression}, (e.event_ts, e.event_id)) FILTER (WHERE {held})"
    raise TypeError(f"no reference for {type(feature).__name__}")


def reference_at(
    view: FeatureView, events: Iterable[Mapping[str, Any]], reads: Iterable[tuple[str, int]]
) -> list[dict[str, Any]]:
    """The view's features for each ``(entity key, read time ms)``, for a virtual event at that
    time: ``T - w <= t' <= T`` for windows, ``T`` minus the latest ``t' <= T`` for
    ``seconds_since_prev`` (the read-time rule of ``common.features.read_time``; a tiled view's
    windows start at ``T - w`` rounded to a tile), written independently as DuckDB aggregates
    with ``FILTER``. Rows in ``reads`` order, each with
    ``key``, ``at`` and the output features."""
    wanted = [{"_n": n, "_key": key, "_at_ms": at} for n, (key, at) in enumerate(reads)]
    if not wanted:
        return []
    rows = list(events)
    source = view.source
    key = view.entity.key
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("reads_arrow", pa.Table.from_pylist(wanted))
    con.execute("CREATE TABLE r AS SELECT *, make_timestamp(_at_ms * 1000) AS _at FROM reads_arrow")
    if rows:
        con.register("raw_arrow", pa.Table.from_pylist(rows))
        con.execute(
            f"CREATE TABLE e AS SELECT *, {source.id_column} AS event_id, "
            f"make_timestamp({source.event_time} * 1000) AS event_ts FROM raw_arrow"
        )
    else:
        raise ValueError("reference_at needs the source's events (their columns define e)")
    aggregates = [f for f in view.features if not isinstance(f, Derived)]
    lookback_ms = round(view.last_event_retention.total_seconds() * 1000)
    tile_ms = None if view.tile is None else round(view.tile.total_seconds() * 1000)
    select = ", ".join(f"{_read_time_sql(f, lookback_ms, tile_ms)} AS {f.name}" for f in aggregates)
    con.execute(
        f"CREATE TABLE aggregated AS SELECT r._n, r._key, r._at_ms, {select} "
        f"FROM r LEFT JOIN e ON e.{key} = r._key GROUP BY r._n, r._key, r._at_ms, r._at"
    )
    outputs = [
        f"{f.expression} AS {f.name}" if isinstance(f, Derived) else f.name
        for f in view.output_features
    ]
    result = con.execute(
        f"SELECT _key AS key, _at_ms AS at, {', '.join(outputs)} FROM aggregated ORDER BY _n"
    )
    names = [d[0] for d in result.description]
    return [dict(zip(names, values, strict=True)) for values in result.fetchall()]
