"""The committed state locks, ``jobs/<job>/state.lock.json``: where they are and how they read.

``common.deploy.state_check`` writes and compares them; runs record the lock they were submitted
with (``runs.record``), so ``check-upgrade --running`` / ``--savepoint`` compare against it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from common.runtime.catalog import JOBS_DIR

LOCK_NAME = "state.lock.json"


def lock_path(job_name: str) -> Path:
    """``jobs/<job>/state.lock.json``."""
    return JOBS_DIR / job_name / LOCK_NAME


def read_lock(job_name: str) -> dict[str, Any] | None:
    """The committed lock file of ``job_name``, or None."""
    path = lock_path(job_name)
    if not path.is_file():
        return None
    lock: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return lock
