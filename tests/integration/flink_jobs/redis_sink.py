"""Writes given rows to Redis through the ``featurestream-redis`` sink.

One argument, a JSON object: ``columns`` (``[name, SQL type]`` pairs: the sink table),
``options`` (the sink's WITH options besides ``connector``), ``rows`` (lists of values in column
order; TIMESTAMP columns take epoch millis, None is NULL) and ``unbounded`` (also read a source
that never ends and never emits, so the job keeps running and only the sink's flush timer can
write the rows). Without rows the source is only that endless one (planning-time checks).
"""

import json
import sys
from typing import Any

from pyflink.table import EnvironmentSettings, TableEnvironment


def quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def literal(value: Any, sql_type: str) -> str:
    """``value`` as a SQL expression of ``sql_type``."""
    if value is None:
        return f"CAST(NULL AS {sql_type})"
    if sql_type.upper().startswith("TIMESTAMP"):
        # Epoch millis; with table.local-time-zone = UTC a TIMESTAMP(3) gets the UTC wall clock.
        return f"CAST(TO_TIMESTAMP_LTZ({int(value)}, 3) AS {sql_type})"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return f"CAST({quoted(value)} AS {sql_type})"
    return f"CAST({value!r} AS {sql_type})"


def main(spec_json: str) -> None:
    spec = json.loads(spec_json)
    columns: list[list[str]] = spec["columns"]
    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    env.get_config().set("table.local-time-zone", "UTC")

    column_ddl = ", ".join(f"`{name}` {sql_type}" for name, sql_type in columns)
    options = {"connector": "featurestream-redis", **spec["options"]}
    option_ddl = ", ".join(f"{quoted(k)} = {quoted(str(v))}" for k, v in options.items())
    env.execute_sql(f"CREATE TABLE online ({column_ddl}) WITH ({option_ddl})")

    selects = []
    if spec["rows"]:
        values = ", ".join(
            "(" + ", ".join(literal(v, t) for v, (_, t) in zip(row, columns, strict=True)) + ")"
            for row in spec["rows"]
        )
        names = ", ".join(f"`{name}`" for name, _ in columns)
        selects.append(f"SELECT * FROM (VALUES {values}) AS updates ({names})")
    if spec["unbounded"] or not spec["rows"]:
        # gate is always 0, which the planner cannot know: the filter keeps the source alive
        # (unlike WHERE FALSE, which would be optimised into an empty, finished input).
        env.execute_sql("""
            CREATE TABLE endless (gate INT) WITH (
                'connector' = 'datagen', 'rows-per-second' = '1',
                'fields.gate.min' = '0', 'fields.gate.max' = '0'
            )""")
        nulls = ", ".join(f"CAST(NULL AS {sql_type})" for _, sql_type in columns)
        selects.append(f"SELECT {nulls} FROM endless WHERE gate > 0")
    env.execute_sql("INSERT INTO online " + " UNION ALL ".join(selects))


if __name__ == "__main__":
    main(sys.argv[1])
