"""Savepoint verbs on the local session cluster (``featurestream local up``), over Flink's REST API.

* ``take_savepoint``: ``POST /jobs/<id>/savepoints`` into ``<savepoints>/<release>/``, wait, and
  write ``_featurestream.json`` (job, code version, how the job was started) into the savepoint.
* ``list_states``: those savepoints and the job's retained checkpoints, with time and version.
* ``restore``: stop the running job with a savepoint (no drain), then start it from a chosen one.
* ``upgrade``: stop with a savepoint, start the current code from it; the downtime measured.

A job is found by its ``pipeline.name`` (``featurestream-<job-with-dashes>``) among the RUNNING
jobs; it restarts with the ``RunOptions`` it was started with (``common.runtime.runs``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import httpx

from common.config import StackConfig
from common.local import flink_client, parts
from common.runtime import launch, provenance, runs
from common.runtime.launch import Job, RunOptions

METADATA_FILE = "_featurestream.json"
Progress = Callable[[str], None]


class LocalError(Exception):
    """A savepoint verb failed on the local cluster (the message says which step and why)."""


@dataclass(frozen=True)
class RunningJob:
    """A RUNNING job of the cluster."""

    job_id: str
    name: str
    start_time_ms: int


@dataclass(frozen=True)
class SavedState:
    """A savepoint or retained checkpoint of a job.

    Attributes:
        time: When it completed (UTC, ISO-8601, from its ``_metadata`` file).
        kind: ``savepoint`` or ``checkpoint``.
        path: The ``file:`` URI to restore from.
        version: The code version that wrote it (``CodeVersion.short``), or ``unknown``.
    """

    time: str
    kind: str
    path: str
    version: str


@dataclass(frozen=True)
class Restart:
    """What ``restore`` and ``upgrade`` did.

    Attributes:
        stopped_job_id: The job stopped with a savepoint (None if none was running).
        stop_savepoint: That savepoint's path.
        job_id: The new job.
        restored_from: The path the new job restored, as Flink reports it.
        downtime_s: From the stop request to every task of the new job RUNNING.
    """

    stopped_job_id: str | None
    stop_savepoint: str | None
    job_id: str
    restored_from: str | None
    downtime_s: float


def _rest(config: StackConfig, method: str, path: str, body: Any = None) -> Any:
    try:
        response = httpx.request(method, f"{config.flink_rest_url}{path}", json=body, timeout=10)
    except httpx.HTTPError as exc:
        raise LocalError(
            f"the local Flink cluster at {config.flink_rest_url} is not reachable ({exc}); "
            "start it with `featurestream local up`"
        ) from exc
    if response.status_code >= 400:
        raise LocalError(f"{method} {path}: HTTP {response.status_code}: {response.text[:500]}")
    return response.json()


def running_jobs(config: StackConfig, job: Job) -> list[RunningJob]:
    """The RUNNING jobs named ``featurestream-<job-with-dashes>``, newest first."""
    overview = _rest(config, "GET", "/jobs/overview").get("jobs", [])
    found = [
        RunningJob(j["jid"], j["name"], int(j.get("start-time", 0)))
        for j in overview
        if j.get("name") == job.dashed and j.get("state") == "RUNNING"
    ]
    return sorted(found, key=lambda j: j.start_time_ms, reverse=True)


def find_running(config: StackConfig, job: Job, job_id: str | None = None) -> RunningJob:
    """The one RUNNING job of ``job`` (or the one with ``job_id``).

    Raises:
        LocalError: none is running, or several are and no ``job_id`` says which.
    """
    candidates = running_jobs(config, job)
    if job_id is not None:
        candidates = [j for j in candidates if j.job_id == job_id]
        if not candidates:
            raise LocalError(f"no RUNNING job {job_id} named {job.dashed} on the local cluster")
    if not candidates:
        raise LocalError(
            f"no RUNNING job named {job.dashed} on the local cluster "
            f"({config.flink_rest_url}); start it with `featurestream run {job.name}`"
        )
    if len(candidates) > 1:
        ids = ", ".join(j.job_id for j in candidates)
        raise LocalError(
            f"{len(candidates)} RUNNING jobs named {job.dashed} ({ids}): pass --job-id"
        )
    return candidates[0]


def savepoint_dir(config: StackConfig, job: Job) -> Path:
    """Where the job's savepoints go: ``<stack savepoint dir>/featurestream-<job>``."""
    return parts.flink_dirs(config)["savepoints"] / job.dashed


