"""The model contracts of this repository: ``MODELS`` in ``jobs/inference_requests/models.py``."""

from __future__ import annotations

import importlib

from common.models.contract import ContractError, ModelContract

MODELS_MODULE = "jobs.inference_requests.models"


def contracts() -> list[ModelContract]:
    """Every declared contract, in declaration order."""
    module = importlib.import_module(MODELS_MODULE)
    return list(module.MODELS)


def contract(name: str, version: int | None = None) -> ModelContract:
    """The contract ``name`` (its highest version unless ``version`` is given).

    Raises:
        ContractError: no such model or version; the message lists the known ones.
    """
    matching = [c for c in contracts() if c.name == name]
    if version is not None:
        matching = [c for c in matching if c.version == version]
    if not matching:
        known = ", ".join(c.qualified_name for c in contracts())
        raise ContractError(
            f"no model contract {name!r}"
            + (f" v{version}" if version else "")
            + f"; known: {known}"
        )
    return max(matching, key=lambda c: c.version)
