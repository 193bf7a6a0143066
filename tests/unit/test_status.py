"""``featurestream status``: objectives from the job's slo values, the screen and exit codes."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from common.cli import main
from common.deploy import k8s, status
from common.runtime.metrics import JobMetrics, ViewMetrics

NOW_MS = 1_800_000_000_000


def _metrics(p99_ms: float = 6_200.0, dead: int = 0, read: int = 10_000) -> JobMetrics:
    return JobMetrics(
        pipeline_name="featurestream-payment-features",
        job_ids=("a" * 32,),
        scraped_at_ms=NOW_MS,
        views={
            "payment_card.v1": ViewMetrics(
                "payment_card.v1",
                emit_lag_ms=5_400.0,
                emit_lag_p99_ms=p99_ms,
                emit_lag_rows=1_024,
                rows_emitted=9_990,
                online_store_written=9_990,
                online_store_retries=0,
                watermark_ms=NOW_MS - 5_300,
            ),
            "payment_merchant.v1": ViewMetrics(
                "payment_merchant.v1", emit_lag_p99_ms=p99_ms - 100, rows_emitted=9_990
            ),
        },
        records_read=read,
        dead_letters={"late": dead} if dead else {},
        consumer_lag=0,
        restarts=0,
        failed_checkpoints=0,
    )


def _checkpoint(duration_ms: int = 120) -> status.Checkpoint:
    return status.Checkpoint(42, NOW_MS - 800, 3 * 1024 * 1024, duration_ms, "file:///c/chk-42")


def _running(slo: dict[str, object], **kwargs: object) -> status.JobStatus:
    found = _metrics(**kwargs)  # type: ignore[arg-type]
    checkpoint = _checkpoint()
    return status.JobStatus(
        job="payment_features",
        pipeline_name="featurestream-payment-features",
        state="RUNNING",
        job_id="a" * 32,
        checked_at_ms=NOW_MS,
        uptime_s=600.0,
        restarts=0,
        checkpoints_completed=600,
        checkpoints_failed=0,
        last_checkpoint=checkpoint,
        metrics=found,
        objectives=status.objectives(slo, found, checkpoint, 0, 600.0),
    )


def test_slo_values_are_the_jobs_layered_values_with_overrides() -> None:
    slo = status.slo_values("payment_features", "dev")
    assert slo["freshness"]["p99Seconds"] == 15  # the job's own, over the chart's 30
    assert slo["deadLetters"]["maxPercent"] == 0.1  # the chart's default
    strict = status.slo_values("payment_features", "dev", {"slo.freshness.p99Seconds": "0.001"})
    assert strict["freshness"]["p99Seconds"] == "0.001"
    assert slo["freshness"]["p99Seconds"] == 15  # the layered values were not changed
    with pytest.raises(ValueError, match="slo"):
        status.slo_values("payment_features", "dev", {"job.parallelism": 4})


def test_within_objectives_exits_0_and_shows_one_screen() -> None:
    shown = _running(status.slo_values("payment_features", "dev"))
    assert shown.exit_code == 0
    names = [o.name for o in shown.objectives]
    assert names == ["freshness", "dead_letters", "checkpoints", "checkpoint_duration", "restarts"]
    freshness = shown.objectives[0]
    assert freshness.actual == pytest.approx(6.2) and freshness.objective == 15
    text = status.render_text(shown)
    assert text.splitlines()[0].startswith("payment_features  RUNNING  job aaaa")
    assert "#42 1 s ago, 3.0 MiB, took 120 ms" in text
    assert "payment_card.v1" in text and "6.2 s" in text
    assert "BREACHED" not in text
    assert len(text.splitlines()) <= 24  # one screen


@pytest.mark.parametrize(
    ("override", "kwargs", "breached"),
    [
        ({"slo.freshness.p99Seconds": "0.001"}, {}, "freshness"),
        ({}, {"p99_ms": 15_001.0}, "freshness"),
        ({}, {"dead": 11, "read": 10_000}, "dead_letters"),  # 0.11 % > 0.1 %
        ({"slo.checkpoints.maxDurationSeconds": "0.1"}, {}, "checkpoint_duration"),
    ],
)
def test_a_breached_objective_exits_2(
    override: dict[str, str], kwargs: dict[str, float], breached: str
) -> None:
    shown = _running(status.slo_values("payment_features", "dev", override), **kwargs)
    assert shown.exit_code == 2
    assert [o.name for o in shown.objectives if o.breached] == [breached]
    assert "BREACHED" in status.render_text(shown)


def test_no_rows_yet_is_not_a_breach() -> None:
    empty = JobMetrics("featurestream-payment-features", (), NOW_MS)
    found = status.objectives(status.slo_values("payment_features", "dev"), empty, None, 0, 5.0)
    assert not any(o.breached for o in found)
    assert {o.name: o.actual for o in found}["freshness"] is None


def test_not_running_exits_1_whatever_the_objectives() -> None:
    stopped = status.JobStatus("payment_features", "featurestream-payment-features", "CANCELED")
    assert stopped.exit_code == 1
    assert "not running" in status.render_text(stopped)
    assert stopped.as_dict()["exit_code"] == 1


def test_restarts_and_failed_checkpoints_per_hour() -> None:
    slo = status.slo_values("payment_features", "dev")
    found = _metrics()
    young = status.objectives(slo, found, None, 2, 1_800.0)  # 2 failed in half an hour
    assert {o.name: o.breached for o in young}["checkpoints"]
    old = status.objectives(slo, found, None, 2, 4 * 3_600.0)  # 0.5 per hour over 4 hours
    assert not {o.name: o.breached for o in old}["checkpoints"]


def test_k8s_target_without_a_cluster_says_so_and_exits_1(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(k8s, "cluster_problem", lambda target: "kubectl is not on PATH")
    result = CliRunner().invoke(main, ["status", "payment_features", "--target", "k8s"])
    assert result.exit_code == 1
    assert "no cluster reachable: kubectl is not on PATH" in result.output


def test_failed_checkpoints_leave_out_triggers_refused_while_tasks_deploy() -> None:
    # A fresh job as Flink reported it: 8 triggers refused before the tasks ran (no ids), then
    # checkpoints 1..47, the last in progress.
    stats = {
        "counts": {"total": 55, "completed": 46, "in_progress": 1, "failed": 8},
        "latest": {"completed": {"id": 46}, "failed": None, "restored": None},
        "history": [{"id": 47}, {"id": 46}],
    }
    assert status.started_failures(stats) == 0
    # Restored from checkpoint 100: ids go on from 101; 101..110 started, one failed.
    stats = {
        "counts": {"completed": 8, "in_progress": 1, "failed": 3},
        "latest": {"completed": {"id": 109}, "failed": {"id": 105}, "restored": {"id": 100}},
        "history": [{"id": 110}],
    }
    assert status.started_failures(stats) == 1
    assert status.started_failures({"counts": {"failed": 4}}) == 0  # none started yet