def local_path(uri: str) -> Path:
    """The filesystem path of a ``file:`` URI (or of a plain path)."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path))
    raise LocalError(f"{uri}: the local cluster only restores from file: paths")


def check_restorable(uri: str) -> Path:
    """The savepoint or checkpoint directory of ``uri``; it must hold Flink's ``_metadata``.

    Raises:
        LocalError: the path does not exist or holds no ``_metadata``.
    """
    path = local_path(uri)
    if path.name == "_metadata":
        path = path.parent
    if not (path / "_metadata").is_file():
        what = "does not exist" if not path.exists() else "holds no _metadata"
        raise LocalError(f"no savepoint or checkpoint at {uri}: {path} {what}")
    return path


def _await_operation(
    config: StackConfig, job_id: str, trigger: str, what: str, timeout_s: float
) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = _rest(config, "GET", f"/jobs/{job_id}/savepoints/{trigger}")
        if status.get("status", {}).get("id") == "COMPLETED":
            operation = status.get("operation") or {}
            if "failure-cause" in operation:
                cause = operation["failure-cause"]
                trace = str(cause.get("stack-trace", "")).splitlines()
                causes = [line for line in trace if line.startswith("Caused by:")]
                message = "\n".join([*trace[:1], *causes[-3:]]) or str(cause.get("class", ""))
                raise LocalError(f"{what} of job {job_id} failed:\n{message}")
            return str(operation["location"])
        time.sleep(0.25)
    raise LocalError(f"{what} of job {job_id} not done after {timeout_s:.0f}s")


def write_metadata(
    location: str, job: Job, job_id: str, kind: str, record: runs.RunRecord | None
) -> Path:
    """Write ``_featurestream.json`` into the savepoint at ``location``: what was taken, of
    which run, with that run's options and state lock (``check-upgrade --savepoint``)."""
    path = check_restorable(location) / METADATA_FILE
    options = record.run_options() if record else None
    metadata = {
        "job": job.name,
        "pipeline_name": job.dashed,
        "flink_job_id": job_id,
        "kind": kind,
        "taken_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "code": provenance.code_version(job).as_dict(),
        "run_options": asdict(options) if options else None,
        "state_lock": record.state_lock if record else None,
    }
    path.write_text(json.dumps(metadata, indent=2, sort_keys=True), encoding="utf-8")
    return path


def state_lock_of_savepoint(location: str) -> dict[str, Any]:
    """The state lock of the run a savepoint (or retained checkpoint) was taken of.

    Raises:
        LocalError: no such savepoint, or it predates recorded state locks (compare against a
            lock file with ``check-upgrade --against`` instead).
    """
    state_dir = check_restorable(location)
    lock = _metadata_of(state_dir).get("state_lock")
    if not lock:
        raise LocalError(
            f"{state_dir} records no state lock (taken outside featurestream, or before it "
            "recorded one); compare against a lock file with --against"
        )
    return dict(lock)


def state_lock_of_running(
    config: StackConfig, job: Job, job_id: str | None = None
) -> dict[str, Any]:
    """The state lock the running job was submitted with.

    Raises:
        LocalError: no such job running, or it was not started by featurestream.
    """
    running = find_running(config, job, job_id)
    record = runs.load(config, running.job_id)
    if record is None or not record.state_lock:
        raise LocalError(
            f"job {running.job_id} was not started by featurestream (no run record with a state "
            "lock); compare against a lock file with --against"
        )
    return dict(record.state_lock)


def _options_of(config: StackConfig, job_id: str) -> RunOptions | None:
    record = runs.load(config, job_id)
    return record.run_options() if record else None


def take_savepoint(
    config: StackConfig, job: Job, job_id: str | None = None, timeout_s: float = 300.0
) -> tuple[str, str]:
    """A savepoint of the running job (it keeps running); (its path, the job id)."""
    running = find_running(config, job, job_id)
    target = savepoint_dir(config, job)
    target.mkdir(parents=True, exist_ok=True)
    trigger = _rest(
        config,
        "POST",
        f"/jobs/{running.job_id}/savepoints",
        {"target-directory": target.as_uri(), "cancel-job": False, "formatType": "CANONICAL"},
    )["request-id"]
    location = _await_operation(config, running.job_id, trigger, "savepoint", timeout_s)
    write_metadata(location, job, running.job_id, "savepoint", runs.load(config, running.job_id))
    return location, running.job_id


