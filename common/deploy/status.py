"""``featurestream status <job>``: one screen of a job's health against its objectives.

Gathered on the local cluster from Flink's REST API (state, uptime, checkpoints), the
savepoint listing (``common.deploy.local``), the Prometheus reporters
(``common.runtime.metrics``: freshness, lag, dead letters, restarts) and the job's ``slo:``
values (the chart's, layered as ``deploy`` layers them for an environment). Exit codes for
scripts: 0 running within every objective, 1 not running, 2 an objective breached.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import yaml

from common.config import StackConfig
from common.deploy import local, render
from common.deploy.values import CHART_DIR
from common.runtime import locks, metrics, runs
from common.runtime.launch import Job

OK, NOT_RUNNING, BREACHED = 0, 1, 2


class StatusError(Exception):
    """The cluster could not be asked (the message says what to do)."""


@dataclass(frozen=True)
class Checkpoint:
    """The job's last completed checkpoint.

    Attributes:
        checkpoint_id: Flink's checkpoint number.
        completed_ms: When it was acknowledged by every task (epoch ms).
        size_bytes: Its full state size.
        duration_ms: Trigger to completion.
        path: Where it is (retained ones restore with ``run --from-savepoint``).
    """

    checkpoint_id: int
    completed_ms: int
    size_bytes: int
    duration_ms: int
    path: str | None


@dataclass(frozen=True)
class Objective:
    """One SLO against what the job shows now.

    Attributes:
        name: ``freshness``, ``dead_letters``, ``checkpoints``, ``checkpoint_duration``,
            ``restarts``.
        objective: The bound, in ``unit``.
        actual: The job's figure in ``unit``; None when there is nothing to measure yet.
        unit: ``s``, ``%`` or ``per hour``.
        breached: ``actual`` is above ``objective``.
        detail: How ``actual`` was measured.
    """

    name: str
    objective: float
    actual: float | None
    unit: str
    breached: bool
    detail: str


@dataclass(frozen=True)
class JobStatus:
    """What ``status`` shows (``--json`` prints it as a dict)."""

    job: str
    pipeline_name: str
    state: str
    job_id: str | None = None
    checked_at_ms: int = 0
    uptime_s: float | None = None
    restarts: int | None = None
    checkpoints_completed: int | None = None
    checkpoints_failed: int | None = None
    last_checkpoint: Checkpoint | None = None
    last_savepoint: local.SavedState | None = None
    metrics: metrics.JobMetrics | None = None
    metrics_error: str | None = None
    objectives: tuple[Objective, ...] = ()

    @property
    def exit_code(self) -> int:
        """1 when not RUNNING, else 2 when an objective is breached, else 0."""
        if self.state != "RUNNING":
            return NOT_RUNNING
        return BREACHED if any(o.breached for o in self.objectives) else OK

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "job": self.job,
            "pipeline_name": self.pipeline_name,
            "state": self.state,
            "job_id": self.job_id,
            "checked_at_ms": self.checked_at_ms,
            "uptime_s": self.uptime_s,
            "restarts": self.restarts,
            "checkpoints_completed": self.checkpoints_completed,
            "checkpoints_failed": self.checkpoints_failed,
            "last_checkpoint": self.last_checkpoint.__dict__ if self.last_checkpoint else None,
            "last_savepoint": self.last_savepoint.__dict__ if self.last_savepoint else None,
            "metrics": self.metrics.as_dict() if self.metrics else None,
            "metrics_error": self.metrics_error,
            "objectives": [o.__dict__ for o in self.objectives],
            "exit_code": self.exit_code,
        }


# --- objectives ----------------------------------------------------------------------------------


def slo_values(
    job_name: str, env: str, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The job's ``slo:`` values in ``env``, as the chart would get them, ``overrides`` last
    (``slo.freshness.p99Seconds`` style keys, as ``--set`` takes them).

    A job without ``jobs/<job>/values.yaml`` gets the chart's defaults.
    """
    try:
        values = render.layered_values(job_name, env)
    except render.RenderError:
        values = yaml.safe_load((CHART_DIR / "values.yaml").read_text(encoding="utf-8"))
    slo: dict[str, Any] = dict(values.get("slo") or {})
    for key, value in (overrides or {}).items():
        path = key.split(".")
        if path[0] != "slo" or len(path) < 2:
            raise ValueError(f"{key}: status takes slo.* values only")
        node = slo
        for part in path[1:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return slo


def _number(value: Any, key: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"slo.{key}: {value!r} is not a number") from exc


def _per_hour(count: int, uptime_s: float) -> float:
    """A count since the start as a rate per hour: the count itself in the first hour (the
    alert's one-hour window), the average over the uptime after."""
    return float(count) if uptime_s <= 3600 else count * 3600 / uptime_s


def objectives(
    slo: Mapping[str, Any],
    job_metrics: metrics.JobMetrics | None,
    last_checkpoint: Checkpoint | None,
    checkpoints_failed: int | None,
    uptime_s: float | None,
) -> tuple[Objective, ...]:
    """The enabled objectives of ``slo`` against the job's figures.

    Locally there is no Prometheus history: rates are over the job's life so far (the
    alerts' windows are at most this long for a young job; see ``_per_hour``), and the
    dead-letter ratio is since the job started, not over 30 days.
    """
    found: list[Objective] = []
    freshness = slo.get("freshness") or {}
    if freshness.get("enabled", True) and "p99Seconds" in freshness:
        bound = _number(freshness["p99Seconds"], "freshness.p99Seconds")
        p99s = [
            v.emit_lag_p99_ms / 1000
            for v in (job_metrics.views.values() if job_metrics else ())
            if v.emit_lag_p99_ms is not None and not math.isnan(v.emit_lag_p99_ms)
        ]
        actual = max(p99s) if p99s else None
        found.append(
            Objective(
                "freshness",
                bound,
                actual,
                "s",
                actual is not None and actual > bound,
                "p99 emit lag, worst view and subtask (last 1024 rows each)",
            )
        )
    dead = slo.get("deadLetters") or {}
    if dead.get("enabled", True) and "maxPercent" in dead:
        bound = _number(dead["maxPercent"], "deadLetters.maxPercent")
        ratio = None
        if job_metrics is not None and job_metrics.records_read > 0:
            ratio = 100.0 * job_metrics.dead_letters_total / job_metrics.records_read
        found.append(
            Objective(
                "dead_letters",
                bound,
                ratio,
                "%",
                ratio is not None and ratio > bound,
                "dead letters / records read since the job started",
            )
        )
    checkpoints = slo.get("checkpoints") or {}
    if "maxFailedPerHour" in checkpoints and checkpoints_failed is not None and uptime_s:
        bound = _number(checkpoints["maxFailedPerHour"], "checkpoints.maxFailedPerHour")
        rate = _per_hour(checkpoints_failed, uptime_s)
        found.append(
            Objective(
                "checkpoints",
                bound,
                rate,
                "per hour",
                rate > bound,
                "failed checkpoints since the job started, per hour",
            )
        )
    if "maxDurationSeconds" in checkpoints:
        bound = _number(checkpoints["maxDurationSeconds"], "checkpoints.maxDurationSeconds")
        took = last_checkpoint.duration_ms / 1000 if last_checkpoint else None
        found.append(
            Objective(
                "checkpoint_duration",
                bound,
                took,
                "s",
                took is not None and took > bound,
                "duration of the last completed checkpoint",
            )
        )
    restarts = slo.get("restarts") or {}
    if "maxPerHour" in restarts and job_metrics and job_metrics.restarts is not None and uptime_s:
        bound = _number(restarts["maxPerHour"], "restarts.maxPerHour")
        rate = _per_hour(job_metrics.restarts, uptime_s)
        found.append(
            Objective(
                "restarts",
                bound,
                rate,
                "per hour",
                rate > bound,
                "restarts since the job was submitted, per hour",
            )
        )
    return tuple(found)


# --- the local cluster ---------------------------------------------------------------------------


LOCAL_HINT = "start it with `featurestream local up`"


def _get(rest_url: str, path: str, hint: str = LOCAL_HINT) -> Any:
    try:
        response = httpx.get(f"{rest_url}{path}", timeout=10)
    except httpx.HTTPError as exc:
        raise StatusError(
            f"the Flink cluster at {rest_url} is not reachable ({exc}); {hint}"
        ) from exc
    if response.status_code >= 400:
        raise StatusError(f"GET {path}: HTTP {response.status_code}: {response.text[:300]}")
    return response.json()


def _newest_job(rest_url: str, job: Job, job_id: str | None, hint: str) -> dict[str, Any] | None:
    """The job's entry in ``/jobs/overview``: ``job_id``'s, else the newest one not ended, else
    the newest ended one."""
    entries = [
        j
        for j in _get(rest_url, "/jobs/overview", hint).get("jobs", [])
        if j.get("name") == job.dashed
    ]
    if job_id is not None:
        entries = [j for j in entries if j.get("jid") == job_id]
    if not entries:
        return None
    live = [j for j in entries if j.get("state") not in ("FINISHED", "FAILED", "CANCELED")]
    newest: dict[str, Any] = max(live or entries, key=lambda j: int(j.get("start-time", 0)))
    return newest


def started_failures(stats: Mapping[str, Any]) -> int:
    """Failed checkpoints that had started, from ``/jobs/<id>/checkpoints``.

    Flink's failed count (and ``numberOfFailedCheckpoints``) also counts triggers refused
    while the tasks are still deploying: several per start at a 1 s interval, none a fault.
    Those get no checkpoint id; every started checkpoint gets the next one, counting on from
    the checkpoint the job restored. So started = newest id - restored id, and those neither
    completed nor in progress failed.
    """
    counts = stats.get("counts") or {}
    latest = stats.get("latest") or {}
    ids = [int(h["id"]) for h in stats.get("history") or [] if "id" in h]
    ids += [int(c["id"]) for c in (latest.get("completed"), latest.get("failed")) if c]
    if not ids:
        return 0
    restored = int((latest.get("restored") or {}).get("id") or 0)
    started = max(ids) - restored
    unfinished = started - int(counts.get("completed", 0)) - int(counts.get("in_progress", 0))
    return max(0, min(int(counts.get("failed", 0)), unfinished))


def _checkpoints(rest_url: str, job_id: str, hint: str) -> tuple[Checkpoint | None, int, int]:
    """(the last completed checkpoint, completed count, failed count of started ones)."""
    stats = _get(rest_url, f"/jobs/{job_id}/checkpoints", hint)
    counts = stats.get("counts") or {}
    latest = (stats.get("latest") or {}).get("completed")
    checkpoint = None
    if latest:
        checkpoint = Checkpoint(
            checkpoint_id=int(latest["id"]),
            completed_ms=int(latest.get("latest_ack_timestamp") or 0),
            size_bytes=int(latest.get("state_size") or latest.get("checkpointed_size") or 0),
            duration_ms=int(latest.get("end_to_end_duration") or 0),
            path=latest.get("external_path"),
        )
    return checkpoint, int(counts.get("completed", 0)), started_failures(stats)


def _windows(config: StackConfig, job: Job, job_id: str) -> dict[str, str]:
    """The job's views and window uids: from the state lock the run was submitted with, else
    the committed one (a job started outside featurestream)."""
    record = runs.load(config, job_id)
    lock = (record.state_lock if record else None) or locks.read_lock(job.name) or {}
    return metrics.windows_of_lock(lock)


def local_status(
    config: StackConfig,
    job: Job,
    slo: Mapping[str, Any],
    job_id: str | None = None,
) -> JobStatus:
    """The job's status on the local cluster against ``slo`` (``slo_values``).

    Raises:
        StatusError: the cluster's REST API does not answer.
    """
    savepoints = [s for s in local.list_states(config, job) if s.kind == "savepoint"]
    return cluster_status(
        job,
        slo,
        config.flink_rest_url,
        config.flink_metrics_urls,
        lambda found_id: _windows(config, job, found_id),
        job_id=job_id,
        last_savepoint=savepoints[-1] if savepoints else None,
        metrics_hint=(
            "a stack started before it had reporters needs `featurestream local down` and `up`"
        ),
    )


def cluster_status(
    job: Job,
    slo: Mapping[str, Any],
    rest_url: str,
    metrics_urls: Sequence[str],
    windows: Callable[[str], dict[str, str]],
    job_id: str | None = None,
    last_savepoint: local.SavedState | None = None,
    hint: str = LOCAL_HINT,
    metrics_hint: str = "",
) -> JobStatus:
    """The job's status from a Flink REST API and the Prometheus reporters of its processes.

    Args:
        windows: The job's views and window uids for a Flink job id (``metrics.windows_of_lock``).
        hint: What to do when the REST API does not answer (in the error).
        metrics_hint: What to do when a reporter does not answer (in the screen).

    Raises:
        StatusError: the REST API does not answer.
    """
    now_ms = int(time.time() * 1000)
    entry = _newest_job(rest_url, job, job_id, hint)
    if entry is None:
        return JobStatus(
            job.name,
            job.dashed,
            "NOT_SUBMITTED",
            checked_at_ms=now_ms,
            last_savepoint=last_savepoint,
        )
    found_id = str(entry["jid"])
    state = str(entry.get("state", "UNKNOWN"))
    if state in ("FINISHED", "FAILED", "CANCELED"):
        return JobStatus(
            job.name,
            job.dashed,
            state,
            found_id,
            checked_at_ms=now_ms,
            last_savepoint=last_savepoint,
        )
    uptime_s = max(0.0, (now_ms - int(entry.get("start-time", now_ms))) / 1000)
    checkpoint, completed, failed = _checkpoints(rest_url, found_id, hint)
    job_metrics = None
    metrics_error = None
    try:
        samples = metrics.scrape(metrics_urls)
        job_metrics = metrics.job_metrics(samples, job.dashed, windows(found_id), found_id)
    except metrics.MetricsError as exc:
        metrics_error = f"{exc} ({metrics_hint})" if metrics_hint else str(exc)
    return JobStatus(
        job=job.name,
        pipeline_name=job.dashed,
        state=state,
        job_id=found_id,
        checked_at_ms=now_ms,
        uptime_s=uptime_s,
        restarts=job_metrics.restarts if job_metrics else None,
        checkpoints_completed=completed,
        checkpoints_failed=failed,
        last_checkpoint=checkpoint,
        last_savepoint=last_savepoint,
        metrics=job_metrics,
        metrics_error=metrics_error,
        objectives=objectives(slo, job_metrics, checkpoint, failed, uptime_s),
    )


# --- the screen ----------------------------------------------------------------------------------


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min {seconds % 60:.0f} s"
    if seconds < 86400:
        return f"{seconds // 3600:.0f} h {seconds % 3600 // 60:.0f} min"
    return f"{seconds // 86400:.0f} d {seconds % 86400 // 3600:.0f} h"


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _seconds(ms: float | None) -> str:
    return "-" if ms is None or math.isnan(ms) else f"{ms / 1000:.1f} s"


def _iso_age(iso: str, now_ms: int) -> str:
    try:
        then = datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return iso
    return f"{iso} ({_duration(now_ms / 1000 - then)} ago)"


_LABELS = {
    "freshness": "freshness (p99 lag)",
    "dead_letters": "dead letters / read",
    "checkpoints": "failed checkpoints",
    "checkpoint_duration": "checkpoint duration",
    "restarts": "restarts",
}
_UNITS = {"s": " s", "%": " %", "per hour": " /h"}


def _amount(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:.3g}{_UNITS.get(unit, ' ' + unit)}"


def render_text(status: JobStatus) -> str:
    """The one-screen text of ``status``."""
    now = status.checked_at_ms
    lines = []
    head = f"{status.job}  {status.state}"
    if status.job_id:
        head += f"  job {status.job_id}"
    if status.uptime_s is not None:
        head += f"  up {_duration(status.uptime_s)}"
    if status.restarts is not None:
        head += f"  restarts {status.restarts}"
    lines.append(head)
    if status.state != "RUNNING":
        lines.append(f"not running: start it with `featurestream run {status.job}`")
    if status.checkpoints_completed is not None:
        if status.last_checkpoint is not None:
            cp = status.last_checkpoint
            age = _duration((now - cp.completed_ms) / 1000)
            lines.append(
                f"checkpoint   #{cp.checkpoint_id} {age} ago, "
                f"{_size(cp.size_bytes)}, took {cp.duration_ms} ms "
                f"({status.checkpoints_completed} completed, {status.checkpoints_failed} failed)"
            )
        else:
            lines.append(f"checkpoint   none completed yet ({status.checkpoints_failed} failed)")
    if status.last_savepoint is not None:
        saved = status.last_savepoint
        lines.append(f"savepoint    {_iso_age(saved.time, now)}  {saved.path}")
    else:
        lines.append("savepoint    none (featurestream savepoint <job>)")
    m = status.metrics
    if status.metrics_error:
        lines.append(f"metrics      unavailable: {status.metrics_error}")
    if m is not None:
        lag = "-" if m.consumer_lag is None else f"{m.consumer_lag:,}"
        lines.append(f"source       {m.records_read:,} records read, consumer lag {lag} records")
        if m.views:
            lines.append(
                f"{'view':<26}{'last lag':>10}{'p99 lag':>10}{'watermark lag':>15}"
                f"{'rows':>12}{'online store':>22}"
            )
        for name, view in m.views.items():
            store = (
                "-"
                if view.online_store_written is None
                else f"{view.online_store_written:,} ({view.online_store_retries or 0} retries)"
            )
            wm = view.watermark_lag_ms(m.scraped_at_ms)
            lines.append(
                f"  {name:<24}{_seconds(view.emit_lag_ms):>10}{_seconds(view.emit_lag_p99_ms):>10}"
                f"{_seconds(wm):>15}{view.rows_emitted:>12,}{store:>22}"
            )
        reasons = ", ".join(f"{r} {n:,}" for r, n in sorted(m.dead_letters.items()) if n)
        lines.append(f"dead letters {m.dead_letters_total:,}" + (f": {reasons}" if reasons else ""))
    if status.objectives:
        lines.append(f"{'objective':<26}{'now':>10}{'bound':>12}")
    for objective in status.objectives:
        lines.append(
            f"  {_LABELS.get(objective.name, objective.name):<24}"
            f"{_amount(objective.actual, objective.unit):>10}"
            f"{'≤ ' + _amount(objective.objective, objective.unit):>12}"
            f"  {'BREACHED' if objective.breached else 'ok'}"
        )
    return "\n".join(lines)
