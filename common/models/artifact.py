"""A trained model artefact: the estimator, the contract it was trained for, and how it scores.

An artefact is a directory written by ``featurestream train``::

    model.skops     the fitted scikit-learn estimator (skops: loading runs no pickled code)
    contract.json   model name and version, the ordered inputs (name, ref, type), the estimator
                    and what its score means
    metrics.json    what training measured (``common.models.training``)

``load_artifact(directory, contract)`` refuses an artefact whose inputs are not the contract's,
in the contract's order: a model fed its features in another order scores garbage silently.
The score of a classifier is the probability of the positive label; of an ``IsolationForest``
(trained without labels) the anomaly score ``-score_samples``, in (0, 1], higher = more unusual.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import skops.io as sio
from sklearn.base import is_classifier

from common.local.artifacts import sha256_of
from common.models.contract import ModelContract

MODEL_FILE = "model.skops"
CONTRACT_FILE = "contract.json"
METRICS_FILE = "metrics.json"
TRUSTED_MODULES = ("sklearn.", "numpy.", "builtins.")
"""skops constructs only the types it is told to trust; these are trusted, nothing else."""


class ArtifactError(ValueError):
    """An artefact is missing, unreadable, or was trained for other inputs than the contract's."""


def contract_inputs(contract: ModelContract) -> list[dict[str, str]]:
    """The ordered inputs as ``contract.json`` records them."""
    return [{"name": i.name, "ref": i.ref, "type": i.type} for i in contract.inputs]


def feature_frame(columns: Mapping[str, Any], contract: ModelContract) -> pd.DataFrame:
    """The model's feature matrix: the contract's inputs, in contract order, as float64.

    Nulls become NaN (both estimators handle them natively), booleans 0/1, longs exact up to
    2**53. Used by training and by scoring, so both feed the estimator the same way.

    Args:
        columns: Column name → values (a DataFrame, or a dict of Series/arrays).
        contract: Whose inputs to take.

    Raises:
        ArtifactError: a column is missing (all missing ones named) or an input is a string
            (the reference models have no encoding for categories).
    """
    names = contract.input_names
    missing = [n for n in names if n not in columns]
    if missing:
        raise ArtifactError(
            f"model {contract.qualified_name}: input columns {missing} are missing "
            f"(need {len(names)} columns named by the contract's inputs, in any order)"
        )
    strings = [i.ref for i in contract.inputs if i.type == "string"]
    if strings:
        raise ArtifactError(
            f"model {contract.qualified_name}: string inputs {strings} have no numeric encoding "
            "in the reference models"
        )
    return pd.DataFrame(
        {n: pd.to_numeric(pd.Series(columns[n]), errors="raise").astype("float64") for n in names}
    )


@dataclass(frozen=True)
class Artifact:
    """A loaded artefact, checked against its contract.

    Attributes:
        directory: Where it was loaded from.
        contract: The contract it scores for.
        estimator: The fitted scikit-learn estimator.
        sha256: SHA-256 of ``model.skops`` (``InferenceResult.model_artifact``).
        metadata: ``contract.json`` as written by training.
    """

    directory: Path
    contract: ModelContract
    estimator: Any
    sha256: str
    metadata: Mapping[str, Any]

    @property
    def is_classifier(self) -> bool:
        """True for a classifier (score = probability), False for an anomaly detector."""
        return bool(is_classifier(self.estimator))

    def score(self, features: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.float64]]:
        """One score per row of ``features`` (from ``feature_frame``)."""
        if self.is_classifier:
            positive = list(self.estimator.classes_).index(True)
            probabilities = self.estimator.predict_proba(features)
            return np.asarray(probabilities[:, positive], dtype=np.float64)
        return np.asarray(-self.estimator.score_samples(features), dtype=np.float64)


def save_artifact(
    directory: Path, contract: ModelContract, estimator: Any, description: Mapping[str, Any]
) -> Path:
    """Write ``model.skops`` and ``contract.json``; returns the model file's path."""
    directory.mkdir(parents=True, exist_ok=True)
    model_path = directory / MODEL_FILE
    sio.dump(estimator, model_path)
    metadata = {
        "model": contract.name,
        "version": contract.version,
        "inputs": contract_inputs(contract),
        **description,
    }
    (directory / CONTRACT_FILE).write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    return model_path


def _first_difference(have: Sequence[Any], want: Sequence[Any]) -> str:
    for position, (a, b) in enumerate(zip(have, want, strict=False)):
        if a != b:
            return f"position {position}: artefact has {a}, contract has {b}"
    return f"artefact has {len(have)} inputs, contract has {len(want)}"


def load_artifact(directory: Path, contract: ModelContract) -> Artifact:
    """Load the artefact in ``directory`` and check that it was trained for ``contract``.

    Raises:
        ArtifactError: a file is missing, the artefact names another model or version, its
            inputs differ from the contract's (name, type or order; the first difference is
            named), or ``model.skops`` holds types other than scikit-learn's and numpy's.
    """
    where = f"artefact {directory}"
    model_path, contract_path = directory / MODEL_FILE, directory / CONTRACT_FILE
    for path in (model_path, contract_path):
        if not path.is_file():
            raise ArtifactError(f"{where}: no {path.name} (train one with `featurestream train`)")
    metadata = json.loads(contract_path.read_text(encoding="utf-8"))
    if (metadata.get("model"), metadata.get("version")) != (contract.name, contract.version):
        raise ArtifactError(
            f"{where} is for model {metadata.get('model')} v{metadata.get('version')}, "
            f"not {contract.qualified_name}"
        )
    recorded = metadata.get("inputs", [])
    if recorded != contract_inputs(contract):
        raise ArtifactError(
            f"{where} was trained on other inputs than contract {contract.qualified_name} "
            f"(inputs must match in name, type and order): "
            + _first_difference(
                [f"{i.get('ref')} ({i.get('type')})" for i in recorded],
                [f"{i.ref} ({i.type})" for i in contract.inputs],
            )
        )
    untrusted = sio.get_untrusted_types(file=model_path)
    foreign = [t for t in untrusted if not t.startswith(TRUSTED_MODULES)]
    if foreign:
        raise ArtifactError(f"{where}: {MODEL_FILE} holds types that are not trusted: {foreign}")
    estimator = sio.load(model_path, trusted=untrusted)
    fitted = [str(n) for n in getattr(estimator, "feature_names_in_", [])]
    if fitted != contract.input_names:
        raise ArtifactError(
            f"{where}: the estimator was fitted on features {fitted}, not the contract's "
            f"{contract.input_names}"
        )
    return Artifact(
        directory=directory,
        contract=contract,
        estimator=estimator,
        sha256=sha256_of(model_path),
        metadata=metadata,
    )