def stop_with_savepoint(
    config: StackConfig, job: Job, job_id: str, timeout_s: float = 300.0, drain: bool = False
) -> str:
    """Stop ``job_id`` with a savepoint.

    No drain by default: timers and windows are not flushed, so the job resumes where it was.
    ``drain`` ends event time first (every held row is released), for a job that is done.
    """
    target = savepoint_dir(config, job)
    target.mkdir(parents=True, exist_ok=True)
    trigger = _rest(
        config,
        "POST",
        f"/jobs/{job_id}/stop",
        {"targetDirectory": target.as_uri(), "drain": drain, "formatType": "CANONICAL"},
    )["request-id"]
    location = _await_operation(config, job_id, trigger, "stop-with-savepoint", timeout_s)
    try:
        flink_client.wait_for_state(config, job_id, "FINISHED", timeout_s=timeout_s)
    except flink_client.FlinkJobError as exc:
        raise LocalError(str(exc)) from exc
    write_metadata(location, job, job_id, "stop-with-savepoint", runs.load(config, job_id))
    return location


def wait_running(config: StackConfig, job_id: str, timeout_s: float = 180.0) -> None:
    """Wait until the job and every one of its tasks are RUNNING."""
    deadline = time.monotonic() + timeout_s
    state = "UNKNOWN"
    while time.monotonic() < deadline:
        details = flink_client.job_details(config, job_id)
        state = details["state"]
        if state in flink_client.TERMINAL_STATES:
            raise LocalError(
                f"job {job_id} ended {state}:\n{flink_client.job_exception(config, job_id)[:3000]}"
            )
        vertices = details.get("vertices", [])
        if state == "RUNNING" and vertices and all(v["status"] == "RUNNING" for v in vertices):
            return
        time.sleep(0.2)
    raise LocalError(f"job {job_id} not fully RUNNING after {timeout_s:.0f}s (state {state})")


def restored_from(config: StackConfig, job_id: str) -> str | None:
    """The savepoint or checkpoint path a job restored from (``latest.restored``), or None."""
    checkpoints = _rest(config, "GET", f"/jobs/{job_id}/checkpoints")
    restored = (checkpoints.get("latest") or {}).get("restored") or {}
    path = restored.get("external_path")
    return str(path) if path else None


