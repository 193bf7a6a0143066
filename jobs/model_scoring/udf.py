"""The scoring function: a vectorised (pandas) Python UDF around a model artefact.

Flink hands the function a batch of requests as one pandas Series per contract input (Arrow
batches of up to ``python.fn-execution.arrow.batch.size`` rows); the artefact is loaded once per
Python worker in ``open``. Rows the model cannot score never fail the job (a failure would
restart it on the same rows: a crash loop): they get ``score = null`` and ``error`` set and are
counted in the ``featurestream.scoreErrors`` metric.

When the artefact has a training profile (``profile.json``, written by ``train``), each worker
also keeps its last scored values of every profiled input and exports their drift against it
as gauges ``featurestream.feature.<input>.psiMilli`` and ``.nullRiseMilli`` (thousandths:
PyFlink gauges are integers), which the chart's drift alerts read. The comparison runs in
``eval`` at most every 10 s; the gauges only read its result.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pyflink.table import DataTypes
from pyflink.table.udf import FunctionContext, ScalarFunction, udf

from common.models import catalog
from common.models.artifact import Artifact, feature_frame, load_artifact
from common.models.profile import RollingDrift
from common.models.quality import QualityError, load_profile

RESULT_TYPE = DataTypes.ROW(
    [
        DataTypes.FIELD("score", DataTypes.DOUBLE()),
        DataTypes.FIELD("error", DataTypes.STRING()),
        DataTypes.FIELD("model_artifact", DataTypes.STRING()),
        DataTypes.FIELD("scored_ms", DataTypes.BIGINT()),
    ]
)
MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class Scored:
    """Scores of one batch: NaN where ``errors`` holds the reason."""

    scores: np.ndarray[Any, np.dtype[np.float64]]
    errors: list[str | None]


def _reason(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]


def score_batch(artifact: Artifact, columns: Sequence[pd.Series]) -> Scored:
    """Score one batch (one Series per contract input, in contract order).

    The whole batch is scored at once; if the model refuses it, each row is scored alone so that
    only the rows it cannot score get an error. A non-finite score is an error too.
    """
    names = artifact.contract.input_names
    count = len(columns[0]) if columns else 0
    scores = np.full(count, np.nan)
    errors: list[str | None] = [None] * count
    try:
        features = feature_frame(dict(zip(names, columns, strict=True)), artifact.contract)
    except Exception as exc:  # every row shares the cause
        return Scored(scores, [_reason(exc)] * count)
    try:
        scores = artifact.score(features)
    except Exception:
        for row in range(count):
            try:
                scores[row] = artifact.score(features.iloc[row : row + 1])[0]
            except Exception as exc:
                errors[row] = _reason(exc)
    for row in np.flatnonzero(~np.isfinite(scores)):
        errors[row] = errors[row] or f"model returned a non-finite score ({scores[row]})"
        scores[row] = np.nan
    return Scored(scores, errors)


class ModelScore(ScalarFunction):  # type: ignore[misc]  # pyflink is untyped
    """``fs_score(<every contract input, in order>)`` → ROW(score, error, model_artifact,
    scored_ms).

    Args:
        model: Contract name.
        version: Contract version.
        model_path: The artefact directory, readable by every TaskManager.
    """

    def __init__(self, model: str, version: int, model_path: str) -> None:
        self.model = model
        self.version = version
        self.model_path = model_path
        self._artifact: Artifact | None = None
        self._load_error: str | None = None
        self._drift: RollingDrift | None = None

    def is_deterministic(self) -> bool:
        """No: ``scored_ms`` is the wall clock, so the planner must neither fold nor duplicate
        the call."""
        return False

    def open(self, function_context: FunctionContext) -> None:
        """Load the artefact once per worker; register the metrics."""
        group = function_context.get_metric_group().add_group("featurestream")
        self._errors = group.counter("scoreErrors")
        self._scored = group.counter("rowsScored")
        try:
            contract = catalog.contract(self.model, self.version)
            self._artifact = load_artifact(Path(self.model_path), contract)
            self._drift = _drift_gauges(group, Path(self.model_path), self._artifact)
        except Exception as exc:
            # The driver checked the artefact before submitting; if a worker still cannot load
            # it, every row says so (counted) rather than the job restarting without end.
            self._load_error = f"model artefact not loaded: {_reason(exc)}"

    def eval(self, *columns: pd.Series) -> pd.DataFrame:
        """Score a batch; one result row per request row."""
        count = len(columns[0])
        if self._artifact is None:
            scored = Scored(np.full(count, np.nan), [self._load_error] * count)
            artifact_id = ""
        else:
            scored = score_batch(self._artifact, columns)
            artifact_id = self._artifact.sha256
            if self._drift is not None:
                names = self._artifact.contract.input_names
                for name, column in zip(names, columns, strict=True):
                    if name in self._drift.features:
                        numbers = pd.to_numeric(column, errors="coerce").astype("float64")
                        self._drift.add(name, numbers.tolist())
                # Here, not in the gauges: PyFlink reads gauges as a bundle finishes, also
                # while the operator closes (decision 74).
                self._drift.refresh()
        failed = sum(e is not None for e in scored.errors)
        self._errors.inc(failed)
        self._scored.inc(count - failed)
        scored_ms = time.time_ns() // 1_000_000
        return pd.DataFrame(
            {
                "score": scored.scores,
                "error": pd.Series(scored.errors, dtype=object),
                "model_artifact": [artifact_id] * count,
                "scored_ms": np.full(count, scored_ms, dtype=np.int64),
            }
        )


def _drift_gauges(group: Any, model_path: Path, artifact: Artifact) -> RollingDrift | None:
    """Drift gauges per profiled input, when the artefact has a training profile."""
    try:
        profile = load_profile(model_path, artifact.contract)
    except QualityError:
        return None  # an artefact trained before profiles: no drift gauges
    drift = RollingDrift(profile["features"])
    for name in drift.features:
        feature = group.add_group("feature", name)
        # The gauges read the integers the last refresh stored: no work when they are read.
        feature.gauge("psiMilli", lambda n=name: drift.psi_milli(n))
        feature.gauge("nullRiseMilli", lambda n=name: drift.null_rise_milli(n))
    return drift


def score_function(model: str, version: int, model_path: str) -> Any:
    """The pandas UDF to register as ``fs_score``."""
    return udf(ModelScore(model, version, model_path), result_type=RESULT_TYPE, func_type="pandas")
