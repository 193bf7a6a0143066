"""Reading feature-job outputs and comparing them: with the reference, and with each other.

Integers must be equal; floats equal within 1e-9 relative (or 1e-9 absolute near zero, where a
population deviation of equal values comes out as a rounding-sized number on one side and 0 on
the other).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from common import registry, serde
from common.config import StackConfig
from common.features import FeatureView
from common.generate.sinks import KafkaSink, ensure_topic
from common.kafka import read_topic
from tests.feature_reference import reference_rows

TOLERANCE = 1e-9


def read_values(config: StackConfig, topic: str) -> list[dict[str, Any]]:
    """Every value of ``topic`` (``read_committed``), decoded."""
    writers = registry.writer_schemas(registry.client(config))
    return [
        serde.decode(record.value, writers)
        for record in read_topic(config, topic)
        if record.value is not None
    ]


def subject_versions(config: StackConfig, topic: str) -> list[int]:
    """Registered versions of ``topic``'s value schema."""
    versions: list[int] = registry.client(config).get_versions(f"{topic}-value")
    return versions


def decoded_events(config: StackConfig, topic: str) -> list[dict[str, Any]]:
    """The decodable events of a source topic, ``event_time`` as epoch millis."""
    writers = registry.writer_schemas(registry.client(config))
    events = []
    for record in read_topic(config, topic):
        try:
            event = serde.decode(record.value or b"", writers)
        except serde.DecodeError:
            continue
        event["event_time"] = _millis(event["event_time"])
        events.append(event)
    return events


def produce_events(
    config: StackConfig, topic: str, schema: str, records: list[dict[str, Any]]
) -> None:
    """Write records to ``topic`` in the Confluent wire format, keyed by their first field."""
    ensure_topic(config, topic)
    reg = registry.ensure_registered(registry.client(config), topic, schema)
    encoder = serde.Encoder(reg.schema_id, serde.load_schema(schema))
    sink = KafkaSink(config, topic)
    for record in records:
        sink.send(str(next(iter(record.values()))).encode(), encoder.encode(record))
    assert sink.close() == 0


def _millis(value: Any) -> int:
    return int(value.timestamp() * 1000) if isinstance(value, datetime) else int(value)


def values_equal(a: Any, b: Any) -> bool:
    """Equal as the feature contract defines it."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=TOLERANCE, abs_tol=TOLERANCE)
    return bool(a == b)


def _mismatches(
    view: FeatureView, got: Mapping[str, Mapping[str, Any]], want: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    problems = []
    for event_id in sorted(set(got) | set(want)):
        if event_id not in got or event_id not in want:
            problems.append(f"{event_id}: only in {'output' if event_id in got else 'expected'}")
            continue
        g, w = got[event_id], want[event_id]
        if _millis(g["event_time"]) != _millis(w["event_time"]):
            problems.append(f"{event_id}: event_time {g['event_time']} != {w['event_time']}")
        if g[view.entity.key] != w[view.entity.key]:
            problems.append(f"{event_id}: key {g[view.entity.key]} != {w[view.entity.key]}")
        for feature in view.output_features:
            if not values_equal(g[feature.name], w[feature.name]):
                problems.append(
                    f"{event_id}: {feature.name} {g[feature.name]!r} != {w[feature.name]!r}"
                )
    return problems


def by_id(rows: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Rows by event id; a duplicate id fails the test (exactly-once)."""
    result: dict[str, Mapping[str, Any]] = {}
    for row in rows:
        assert row["event_id"] not in result, f"duplicate row for event {row['event_id']}"
        result[row["event_id"]] = row
    return result


def assert_match_reference(
    view: FeatureView,
    rows: list[dict[str, Any]],
    events: list[dict[str, Any]],
    only: set[str] | None = None,
) -> None:
    """One row per event (of ``only``, if given), each equal to the DuckDB reference."""
    for row in rows:
        assert row["feature_view"] == view.name and row["feature_view_version"] == view.version
    got, want = by_id(rows), by_id(reference_rows(view, events))
    if only is not None:
        got = {k: v for k, v in got.items() if k in only}
        want = {k: v for k, v in want.items() if k in only}
    problems = _mismatches(view, got, want)
    assert not problems, f"{view.qualified_name}: {len(problems)} mismatches, e.g. {problems[:5]}"


def assert_same_rows(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> None:
    """Two outputs of one view hold the same rows (columns and values)."""
    left, right = by_id(a), by_id(b)
    assert set(left) == set(right), f"{len(set(left) ^ set(right))} event ids differ"
    for event_id, row in left.items():
        other = right[event_id]
        assert set(row) == set(other)
        for column, value in row.items():
            if column == "event_time":
                assert _millis(value) == _millis(other[column])
            else:
                assert values_equal(value, other[column]), (event_id, column, value, other[column])
