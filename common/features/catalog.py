"""The feature jobs of this repository: every ``jobs/<job>/job.py`` beside a ``features.py``.

Other jobs (``model_scoring``, ``inference_requests``) have a ``job.py`` too but no feature
views: they are not compiled from definitions, so they are not feature jobs.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from common.features.definitions import DefinitionError
from common.features.sql import FeatureJob

JOBS_DIR = Path(__file__).resolve().parents[2] / "jobs"


def job_names() -> list[str]:
    """Names of the feature jobs (folders of ``jobs/`` with a ``job.py`` and a ``features.py``)."""
    return sorted(
        p.parent.name for p in JOBS_DIR.glob("*/job.py") if (p.parent / "features.py").is_file()
    )


def load_job(name: str) -> FeatureJob:
    """The ``FeatureJob`` of ``jobs/<name>/job.py``.

    Raises:
        DefinitionError: no such job, or its module defines no ``JOB``.
    """
    if name not in job_names():
        raise DefinitionError(f"no feature job {name!r}; known: {', '.join(job_names())}")
    module = importlib.import_module(f"jobs.{name}.job")
    job = getattr(module, "JOB", None)
    if not isinstance(job, FeatureJob):
        raise DefinitionError(f"jobs/{name}/job.py defines no JOB = FeatureJob(...)")
    return job
