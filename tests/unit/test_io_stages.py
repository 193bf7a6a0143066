"""The I/O stages' keyed stage is the deployed job's SQL with the window arithmetic cut out."""

import json

import pytest

from bench.io_stages import compile_stage
from common.features.sql import JobSettings, compile_job
from common.runtime import catalog

SETTINGS = JobSettings(
    bootstrap_servers="127.0.0.1:9092", registry_url="http://127.0.0.1:8081", source_topic="t"
)


@pytest.mark.parametrize("name", ["payment_features", "trade_features"])
def test_keyed_stage_keeps_the_job_shape_with_one_feature_per_view(name: str) -> None:
    job = catalog.load_job(name)
    keyed = compile_stage(job, "keyed", SETTINGS)
    full = compile_job(job, SETTINGS)
    assert keyed.window_functions.keys() == full.window_functions.keys()
    for function, spec in keyed.window_functions.items():
        aggregates = json.loads(spec)["aggregates"]
        assert [a["function"] for a in aggregates] == ["seconds_since_prev"]
        assert len(json.loads(full.window_functions[function])["aggregates"]) > 1
    assert keyed.feature_topics == full.feature_topics
    assert len(keyed.inserts) == len(full.inserts)
    assert all(
        "'sink.delivery-guarantee' = 'exactly-once'" in s
        for s in keyed.statements
        if "'sink.delivery-guarantee'" in s
    )
