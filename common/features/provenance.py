"""Which code a savepoint or a run came from: the git commit and the feature view versions."""

from __future__ import annotations

import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from common.features.sql import FeatureJob

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class CodeVersion:
    """The version of a job's code.

    Attributes:
        git_commit: ``git rev-parse HEAD`` of the checkout, or ``unknown`` outside git.
        git_dirty: Uncommitted changes to tracked files at the time.
        views: The job's views as ``<view>.v<N>``: what the state belongs to.
    """

    git_commit: str
    git_dirty: bool
    views: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**asdict(self), "views": list(self.views)}

    @property
    def short(self) -> str:
        """``<12-char commit>[+dirty] <view versions>``, for listings."""
        dirty = "+dirty" if self.git_dirty else ""
        return f"{self.git_commit[:12]}{dirty} {','.join(self.views)}"


def _git(*args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", *args], capture_output=True, text=True, cwd=REPO_ROOT, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def code_version(job: FeatureJob) -> CodeVersion:
    """The current checkout's version of ``job``."""
    commit = _git("rev-parse", "HEAD") or "unknown"
    status = _git("status", "--porcelain", "--untracked-files=no")
    return CodeVersion(
        git_commit=commit,
        git_dirty=bool(status),
        views=tuple(v.qualified_name for v in job.views),
    )


def from_dict(data: dict[str, Any]) -> CodeVersion:
    """The inverse of ``CodeVersion.as_dict`` (missing fields read as unknown)."""
    return CodeVersion(
        git_commit=str(data.get("git_commit", "unknown")),
        git_dirty=bool(data.get("git_dirty", False)),
        views=tuple(data.get("views", ())),
    )
