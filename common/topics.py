"""Topic names, in one place (conventions from ``../shared/DESIGN.md``)."""

from __future__ import annotations

TRADES = "trades"
PAYMENTS = "payments"


def dead_letter_topic(job: str) -> str:
    """``dlq.<job>``: where a job's rejected records go, with a reason."""
    return f"dlq.{job}"


def feature_topic(view: str, version: int) -> str:
    """``features.<view>.v<N>``: per-event feature records of one feature view version."""
    return f"features.{view}.v{version}"


def request_topic(model: str, version: int) -> str:
    """``inference.requests.<model>.v<N>``: one inference request per triggering event."""
    return f"inference.requests.{model}.v{version}"


def result_topic(model: str, version: int) -> str:
    """``inference.results.<model>.v<N>``: one scored result per request."""
    return f"inference.results.{model}.v{version}"
