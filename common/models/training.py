"""Training the reference model of a contract from its offline training rows.

``featurestream train payment_fraud --input rows.parquet --labels labels.parquet --output dir``:

1. The feature matrix: the contract's inputs, in contract order, from the input Parquet (one
   row per event: ``event_id``, ``event_time``, entity keys, one column per input).
2. Labels (when given): joined on ``event_id`` = the trigger's id column (``payment_id``).
   Every row must have a label; coverage is reported either way.
3. A held-out split by time: the last ``test_fraction`` of event time is the test set, and no
   training row is as late as any test row (no leakage from the future).
4. With labels, a ``HistGradientBoostingClassifier`` (nulls handled natively); its test AUC is
   reported beside two baselines from the same split: a constant score (0.5) and the single
   raw input that ranks best on the training rows. Without labels (``trade_anomaly``), an
   ``IsolationForest`` whose score is the anomaly score; no AUC then, only the held-out score
   distribution.
5. ``model.skops``, ``contract.json`` (``common.models.artifact``), ``metrics.json`` and
   ``profile.json`` (each input's distribution on the training part: ``common.models.profile``).

The model is fitted on the training part only, so the reported AUC is that of the shipped model.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import sklearn
import skops
from sklearn.ensemble import HistGradientBoostingClassifier, IsolationForest
from sklearn.metrics import roc_auc_score

from common.local.artifacts import sha256_of
from common.models.artifact import (
    METRICS_FILE,
    ArtifactError,
    feature_frame,
    save_artifact,
)
from common.models.contract import ModelContract
from common.models.profile import PROFILE_FILE, feature_profile

DEFAULT_TEST_FRACTION = 0.25
DEFAULT_LABEL_COLUMN = "is_fraud"
DEFAULT_SEED = 1
ID_COLUMN = "event_id"
TIME_COLUMN = "event_time"


class TrainingError(ValueError):
    """The training input cannot give a meaningful model; the message says why."""


@dataclass(frozen=True)
class Split:
    """Train and test row positions of a time split, and the instant between them."""

    train: np.ndarray[Any, np.dtype[np.bool_]]
    cutoff: pd.Timestamp

    @property
    def test(self) -> np.ndarray[Any, np.dtype[np.bool_]]:
        """Rows at or after the cutoff."""
        return ~self.train


def time_split(times: pd.Series, test_fraction: float) -> Split:
    """Rows before the cutoff train, the rest test; ties at the cutoff all go to test.

    The cutoff is the event time at which the last ``test_fraction`` of rows (by event time)
    begins.

    Raises:
        TrainingError: either side would be empty.
    """
    if not 0 < test_fraction < 1:
        raise TrainingError(f"test fraction {test_fraction} must be between 0 and 1")
    ordered = times.sort_values(kind="stable").reset_index(drop=True)
    cut = len(ordered) - max(1, round(len(ordered) * test_fraction))
    if cut <= 0:
        raise TrainingError(f"{len(ordered)} rows are too few to hold some out")
    cutoff = ordered.iloc[cut]
    train = (times < cutoff).to_numpy()
    if not train.any():
        raise TrainingError(f"every row is at or after the cutoff {cutoff}: nothing to train on")
    return Split(train=train, cutoff=cutoff)


def join_labels(
    rows: pd.DataFrame, labels: pd.DataFrame, id_column: str, label_column: str
) -> tuple[np.ndarray[Any, np.dtype[np.bool_]], dict[str, Any]]:
    """The label of every row (by ``event_id`` = ``labels[id_column]``) and the coverage.

    Raises:
        TrainingError: a label column is missing, an id is labelled twice, or some rows have
            no label (coverage and example ids in the message).
    """
    missing = [c for c in (id_column, label_column) if c not in labels.columns]
    if missing:
        raise TrainingError(f"labels have no column(s) {missing}; they have {list(labels.columns)}")
    if labels[id_column].duplicated().any():
        twice = labels.loc[labels[id_column].duplicated(), id_column].head(3).tolist()
        raise TrainingError(f"labels name some {id_column}s twice, e.g. {twice}")
    by_id = pd.Series(labels[label_column].to_numpy(), index=labels[id_column].to_numpy())
    matched = rows[ID_COLUMN].map(by_id)
    covered = int(matched.notna().sum())
    coverage = {
        "rows": len(rows),
        "labelled_rows": covered,
        "coverage": covered / len(rows) if len(rows) else 0.0,
        "label_rows": len(labels),
        "labels_without_row": len(labels) - covered,
    }
    if covered < len(rows):
        examples = rows.loc[matched.isna(), ID_COLUMN].head(3).tolist()
        raise TrainingError(
            f"labels cover {covered:,} of {len(rows):,} rows ({coverage['coverage']:.1%}); "
            f"unlabelled event ids, e.g. {examples}: labels must come from the same events"
        )
    return matched.astype(bool).to_numpy(), coverage


def _auc(labels: np.ndarray[Any, Any], scores: np.ndarray[Any, Any]) -> float:
    return float(roc_auc_score(labels, scores))


def _ranked(values: pd.Series) -> np.ndarray[Any, Any]:
    """A raw input as a score: nulls rank below every value."""
    floor = values.min() - 1.0 if values.notna().any() else 0.0
    return np.asarray(values.fillna(floor).to_numpy(), dtype=np.float64)


def best_raw_input(
    features: pd.DataFrame, labels: np.ndarray[Any, Any], split: Split
) -> dict[str, Any] | None:
    """The single input (either direction) with the best training AUC, and its test AUC."""
    best: dict[str, Any] | None = None
    train, test = split.train, split.test
    for name in features.columns:
        column = features[name]
        if column[train].nunique() < 2:
            continue  # a constant ranks nothing
        train_auc = _auc(labels[train], _ranked(column[train]))
        sign = 1.0 if train_auc >= 0.5 else -1.0
        train_auc = max(train_auc, 1.0 - train_auc)
        if best is None or train_auc > best["train_auc"]:
            best = {
                "input": name,
                "direction": "higher is positive" if sign > 0 else "lower is positive",
                "train_auc": train_auc,
                "test_auc": _auc(labels[test], sign * _ranked(column[test])),
            }
    return best


def _split_metrics(split: Split, times: pd.Series, test_fraction: float) -> dict[str, Any]:
    def span(mask: np.ndarray[Any, Any]) -> list[str]:
        return [times[mask].min().isoformat(), times[mask].max().isoformat()]

    return {
        "method": "time: the last test_fraction of event time is held out",
        "test_fraction": test_fraction,
        "cutoff_event_time": split.cutoff.isoformat(),
        "train_rows": int(split.train.sum()),
        "test_rows": int(split.test.sum()),
        "train_event_time": span(split.train),
        "test_event_time": span(split.test),
    }


def _classifier(
    features: pd.DataFrame, labels: np.ndarray[Any, Any], split: Split, seed: int
) -> tuple[HistGradientBoostingClassifier, dict[str, Any]]:
    train, test = split.train, split.test
    for side, mask in (("training", train), ("held-out", test)):
        positives = int(labels[mask].sum())
        if positives in (0, int(mask.sum())):
            raise TrainingError(
                f"the {side} rows hold {positives} positives of {int(mask.sum())}: both classes "
                "are needed (more events, or another --test-fraction)"
            )
    model = HistGradientBoostingClassifier(random_state=seed)
    model.fit(features[train], labels[train])
    positive = list(model.classes_).index(True)
    test_scores = model.predict_proba(features[test])[:, positive]
    train_scores = model.predict_proba(features[train])[:, positive]
    metrics = {
        "auc": {
            "test": _auc(labels[test], test_scores),
            "train": _auc(labels[train], train_scores),
        },
        "baseline": {
            "constant_auc": 0.5,
            "best_single_input": best_raw_input(features, labels, split),
        },
        "positives": {"train": int(labels[train].sum()), "test": int(labels[test].sum())},
    }
    return model, metrics


def _anomaly_detector(
    features: pd.DataFrame, split: Split, seed: int
) -> tuple[IsolationForest, dict[str, Any]]:
    model = IsolationForest(random_state=seed)
    model.fit(features[split.train])
    scores = -model.score_samples(features[split.test])
    quantiles = np.quantile(scores, [0.5, 0.9, 0.99])
    metrics = {
        "auc": None,
        "test_score": {
            "p50": float(quantiles[0]),
            "p90": float(quantiles[1]),
            "p99": float(quantiles[2]),
            "max": float(scores.max()),
        },
    }
    return model, metrics


def train(
    contract: ModelContract,
    rows: pd.DataFrame,
    labels: pd.DataFrame | None,
    *,
    seed: int = DEFAULT_SEED,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    label_column: str = DEFAULT_LABEL_COLUMN,
) -> tuple[Any, dict[str, Any]]:
    """Fit the reference model of ``contract`` on ``rows``; the estimator and its metrics.

    Args:
        contract: The model contract (inputs and their order).
        rows: Training rows: ``event_id``, ``event_time`` and one column per contract input.
        labels: The trigger's id column and ``label_column``; None trains an IsolationForest.
        seed: Seed of the estimator.
        test_fraction: Share of rows, latest event time first, held out for evaluation.
        label_column: The boolean label's column in ``labels``.

    Raises:
        TrainingError: see ``time_split``, ``join_labels``; a side without both classes.
        ArtifactError: an input column is missing (``feature_frame``).
    """
    missing = [c for c in (ID_COLUMN, TIME_COLUMN) if c not in rows.columns]
    if missing:
        raise ArtifactError(f"training rows have no column(s) {missing}")
    features = feature_frame(rows, contract)
    times = pd.to_datetime(rows[TIME_COLUMN], utc=True)
    split = time_split(times, test_fraction)
    metrics: dict[str, Any] = {
        "model": contract.name,
        "version": contract.version,
        "feature_order": contract.input_names,
        "rows": len(rows),
        "split": _split_metrics(split, times, test_fraction),
        "seed": seed,
    }
    if labels is not None:
        truth, coverage = join_labels(rows, labels, contract.trigger.id_column, label_column)
        model, measured = _classifier(features, truth, split, seed)
        metrics["labels"] = {**coverage, "column": label_column}
        metrics["estimator"] = "HistGradientBoostingClassifier"
        metrics["score"] = f"probability that {label_column} is true"
    else:
        model, measured = _anomaly_detector(features, split, seed)
        metrics["estimator"] = "IsolationForest"
        metrics["score"] = "anomaly score (-score_samples): in (0, 1], higher is more unusual"
    metrics.update(measured)
    # What the model was fitted on, for `featurestream quality` (train_files writes it apart).
    metrics["profile"] = {
        "model": contract.name,
        "version": contract.version,
        "rows": int(split.train.sum()),
        "features": {
            i.name: feature_profile(
                pd.to_numeric(features.loc[split.train, i.name], errors="coerce")
                .astype("float64")
                .tolist()
            )
            for i in contract.inputs
            if i.type != "string"  # categories have no bins (not profiled)
        },
    }
    return model, metrics


def _read_parquet(path: Path, what: str) -> pd.DataFrame:
    if not path.is_file():
        raise TrainingError(f"{what} {path} does not exist")
    frame: pd.DataFrame = pq.read_table(path).to_pandas()
    return frame


def train_files(
    contract: ModelContract,
    input_path: Path,
    labels_path: Path | None,
    output: Path,
    *,
    seed: int = DEFAULT_SEED,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    label_column: str = DEFAULT_LABEL_COLUMN,
) -> dict[str, Any]:
    """``train`` from Parquet files into the artefact directory ``output``; the metrics."""
    rows = _read_parquet(input_path, "training input")
    labels = _read_parquet(labels_path, "labels") if labels_path else None
    model, metrics = train(
        contract, rows, labels, seed=seed, test_fraction=test_fraction, label_column=label_column
    )
    metrics["training_input"] = {"path": str(input_path), "sha256": sha256_of(input_path)}
    if labels_path:
        metrics["labels_input"] = {"path": str(labels_path), "sha256": sha256_of(labels_path)}
    metrics["versions"] = {"scikit-learn": sklearn.__version__, "skops": skops.__version__}
    metrics["trained_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    model_path = save_artifact(
        output, contract, model, {"estimator": metrics["estimator"], "score": metrics["score"]}
    )
    metrics["artifact_sha256"] = sha256_of(model_path)
    (output / PROFILE_FILE).write_text(
        json.dumps(_finite(metrics.pop("profile")), indent=1) + "\n", encoding="utf-8"
    )
    (output / METRICS_FILE).write_text(
        json.dumps(_finite(metrics), indent=2) + "\n", encoding="utf-8"
    )
    return metrics


def _finite(value: Any) -> Any:
    """JSON has no NaN: a NaN metric (undefined) is written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def summary_line(metrics: Mapping[str, Any]) -> str:
    """One line for the CLI: rows, split, AUC against the baselines."""
    split = metrics["split"]
    line = (
        f"{metrics['model']} v{metrics['version']}: {metrics['estimator']} on "
        f"{split['train_rows']:,} rows, held out {split['test_rows']:,} from "
        f"{split['cutoff_event_time']}"
    )
    if metrics.get("auc"):
        best = metrics["baseline"]["best_single_input"]
        baseline = f"; best single input {best['input']} {best['test_auc']:.3f}" if best else ""
        line += (
            f"; held-out AUC {metrics['auc']['test']:.3f} (constant 0.500{baseline}); "
            f"positives {metrics['positives']['train']:,} train / "
            f"{metrics['positives']['test']:,} test; labels cover "
            f"{metrics['labels']['coverage']:.1%} of rows"
        )
    else:
        scores = metrics["test_score"]
        line += f"; held-out anomaly score p50 {scores['p50']:.3f}, p99 {scores['p99']:.3f}"
    return line
