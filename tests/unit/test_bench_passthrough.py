"""The benchmark's I/O-ceiling job keeps the baseline's source and sinks and drops the windows."""

import pytest

from bench.baseline_sql import PASSTHROUGH, BaselineSettings, passthrough
from common.features.sql import output_columns

SETTINGS = BaselineSettings(
    bootstrap_servers="127.0.0.1:9092", registry_url="http://127.0.0.1:8081", source_topic="t"
)


@pytest.mark.parametrize("job", sorted(PASSTHROUGH))
def test_passthrough_writes_every_sink_column_from_the_checked_source(job: str) -> None:
    source, event_id, views = PASSTHROUGH[job]
    built = passthrough(job, SETTINGS)
    assert len(built.inserts) == len(views)
    for view, insert in zip(views, built.inserts, strict=True):
        head, select, origin = insert.split("\n")
        assert head == f"INSERT INTO `sink_{view.name}`"
        assert origin == f"FROM `{source}`"
        assert "OVER" not in insert
        values = select.removeprefix("SELECT ").split(", ")
        assert len(values) == len(output_columns(view))
        assert values[:3] == [f"`{event_id}`", f"`{view.entity.key}`", "`event_time`"]
        assert values[-2:] == [f"'{view.name}'", str(view.version)]
        assert all(v.startswith("CAST(0 AS ") for v in values[3:-2])
