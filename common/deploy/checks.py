"""Every check a rendered release passes before it is applied: schemas and admission rules."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from common.deploy import admission, crd_schema


@cache
def _schemas() -> dict[crd_schema.ResourceKind, dict[str, Any]]:
    return crd_schema.load_schemas()


def problems(
    resources: list[dict[str, Any]], previous: Mapping[str, Any] | None = None
) -> list[str]:
    """Schema violations and admission violations of rendered resources ([] when all pass).

    Args:
        resources: The rendered resources.
        previous: The live FlinkDeployment they replace, if any (some rules compare).
    """
    found: list[str] = []
    for resource in resources:
        found += crd_schema.validate(_schemas(), resource)
        found += [str(v) for v in admission.check(resource, previous)]
    return found
