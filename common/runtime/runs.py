"""A record of every job started on the local cluster: its options and code, by Flink job id.

``launch.submit`` writes ``<data_dir>/flink/runs/<job id>.json``. The savepoint verbs read it to
restart a job the way it was started (same topics, group, suffix) and to tell which code wrote a
retained checkpoint; Flink itself keeps neither.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.config import StackConfig
from common.features.sql import FeatureJob
from common.runtime import locks, provenance

if TYPE_CHECKING:
    from common.models.request_sql import InferenceJob
    from common.runtime.launch import RunOptions


@dataclass(frozen=True)
class RunRecord:
    """How one Flink job was started.

    Attributes:
        job: The feature job (``payment_features``).
        job_id: Flink's job id.
        options: The ``RunOptions`` as a dict.
        code: The ``CodeVersion`` at submission, as a dict.
        submitted_at: ISO-8601 UTC.
        state_lock: ``jobs/<job>/state.lock.json`` as it was at submission (None when the job
            has none): what ``check-upgrade --running`` / ``--savepoint`` compare against.
    """

    job: str
    job_id: str
    options: dict[str, Any]
    code: dict[str, Any]
    submitted_at: str
    state_lock: dict[str, Any] | None = None

    def run_options(self) -> RunOptions:
        """The recorded options."""
        return options_from_dict(self.options)


def options_from_dict(data: dict[str, Any]) -> RunOptions:
    """``RunOptions`` from their JSON form (unknown keys from older records ignored)."""
    from common.runtime.launch import RunOptions

    known = {f.name for f in fields(RunOptions)}
    # JSON has no tuples: the tuple fields (models, extra_args) come back as lists.
    values: dict[str, Any] = {
        k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known
    }
    return RunOptions(**values)


def runs_dir(config: StackConfig) -> Path:
    """Where run records are kept."""
    return config.data_dir / "flink" / "runs"


def record(
    config: StackConfig, job: FeatureJob | InferenceJob, job_id: str, options: RunOptions
) -> RunRecord:
    """Write the record of a submitted job."""
    entry = RunRecord(
        job=job.name,
        job_id=job_id,
        options=asdict(options),
        code=provenance.code_version(job).as_dict(),
        submitted_at=datetime.now(UTC).isoformat(timespec="seconds"),
        state_lock=locks.read_lock(job.name),
    )
    path = runs_dir(config) / f"{job_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(entry), indent=2, sort_keys=True), encoding="utf-8")
    return entry


def load(config: StackConfig, job_id: str) -> RunRecord | None:
    """The record of ``job_id``, or None when it was not started through ``launch.submit``."""
    path = runs_dir(config) / f"{job_id}.json"
    if not path.is_file():
        return None
    return RunRecord(**json.loads(path.read_text(encoding="utf-8")))


def of_job(config: StackConfig, job: str) -> list[RunRecord]:
    """Every record of ``job``, oldest first."""
    found = []
    for path in sorted(runs_dir(config).glob("*.json")):
        entry = RunRecord(**json.loads(path.read_text(encoding="utf-8")))
        if entry.job == job:
            found.append(entry)
    return sorted(found, key=lambda r: r.submitted_at)
