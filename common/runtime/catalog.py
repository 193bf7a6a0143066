"""The jobs of this repository: every ``jobs/<job>/job.py`` that defines ``JOB``.

``JOB`` is a ``FeatureJob`` (feature views compiled to SQL) or an ``InferenceJob`` (model
contracts); other jobs (``model_scoring``) have drivers of their own and no ``JOB``.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from common.features.definitions import DefinitionError
from common.features.sql import FeatureJob
from common.models.request_sql import InferenceJob

JOBS_DIR = Path(__file__).resolve().parents[2] / "jobs"


def all_job_names() -> list[str]:
    """Names of every job (folders of ``jobs/`` with a ``job.py``)."""
    return sorted(p.parent.name for p in JOBS_DIR.glob("*/job.py"))


def _job_object(name: str) -> object:
    return getattr(importlib.import_module(f"jobs.{name}.job"), "JOB", None)


def job_names() -> list[str]:
    """Names of the feature jobs (``JOB = FeatureJob(...)``)."""
    return [n for n in all_job_names() if isinstance(_job_object(n), FeatureJob)]


def runnable_job_names() -> list[str]:
    """Names of the jobs ``featurestream run`` starts (feature jobs and the inference job)."""
    return [n for n in all_job_names() if isinstance(_job_object(n), FeatureJob | InferenceJob)]


def load_job(name: str) -> FeatureJob:
    """The ``FeatureJob`` of ``jobs/<name>/job.py``.

    Raises:
        DefinitionError: no such feature job.
    """
    job = _job_object(name) if name in all_job_names() else None
    if not isinstance(job, FeatureJob):
        raise DefinitionError(f"no feature job {name!r}; known: {', '.join(job_names())}")
    return job


def load_runnable(name: str) -> FeatureJob | InferenceJob:
    """The ``JOB`` of ``jobs/<name>/job.py``: a feature job or the inference job.

    Raises:
        DefinitionError: no such job.
    """
    job = _job_object(name) if name in all_job_names() else None
    if not isinstance(job, FeatureJob | InferenceJob):
        known = ", ".join(runnable_job_names())
        raise DefinitionError(f"no job {name!r} to run; known: {known}")
    return job
