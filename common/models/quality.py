"""``featurestream quality``: the online store's current feature values against the profile of
the rows a model was trained on (``common.models.profile``).

The current values are the stored vectors of each of the contract's views (a SCAN sample of up
to ``limit`` entities per view): what the model is served now. ``event.*`` inputs are columns
of the triggering event, not in the store, and are not compared.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from common.models.contract import EVENT, ModelContract
from common.models.profile import PROFILE_FILE, Drift, compare
from common.models.serving import parse_value
from common.online_store import OnlineStore


class QualityError(Exception):
    """No profile to compare with, or it is not this model's."""


def load_profile(model_path: Path, contract: ModelContract) -> dict[str, Any]:
    """The training profile in ``model_path`` (written by ``train``).

    Raises:
        QualityError: missing, or another model's.
    """
    path = model_path / PROFILE_FILE
    if not path.is_file():
        raise QualityError(f"{path} does not exist: train the model again (train writes it)")
    profile: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if (profile.get("model"), profile.get("version")) != (contract.name, contract.version):
        raise QualityError(
            f"{path} profiles {profile.get('model')} v{profile.get('version')}, "
            f"not {contract.qualified_name}"
        )
    return profile


def current_values(
    store: OnlineStore, contract: ModelContract, limit: int
) -> tuple[dict[str, list[Any]], dict[str, int]]:
    """Values of every stored input of ``contract`` (sampled per view) and vectors per view."""
    values: dict[str, list[Any]] = {}
    sampled: dict[str, int] = {}
    for view in contract.views:
        inputs = [i for i in contract.inputs if i.source_name == view.name]
        rows = store.sample(view.name, view.version, [i.name for i in inputs], limit)
        sampled[view.qualified_name] = len(rows)
        for position, spec in enumerate(inputs):
            values[spec.name] = [parse_value(row[position], spec.type) for row in rows]
    return values, sampled


def check(
    store: OnlineStore,
    contract: ModelContract,
    model_path: Path,
    *,
    limit: int,
    psi_threshold: float,
    null_rise: float,
) -> tuple[list[Drift], dict[str, int]]:
    """Drift of each stored input (event inputs left out) and the vectors sampled per view."""
    profile = load_profile(model_path, contract)
    stored = {i.name for i in contract.inputs if i.source_name != EVENT}
    baseline = {k: v for k, v in profile["features"].items() if k in stored}
    values, sampled = current_values(store, contract, limit)
    drifts = compare(baseline, values, psi_threshold=psi_threshold, null_rise=null_rise)
    return drifts, sampled
