"""Column types: Avro source fields as Flink SQL columns, and the type of every feature.

Feature values have one of four kinds, fixed by the definition (never guessed at run time):
``BIGINT`` (counts, sums and extremes of integer columns), ``DOUBLE`` (averages, deviations,
seconds, anything computed from an expression, derived features), ``STRING`` and ``BOOLEAN``
(``Last``/``Min``/``Max`` of such a column). Aggregate inputs that are not a plain integer,
floating, string or boolean column are cast in SQL before the window function: to ``DOUBLE`` for
numeric aggregates, to ``STRING`` for distinct counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from common.features.definitions import (
    Avg,
    Count,
    DefinitionError,
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
from common.schemas import parsed_schema

Kind = Literal["BIGINT", "DOUBLE", "STRING", "BOOLEAN"]
_BARE = re.compile(r"^`?([A-Za-z_][A-Za-z0-9_]*)`?$")
_PRIMITIVES = {
    "string": "STRING",
    "long": "BIGINT",
    "int": "INT",
    "double": "DOUBLE",
    "float": "FLOAT",
    "boolean": "BOOLEAN",
    "bytes": "BYTES",
}
_KIND_OF_SQL: dict[str, Kind] = {
    "BIGINT": "BIGINT",
    "INT": "BIGINT",
    "DOUBLE": "DOUBLE",
    "FLOAT": "DOUBLE",
    "STRING": "STRING",
    "BOOLEAN": "BOOLEAN",
}


@dataclass(frozen=True)
class Column:
    """A source column: name, Flink SQL type, nullability."""

    name: str
    sql_type: str
    nullable: bool

    @property
    def ddl(self) -> str:
        """`` `name` TYPE [NOT NULL]`` for a CREATE TABLE."""
        return f"`{self.name}` {self.sql_type}{'' if self.nullable else ' NOT NULL'}"


def _sql_type(field_type: Any, where: str) -> tuple[str, bool]:
    """(Flink SQL type, nullable) of one Avro field type."""
    if isinstance(field_type, list):
        branches = [b for b in field_type if b != "null"]
        if len(branches) != 1 or len(field_type) != 2:
            raise DefinitionError(f"{where}: only [null, T] unions are supported")
        sql, _ = _sql_type(branches[0], where)
        return sql, True
    if isinstance(field_type, str):
        if field_type in _PRIMITIVES:
            return _PRIMITIVES[field_type], False
        raise DefinitionError(f"{where}: unsupported Avro type {field_type!r}")
    if isinstance(field_type, dict):
        logical = field_type.get("logicalType")
        if logical == "decimal":
            return f"DECIMAL({field_type['precision']}, {field_type.get('scale', 0)})", False
        if logical == "timestamp-millis":
            return "TIMESTAMP(3)", False
        if field_type.get("type") == "enum":
            return "STRING", False
        if field_type.get("type") == "record":
            # Nested records (inference requests' features, keys, lineage) as ROW columns.
            fields = []
            for field in field_type["fields"]:
                sql, nullable = _sql_type(field["type"], f"{where}.{field['name']}")
                fields.append(f"`{field['name']}` {sql}{'' if nullable else ' NOT NULL'}")
            return f"ROW<{', '.join(fields)}>", False
        if field_type.get("type") == "array":
            sql, nullable = _sql_type(field_type["items"], f"{where}[]")
            return f"ARRAY<{sql}{'' if nullable else ' NOT NULL'}>", False
        if field_type.get("type") in _PRIMITIVES:
            return _sql_type(field_type["type"], where)
    raise DefinitionError(f"{where}: unsupported Avro type {field_type!r}")


def source_columns(schema: str) -> list[Column]:
    """The fields of ``schemas/<schema>.avsc`` as Flink SQL columns, in schema order."""
    columns = []
    for field in parsed_schema(schema)["fields"]:
        sql, nullable = _sql_type(field["type"], f"schema {schema}, field {field['name']}")
        columns.append(Column(field["name"], sql, nullable))
    return columns


@dataclass(frozen=True)
class TypedInput:
    """The SQL expression an aggregate actually reads, and the kind of its values."""

    expression: str
    kind: Kind


def typed_input(view: FeatureView, feature: WindowedAggregate | Last) -> TypedInput:
    """The expression the window function gets for ``feature`` (cast where needed)."""
    assert feature.expression, "count without an expression has no input"
    expression = feature.expression.strip()
    bare = _BARE.match(expression)
    columns = {c.name: c for c in source_columns(view.source.schema)}
    distinct = isinstance(feature, DistinctCount)
    if bare and bare.group(1) in columns:
        column = columns[bare.group(1)]
        kind = _KIND_OF_SQL.get(column.sql_type)
        if kind is None:  # DECIMAL, TIMESTAMP, BYTES: cast like an expression
            expression = f"`{column.name}`"
        elif (
            distinct
            or isinstance(feature, Last | Count)
            or kind in ("BIGINT", "DOUBLE")
            or (kind == "STRING" and isinstance(feature, Min | Max))
        ):
            return TypedInput(f"`{column.name}`", kind)
        else:
            raise DefinitionError(
                f"view {view.name!r}, feature {feature.name!r}: {type(feature).__name__} cannot "
                f"take {column.name!r} ({column.sql_type})"
            )
    elif bare:
        raise DefinitionError(
            f"view {view.name!r}, feature {feature.name!r}: {expression!r} is not a column of "
            f"schema {view.source.schema!r}"
        )
    if distinct:
        return TypedInput(f"CAST({expression} AS STRING)", "STRING")
    return TypedInput(f"CAST({expression} AS DOUBLE)", "DOUBLE")


def feature_kind(view: FeatureView, feature: Feature) -> Kind:
    """The value kind of a feature in the view's output."""
    if isinstance(feature, Count | DistinctCount):
        return "BIGINT"
    if isinstance(feature, Avg | StddevPop | SecondsSincePrev | Derived):
        return "DOUBLE"
    if isinstance(feature, Sum):
        return "BIGINT" if typed_input(view, feature).kind == "BIGINT" else "DOUBLE"
    if isinstance(feature, Min | Max | Last):
        return typed_input(view, feature).kind
    raise DefinitionError(f"view {view.name!r}: no type for {type(feature).__name__}")
