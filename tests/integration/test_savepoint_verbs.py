"""The local savepoint verbs on the real cluster: savepoint, list, restore from it.

payment_features runs on a topic of its own; the test takes a savepoint (module), lists it (CLI),
restores from it (stop-with-savepoint, then a new job from the chosen savepoint) and checks that
Flink reports the new job RUNNING from exactly that path.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from common.cli import main
from common.config import StackConfig
from common.deploy import local
from common.generate.runner import generate_events
from common.local import flink_client
from common.runtime.catalog import load_job
from common.runtime.launch import RunOptions, submit
from tests.integration.feature_checks import produce_events

pytestmark = pytest.mark.integration


def test_savepoint_list_and_restore(stack_config: StackConfig, unique_topic) -> None:
    config = stack_config
    job = load_job("payment_features")
    source = unique_topic("payments")
    suffix = "." + unique_topic("sp")
    events = [
        e.record
        for e in generate_events(
            "payments", 300, seed=41, start=datetime(2026, 5, 1, tzinfo=UTC), rate=50.0
        )
    ]
    produce_events(config, source, "payment_event", events)
    options = RunOptions(
        parallelism=1,
        source_topic=source,
        topic_suffix=suffix,
        startup="earliest",
        group_id=f"test{suffix}",
        online_store=False,
    )
    first = submit(config, job, options)
    new_id = None
    try:
        local.wait_running(config, first)
        path, taken_from = local.take_savepoint(config, job, job_id=first)
        assert taken_from == first
        assert local.check_restorable(path).parent == local.savepoint_dir(config, job)

        listing = CliRunner().invoke(main, ["savepoints", "payment_features"])
        assert listing.exit_code == 0, listing.output
        listed = [line for line in listing.output.splitlines() if " savepoint " in line]
        assert any(local.local_path(path).as_uri() in line for line in listed), listing.output
        assert "payment_card.v1,payment_merchant.v1" in listing.output

        result = local.restore(config, job, path, job_id=first)
        new_id = result.job_id
        assert result.stopped_job_id == first
        assert flink_client.job_details(config, first)["state"] == "FINISHED"
        assert result.stop_savepoint is not None
        local.check_restorable(result.stop_savepoint)  # the stopped job's savepoint exists
        assert flink_client.job_details(config, new_id)["state"] == "RUNNING"
        restored = local.restored_from(config, new_id)
        assert restored is not None
        assert local.local_path(restored) == local.local_path(path)
        # Restarted the way it was started: same source topic and group.
        assert local.runs.load(config, new_id).run_options().source_topic == source  # type: ignore[union-attr]
    finally:
        for job_id in (first, new_id):
            if job_id and flink_client.job_details(config, job_id)["state"] == "RUNNING":
                flink_client.cancel(config, job_id)
