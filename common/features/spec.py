"""The window spec: what the one-pass JVM function computes for a view (decision 11).

The Python side owns the definitions; the JVM function (``fs_window_features``, common/jvm) reads
this JSON spec as a literal argument and derives its output type from it. Expressions never
reach the JVM: each distinct aggregate input is computed in SQL before the function as a column
``in_<n>``, so the function only ever sees plain typed columns.

Example: the spec of a view with ``Sum("s_1h", "amount", window="1h")`` holds the input
``{"column": "in_0", "expression": "amount"}`` and the aggregate
``{"name": "s_1h", "function": "sum", "input": "in_0", "window_ms": 3600000}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from common.features.columns import Kind, typed_input
from common.features.definitions import (
    Derived,
    Feature,
    FeatureView,
    Last,
    SecondsSincePrev,
    WindowedAggregate,
)

SPEC_VERSION = 1


@dataclass(frozen=True)
class InputColumn:
    """An aggregate input computed in SQL before the window function."""

    column: str
    expression: str
    kind: Kind


def _input_expression(view: FeatureView, feature: Feature) -> str | None:
    if not isinstance(feature, WindowedAggregate | Last) or not feature.expression:
        return None
    return typed_input(view, feature).expression


def input_columns(view: FeatureView) -> list[InputColumn]:
    """One column per distinct (typed) input expression, in first-use order."""
    columns: dict[str, InputColumn] = {}
    for feature in view.features:
        if not isinstance(feature, WindowedAggregate | Last) or not feature.expression:
            continue
        typed = typed_input(view, feature)
        if typed.expression not in columns:
            columns[typed.expression] = InputColumn(
                f"in_{len(columns)}", typed.expression, typed.kind
            )
    return list(columns.values())


def window_spec(
    view: FeatureView, carry: tuple[str, ...] = (), emit_inputs: bool = False
) -> dict[str, Any]:
    """The JSON-able spec of everything the window function computes for ``view``.

    ``carry`` names input columns copied to each output row unchanged (lineage and event columns
    for inference requests); feature jobs carry none. ``emit_inputs``: each feature row also
    holds the event's own ``in_<n>`` values, which the online store logs for read-time features
    (output only, not state: a savepoint restores with or without it).
    """
    columns = {c.expression: c.column for c in input_columns(view)}
    aggregates: list[dict[str, Any]] = []
    for feature in view.features:
        if isinstance(feature, WindowedAggregate):
            aggregates.append(
                {
                    "name": feature.name,
                    "function": feature.function,
                    "input": columns[_input_expression(view, feature) or ""]
                    if feature.expression
                    else None,
                    "window_ms": int(feature.window_length.total_seconds() * 1000),
                }
            )
        elif isinstance(feature, Last):
            aggregates.append(
                {
                    "name": feature.name,
                    "function": "last",
                    "input": columns[_input_expression(view, feature) or ""],
                    "window_ms": None,
                }
            )
        elif isinstance(feature, SecondsSincePrev):
            aggregates.append(
                {
                    "name": feature.name,
                    "function": "seconds_since_prev",
                    "input": None,
                    "window_ms": None,
                }
            )
        elif not isinstance(feature, Derived):
            raise TypeError(f"view {view.name!r}: no window function for {type(feature).__name__}")
    spec: dict[str, Any] = {
        "spec_version": SPEC_VERSION,
        "view": view.name,
        "version": view.version,
        "key": view.entity.key,
        "event_id": view.source.id_column,
        "inputs": [c.__dict__ for c in input_columns(view)],
        "aggregates": aggregates,
        "retention_ms": int(view.state_retention.total_seconds() * 1000),
        "last_event_retention_ms": int(view.last_event_retention.total_seconds() * 1000),
    }
    if carry:
        spec["carry"] = list(carry)
    if emit_inputs:
        spec["emit_inputs"] = True
    return spec


def window_spec_json(
    view: FeatureView, carry: tuple[str, ...] = (), emit_inputs: bool = False
) -> str:
    """``window_spec`` as compact, key-sorted JSON (stable text for golden files and uids)."""
    return json.dumps(window_spec(view, carry, emit_inputs), sort_keys=True, separators=(",", ":"))
