"""The local savepoint verbs without a cluster: finding the job, errors, listings, run records.

The REST calls are answered by a fake; the real round trip is
``tests/integration/test_savepoint_verbs.py``.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from common.config import StackConfig, load_stack_config
from common.deploy import local
from common.local import parts
from common.runtime import runs
from common.runtime.catalog import load_job
from common.runtime.launch import RunOptions

JOB = load_job("payment_features")


@pytest.fixture
def config(tmp_path: Path) -> StackConfig:
    return load_stack_config(data_dir=tmp_path / "stack")


def _fake_rest(monkeypatch: pytest.MonkeyPatch, answers: dict[tuple[str, str], Any]) -> list[Any]:
    calls: list[Any] = []

    def rest(config: StackConfig, method: str, path: str, body: Any = None) -> Any:
        calls.append((method, path, body))
        return answers[method, path]

    monkeypatch.setattr(local, "_rest", rest)
    return calls


def _overview(*jobs: tuple[str, str, str, int]) -> dict[str, Any]:
    return {
        "jobs": [
            {"jid": jid, "name": name, "state": state, "start-time": start}
            for jid, name, state, start in jobs
        ]
    }


def test_the_running_job_is_found_by_its_pipeline_name(
    config: StackConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_rest(
        monkeypatch,
        {
            ("GET", "/jobs/overview"): _overview(
                ("a1", "featurestream-payment-features", "FINISHED", 1),
                ("b2", "featurestream-payment-features", "RUNNING", 2),
                ("c3", "featurestream-trade-features", "RUNNING", 3),
            )
        },
    )
    assert local.find_running(config, JOB).job_id == "b2"


@pytest.mark.parametrize(
    ("jobs", "job_id", "complaint"),
    [
        ((), None, "no RUNNING job named featurestream-payment-features"),
        (
            (
                ("a1", "featurestream-payment-features", "RUNNING", 1),
                ("b2", "featurestream-payment-features", "RUNNING", 2),
            ),
            None,
            "2 RUNNING jobs named featurestream-payment-features (b2, a1): pass --job-id",
        ),
        ((("a1", "featurestream-payment-features", "RUNNING", 1),), "zz", "no RUNNING job zz"),
    ],
)
def test_clear_errors_when_the_job_is_not_there_or_ambiguous(
    config: StackConfig,
    monkeypatch: pytest.MonkeyPatch,
    jobs: tuple[tuple[str, str, str, int], ...],
    job_id: str | None,
    complaint: str,
) -> None:
    _fake_rest(monkeypatch, {("GET", "/jobs/overview"): _overview(*jobs)})
    with pytest.raises(local.LocalError, match=complaint.replace("(", r"\(").replace(")", r"\)")):
        local.find_running(config, JOB, job_id)


def _state_dir(path: Path, age_s: float = 0) -> Path:
    path.mkdir(parents=True)
    (path / "_metadata").write_bytes(b"flink")
    stamp = 1_800_000_000 - age_s
    os.utime(path / "_metadata", (stamp, stamp))
    return path


def test_a_failed_savepoint_reports_flinks_cause(
    config: StackConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    trace = (
        "java.util.concurrent.CompletionException: boom\nCaused by: java.io.IOException: disk full"
    )
    _fake_rest(
        monkeypatch,
        {
            ("GET", "/jobs/overview"): _overview(("b2", JOB.dashed, "RUNNING", 2)),
            ("POST", "/jobs/b2/savepoints"): {"request-id": "t1"},
            ("GET", "/jobs/b2/savepoints/t1"): {
                "status": {"id": "COMPLETED"},
                "operation": {"failure-cause": {"class": "x", "stack-trace": trace}},
            },
        },
    )
    with pytest.raises(local.LocalError, match=r"(?s)savepoint of job b2 failed.*disk full"):
        local.take_savepoint(config, JOB)


def test_a_savepoint_lands_in_the_jobs_dir_with_its_metadata(
    config: StackConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = _state_dir(local.savepoint_dir(config, JOB) / "savepoint-b2c3d4-0123456789ab")
    calls = _fake_rest(
        monkeypatch,
        {
            ("GET", "/jobs/overview"): _overview(("b2", JOB.dashed, "RUNNING", 2)),
            ("POST", "/jobs/b2/savepoints"): {"request-id": "t1"},
            ("GET", "/jobs/b2/savepoints/t1"): {
                "status": {"id": "COMPLETED"},
                "operation": {"location": f"file:{target}"},
            },
        },
    )
    runs.record(config, JOB, "b2", RunOptions(source_topic="payments-x", group_id="g"))
    path, job_id = local.take_savepoint(config, JOB)
    assert (path, job_id) == (f"file:{target}", "b2")
    body = calls[1][2]
    assert body["target-directory"] == local.savepoint_dir(config, JOB).as_uri()
    assert body["cancel-job"] is False
    metadata = json.loads((target / local.METADATA_FILE).read_text())
    assert metadata["job"] == "payment_features" and metadata["flink_job_id"] == "b2"
    assert metadata["code"]["views"] == ["payment_card.v1", "payment_merchant.v1"]
    assert metadata["run_options"]["source_topic"] == "payments-x"


def test_missing_paths_are_refused_before_anything_stops(
    config: StackConfig, tmp_path: Path
) -> None:
    with pytest.raises(local.LocalError, match="does not exist"):
        local.restore(config, JOB, (tmp_path / "nope").as_uri())
    (tmp_path / "empty").mkdir()
    with pytest.raises(local.LocalError, match="holds no _metadata"):
        local.restore(config, JOB, str(tmp_path / "empty"))
    with pytest.raises(local.LocalError, match="only restores from file: paths"):
        local.restore(config, JOB, "s3://bucket/savepoint-1")


def test_listing_shows_savepoints_and_retained_checkpoints_with_versions(
    config: StackConfig,
) -> None:
    mine = _state_dir(local.savepoint_dir(config, JOB) / "savepoint-aaaaaa-1", age_s=30)
    local.write_metadata(mine.as_uri(), JOB, "j1", "savepoint", None)
    other_dir = parts.flink_dirs(config)["savepoints"]
    _state_dir(other_dir / "featurestream-trade-features" / "savepoint-bbbbbb-1")
    _state_dir(other_dir / "savepoint-cccccc-1")  # no metadata: not attributable to the job
    runs.record(config, JOB, "j1", RunOptions())
    checkpoint = _state_dir(parts.flink_dirs(config)["checkpoints"] / "j1" / "chk-7", age_s=60)
    (parts.flink_dirs(config)["checkpoints"] / "j1" / "chk-8").mkdir()  # in progress: no _metadata
    states = local.list_states(config, JOB)
    assert [(s.kind, s.path) for s in states] == [
        ("checkpoint", checkpoint.as_uri()),
        ("savepoint", mine.as_uri()),
    ]
    assert all("payment_card.v1,payment_merchant.v1" in s.version for s in states)
    assert states[0].time < states[1].time


def test_run_records_round_trip(config: StackConfig) -> None:
    options = RunOptions(parallelism=2, topic_suffix=".t", allow_non_restored_state=True)
    runs.record(config, JOB, "abc", options)
    record = runs.load(config, "abc")
    assert record is not None and record.run_options() == options
    assert runs.load(config, "missing") is None
    assert [r.job_id for r in runs.of_job(config, JOB.name)] == ["abc"]


def _fake_restart(
    config: StackConfig, monkeypatch: pytest.MonkeyPatch, stop_target: Path
) -> list[RunOptions]:
    """A cluster where b2 runs; stop-with-savepoint writes ``stop_target``; submit records."""
    submitted: list[RunOptions] = []
    _fake_rest(
        monkeypatch,
        {
            ("GET", "/jobs/overview"): _overview(("b2", JOB.dashed, "RUNNING", 2)),
            ("POST", "/jobs/b2/stop"): {"request-id": "s1"},
            ("GET", "/jobs/b2/savepoints/s1"): {
                "status": {"id": "COMPLETED"},
                "operation": {"location": f"file:{stop_target}"},
            },
            ("GET", "/jobs/n3/checkpoints"): {
                "latest": {"restored": {"external_path": "file:/restored/path"}}
            },
        },
    )

    def submit(config: StackConfig, job: Any, options: RunOptions, on_progress: Any = None) -> str:
        submitted.append(options)
        return "n3"

    class Prepared:
        """A planned driver: what it is started with is what gets recorded."""

        def __init__(self, options: RunOptions) -> None:
            self.options = options

        def start(self, savepoint: str | None, allow_non_restored_state: bool = False) -> str:
            return submit(
                config,
                None,
                replace(
                    self.options,
                    from_savepoint=savepoint,
                    allow_non_restored_state=allow_non_restored_state,
                ),
            )

        def abort(self) -> None:
            raise AssertionError("nothing failed: no abort expected")

    def prepare_start(config: StackConfig, job: Any, options: RunOptions, **_: Any) -> Prepared:
        return Prepared(options)

    monkeypatch.setattr(local.launch, "submit", submit)
    monkeypatch.setattr(local.launch, "prepare_start", prepare_start)
    monkeypatch.setattr(local, "wait_running", lambda config, job_id: None)
    monkeypatch.setattr(
        local.flink_client, "wait_for_state", lambda config, job_id, state, timeout_s: {}
    )
    return submitted


def test_upgrade_restarts_the_current_code_with_the_recorded_options(
    config: StackConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    stop_target = _state_dir(local.savepoint_dir(config, JOB) / "savepoint-b2-stop")
    submitted = _fake_restart(config, monkeypatch, stop_target)
    runs.record(config, JOB, "b2", RunOptions(source_topic="pay-x", group_id="g", parallelism=2))
    result = local.upgrade(config, JOB, parallelism=3)
    (options,) = submitted
    assert options.from_savepoint == f"file:{stop_target}"
    assert (options.source_topic, options.group_id, options.parallelism) == ("pay-x", "g", 3)
    assert result.stopped_job_id == "b2" and result.job_id == "n3"
    assert result.restored_from == "file:/restored/path" and result.downtime_s >= 0
    metadata = json.loads((stop_target / local.METADATA_FILE).read_text())
    assert metadata["kind"] == "stop-with-savepoint" and metadata["run_options"]["group_id"] == "g"


def test_restore_stops_the_running_job_and_starts_from_the_chosen_savepoint(
    config: StackConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    chosen = _state_dir(local.savepoint_dir(config, JOB) / "savepoint-old")
    stop_target = _state_dir(local.savepoint_dir(config, JOB) / "savepoint-b2-stop")
    submitted = _fake_restart(config, monkeypatch, stop_target)
    runs.record(config, JOB, "b2", RunOptions(topic_suffix=".s"))
    result = local.restore(config, JOB, chosen.as_uri(), allow_non_restored_state=True)
    (options,) = submitted
    assert options.from_savepoint == chosen.as_uri() and options.allow_non_restored_state
    assert options.topic_suffix == ".s"
    assert result.stop_savepoint == f"file:{stop_target}"


def test_an_upgrade_whose_new_code_fails_to_plan_leaves_the_running_job_alone(
    config: StackConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _fake_rest(
        monkeypatch, {("GET", "/jobs/overview"): _overview(("b2", JOB.dashed, "RUNNING", 2))}
    )

    def prepare_start(config: StackConfig, job: Any, options: RunOptions, **_: Any) -> Any:
        raise local.flink_client.FlinkJobError("flink run failed:\nNameError: name 'x'")

    monkeypatch.setattr(local.launch, "prepare_start", prepare_start)
    with pytest.raises(local.LocalError, match=r"before anything was stopped \(b2 keeps running"):
        local.upgrade(config, JOB)
    assert [(m, p) for m, p, _ in calls if m != "GET"] == []  # no stop was sent