def _metadata_of(state_dir: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads((state_dir / METADATA_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return data


def _started_options(config: StackConfig, job: Job, savepoint: Path) -> RunOptions:
    """How to start ``job`` when nothing is running: as the savepoint's job was, else as the
    job's latest recorded run, else with defaults."""
    recorded = _metadata_of(savepoint).get("run_options")
    if recorded:
        return runs.options_from_dict(recorded)
    history = runs.of_job(config, job.name)
    return history[-1].run_options() if history else RunOptions()


def restore(
    config: StackConfig,
    job: Job,
    savepoint: str,
    *,
    allow_non_restored_state: bool = False,
    parallelism: int | None = None,
    job_id: str | None = None,
    on_progress: Progress = lambda _: None,
) -> Restart:
    """Stop the running job with a savepoint (if one runs), then start it from ``savepoint``.

    The new job gets the options the stopped one was started with; ``parallelism`` overrides.
    """
    state_dir = check_restorable(savepoint)
    if running_jobs(config, job) or job_id:
        stopped = find_running(config, job, job_id)
        options = _options_of(config, stopped.job_id) or _started_options(config, job, state_dir)
        return _replace_running(
            config, job, stopped, options, parallelism, savepoint, allow_non_restored_state,
            on_progress,
        )  # fmt: skip
    options = _started_options(config, job, state_dir)
    on_progress(f"no {job.dashed} is running: starting it from {savepoint}")
    return _start(
        config,
        job,
        replace(
            options,
            from_savepoint=savepoint,
            allow_non_restored_state=allow_non_restored_state,
            parallelism=parallelism or options.parallelism,
        ),
        time.monotonic(),
        on_progress,
    )


def upgrade(
    config: StackConfig,
    job: Job,
    *,
    parallelism: int | None = None,
    allow_non_restored_state: bool = False,
    job_id: str | None = None,
    on_progress: Progress = lambda _: None,
) -> Restart:
    """Stop the running job with a savepoint and start the current code from it.

    The current code is planned first: if it fails, the running job is left alone.
    """
    running = find_running(config, job, job_id)
    options = _options_of(config, running.job_id) or RunOptions()
    return _replace_running(
        config, job, running, options, parallelism, None, allow_non_restored_state, on_progress
    )


def _replace_running(
    config: StackConfig,
    job: Job,
    running: RunningJob,
    options: RunOptions,
    parallelism: int | None,
    savepoint: str | None,
    allow_non_restored_state: bool,
    on_progress: Progress,
) -> Restart:
    """Plan the new job (``options``, ``parallelism`` overriding), stop ``running`` with a
    savepoint, then submit the planned job from ``savepoint`` (None: the one just taken).
    Downtime counts from the stop (decision 50)."""
    options = replace(options, parallelism=parallelism or options.parallelism)
    try:
        prepared = launch.prepare_start(config, job, options, on_progress=on_progress)
    except flink_client.FlinkJobError as exc:
        raise LocalError(
            f"the new {job.dashed} failed before anything was stopped ({running.job_id} keeps "
            f"running):\n{exc}"
        ) from exc
    started = time.monotonic()
    on_progress(f"stopping {job.dashed} ({running.job_id}) with a savepoint")
    try:
        stop_path = stop_with_savepoint(config, job, running.job_id)
    except BaseException:
        prepared.abort()
        raise
    source = savepoint or stop_path
    on_progress(f"stopped ({stop_path}); starting the planned job from {source}")
    try:
        new_id = prepared.start(source, allow_non_restored_state)
    except flink_client.FlinkJobError as exc:
        raise LocalError(f"starting {job.dashed} from {source} failed:\n{exc}") from exc
    return _restarted(config, new_id, started, running.job_id, stop_path)


def _start(
    config: StackConfig,
    job: Job,
    options: RunOptions,
    started: float,
    on_progress: Progress,
) -> Restart:
    """Start ``job`` with nothing to stop first."""
    try:
        new_id = launch.submit(config, job, options, on_progress=on_progress)
    except flink_client.FlinkJobError as exc:
        raise LocalError(
            f"starting {job.dashed} from {options.from_savepoint} failed:\n{exc}"
        ) from exc
    return _restarted(config, new_id, started)


def _restarted(
    config: StackConfig,
    new_id: str,
    started: float,
    stopped_job_id: str | None = None,
    stop_savepoint: str | None = None,
) -> Restart:
    """Once ``new_id`` runs every task: what the restart did, its downtime from ``started``."""
    wait_running(config, new_id)
    return Restart(
        stopped_job_id=stopped_job_id,
        stop_savepoint=stop_savepoint,
        job_id=new_id,
        restored_from=restored_from(config, new_id),
        downtime_s=time.monotonic() - started,
    )


def _completed_at(state_dir: Path) -> str:
    mtime = (state_dir / "_metadata").stat().st_mtime
    return datetime.fromtimestamp(mtime, UTC).isoformat(timespec="seconds")


def list_states(config: StackConfig, job: Job) -> list[SavedState]:
    """The job's savepoints (taken by these verbs) and retained checkpoints, oldest first."""
    found: list[SavedState] = []
    base = parts.flink_dirs(config)["savepoints"]
    candidates = [*savepoint_dir(config, job).glob("savepoint-*"), *base.glob("savepoint-*")]
    for state_dir in candidates:
        metadata = _metadata_of(state_dir)
        in_job_dir = state_dir.parent == savepoint_dir(config, job)
        if not (state_dir / "_metadata").is_file() or not (
            in_job_dir or metadata.get("job") == job.name
        ):
            continue
        code = provenance.from_dict(metadata["code"]).short if "code" in metadata else "unknown"
        found.append(SavedState(_completed_at(state_dir), "savepoint", state_dir.as_uri(), code))
    checkpoints = parts.flink_dirs(config)["checkpoints"]
    for record in runs.of_job(config, job.name):
        version = provenance.from_dict(record.code).short
        for state_dir in (checkpoints / record.job_id).glob("chk-*"):
            if (state_dir / "_metadata").is_file():
                found.append(
                    SavedState(_completed_at(state_dir), "checkpoint", state_dir.as_uri(), version)
                )
    return sorted(found, key=lambda s: (s.time, s.path))
