"""Which code a savepoint or a run came from: the code version and the state's view versions."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from common import version
from common.features.sql import FeatureJob

if TYPE_CHECKING:
    from common.models.request_sql import InferenceJob


@dataclass(frozen=True)
class CodeVersion:
    """The version of a job's code.

    Attributes:
        code: ``common.version.code_version()``: ``<release>+g<commit>[.dirty]`` (what jobs
            stamp on their output too).
        views: The job's views as ``<view>.v<N>`` (the inference job: its models as
            ``<model>.v<N>``): what the state belongs to.
    """

    code: str
    views: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**asdict(self), "views": list(self.views)}

    @property
    def short(self) -> str:
        """``<code version> <view versions>``, for listings."""
        return f"{self.code} {','.join(self.views)}"


def code_version(job: FeatureJob | InferenceJob) -> CodeVersion:
    """The running checkout's (or image's) version of ``job``."""
    parts = job.views if isinstance(job, FeatureJob) else job.models
    return CodeVersion(code=version.code_version(), views=tuple(p.qualified_name for p in parts))


def from_dict(data: dict[str, Any]) -> CodeVersion:
    """The inverse of ``CodeVersion.as_dict`` (missing fields read as unknown)."""
    return CodeVersion(code=str(data.get("code", "unknown")), views=tuple(data.get("views", ())))
