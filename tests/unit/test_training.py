"""Training the reference models on frames built here: AUC on separable data and on noise,
the time split, label coverage, and the artefact's check against its contract."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from common.cli import main
from common.models import ModelContract
from common.models.artifact import ArtifactError, feature_frame, load_artifact
from common.models.training import TrainingError, time_split, train, train_files
from jobs.inference_requests.models import PAYMENT_FRAUD, TRADE_ANOMALY

ROWS = 4_000


def _frame(contract: ModelContract, rows: int = ROWS, seed: int = 0) -> pd.DataFrame:
    """Training rows shaped like the offline output: ids, time, keys, one column per input."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "request_id": [f"req-{i}" for i in range(rows)],
            "event_id": [f"pay-{i}" for i in range(rows)],
            "event_time": pd.date_range("2026-01-01", periods=rows, freq="s", tz="UTC"),
        }
    )
    for key in contract.entity_keys:
        frame[key] = [f"{key}-{i % 50}" for i in range(rows)]
    for item in contract.inputs:
        if item.type == "long":
            values = pd.array(rng.integers(0, 1_000, rows), dtype="Int64")
        else:
            values = pd.array(rng.normal(0, 1, rows), dtype="Float64")
        values[rng.random(rows) < 0.05] = pd.NA  # features without data are null
        frame[item.name] = values
    return frame


def _labels(frame: pd.DataFrame, is_fraud: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"payment_id": frame["event_id"], "is_fraud": is_fraud})


def _separable(frame: pd.DataFrame) -> np.ndarray:
    """Fraud = many payments on the card in 10 minutes (nulls are not fraud)."""
    return (frame["card_txn_count_10m"].fillna(0) > 800).to_numpy()


def test_auc_is_high_on_separable_data() -> None:
    frame = _frame(PAYMENT_FRAUD)

    _, metrics = train(PAYMENT_FRAUD, frame, _labels(frame, _separable(frame)))

    assert metrics["auc"]["test"] > 0.97
    best = metrics["baseline"]["best_single_input"]
    assert best["input"] == "card_txn_count_10m"  # the baseline finds the one signal too
    assert metrics["baseline"]["constant_auc"] == 0.5
    assert metrics["labels"]["coverage"] == 1.0
    assert metrics["positives"]["train"] + metrics["positives"]["test"] == _separable(frame).sum()


def test_auc_is_about_a_half_on_noise() -> None:
    frame = _frame(PAYMENT_FRAUD, rows=8_000, seed=1)
    noise = np.random.default_rng(2).random(len(frame)) < 0.2

    _, metrics = train(PAYMENT_FRAUD, frame, _labels(frame, noise))

    assert 0.42 < metrics["auc"]["test"] < 0.58
    assert metrics["auc"]["train"] > metrics["auc"]["test"]  # it fits noise it cannot carry over


def test_split_holds_out_the_latest_event_time() -> None:
    times = pd.Series(pd.to_datetime([5, 1, 3, 3, 2, 4, 3, 6], unit="s", utc=True))

    split = time_split(times, 0.5)

    train_times, test_times = times[split.train], times[split.test]
    assert train_times.max() < test_times.min()  # no training row as late as a test row
    assert split.cutoff == test_times.min()
    # The cutoff falls among the three rows at 3 s: all of them test, so 2 rows train, not 4.
    assert sorted(train_times.dt.second) == [1, 2]
    with pytest.raises(TrainingError, match="between 0 and 1"):
        time_split(times, 1.0)


def test_missing_labels_are_an_error_with_the_coverage() -> None:
    frame = _frame(PAYMENT_FRAUD, rows=1_000)
    labels = _labels(frame, _separable(frame)).iloc[:900]

    with pytest.raises(TrainingError, match=r"labels cover 900 of 1,000 rows \(90.0%\)"):
        train(PAYMENT_FRAUD, frame, labels)
    with pytest.raises(TrainingError, match="no column"):
        train(PAYMENT_FRAUD, frame, labels.rename(columns={"is_fraud": "label"}))


def test_missing_input_columns_are_named() -> None:
    frame = _frame(PAYMENT_FRAUD).drop(columns=["card_txn_count_1h", "merchant_txn_count_1h"])

    with pytest.raises(ArtifactError, match=r"\['card_txn_count_1h', 'merchant_txn_count_1h'\]"):
        train(PAYMENT_FRAUD, frame, _labels(frame, _separable(frame)))


def test_a_held_out_side_without_positives_is_refused() -> None:
    frame = _frame(PAYMENT_FRAUD, rows=1_000)
    early_only = np.arange(len(frame)) < 100

    with pytest.raises(TrainingError, match="held-out rows hold 0 positives"):
        train(PAYMENT_FRAUD, frame, _labels(frame, early_only))


def _write(tmp_path: Path, frame: pd.DataFrame, labels: pd.DataFrame | None) -> tuple[Path, Path]:
    rows = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), rows)
    label_file = tmp_path / "labels.parquet"
    if labels is not None:
        pq.write_table(pa.Table.from_pandas(labels, preserve_index=False), label_file)
    return rows, label_file


def test_artefact_records_the_contract_and_scores_like_the_estimator(tmp_path: Path) -> None:
    frame = _frame(PAYMENT_FRAUD)
    rows, label_file = _write(tmp_path, frame, _labels(frame, _separable(frame)))

    metrics = train_files(PAYMENT_FRAUD, rows, label_file, tmp_path / "model")

    artifact = load_artifact(tmp_path / "model", PAYMENT_FRAUD)
    features = feature_frame(frame, PAYMENT_FRAUD)
    expected = artifact.estimator.predict_proba(features)[:, 1]
    assert np.array_equal(artifact.score(features), expected)
    assert artifact.sha256 == metrics["artifact_sha256"]
    written = json.loads((tmp_path / "model" / "metrics.json").read_text())
    assert written["model"] == "payment_fraud" and written["version"] == 1
    assert written["feature_order"] == PAYMENT_FRAUD.input_names
    assert written["auc"]["test"] == metrics["auc"]["test"] > 0.97
    assert written["rows"] == ROWS
    assert written["training_input"]["sha256"] == metrics["training_input"]["sha256"]
    assert len(written["training_input"]["sha256"]) == 64
    assert written["versions"]["scikit-learn"] == "1.9.1"
    recorded = json.loads((tmp_path / "model" / "contract.json").read_text())
    assert [i["ref"] for i in recorded["inputs"]] == [i.ref for i in PAYMENT_FRAUD.inputs]


def test_loading_refuses_an_artefact_of_other_inputs(tmp_path: Path) -> None:
    frame = _frame(PAYMENT_FRAUD, rows=2_000)
    rows, label_file = _write(tmp_path, frame, _labels(frame, _separable(frame)))
    train_files(PAYMENT_FRAUD, rows, label_file, tmp_path / "model")
    first, second, *rest = PAYMENT_FRAUD.inputs
    swapped = dataclasses.replace(PAYMENT_FRAUD, inputs=(second, first, *rest))
    shorter = dataclasses.replace(PAYMENT_FRAUD, inputs=(first, second))
    newer = dataclasses.replace(PAYMENT_FRAUD, version=2)

    with pytest.raises(ArtifactError, match=r"position 0: artefact has event.amount_usd_cents"):
        load_artifact(tmp_path / "model", swapped)
    with pytest.raises(ArtifactError, match="artefact has 14 inputs, contract has 2"):
        load_artifact(tmp_path / "model", shorter)
    with pytest.raises(ArtifactError, match=r"not payment_fraud\.v2"):
        load_artifact(tmp_path / "model", newer)
    with pytest.raises(ArtifactError, match=r"no model\.skops"):
        load_artifact(tmp_path / "nothing", PAYMENT_FRAUD)


def test_without_labels_an_isolation_forest_scores_outliers_higher(tmp_path: Path) -> None:
    frame = _frame(TRADE_ANOMALY)
    outlier = frame.iloc[[-1]].copy()
    for item in TRADE_ANOMALY.inputs:
        outlier[item.name] = 10_000 if item.type == "long" else 50.0
    rows, _ = _write(tmp_path, pd.concat([frame, outlier], ignore_index=True), None)

    metrics = train_files(TRADE_ANOMALY, rows, None, tmp_path / "model")

    artifact = load_artifact(tmp_path / "model", TRADE_ANOMALY)
    scores = artifact.score(feature_frame(pd.concat([frame, outlier]), TRADE_ANOMALY))
    assert metrics["estimator"] == "IsolationForest" and metrics["auc"] is None
    assert scores[-1] > np.quantile(scores[:-1], 0.999)
    assert ((scores > 0) & (scores <= 1)).all()


def test_cli_trains_and_reports_auc_against_the_baselines(tmp_path: Path) -> None:
    frame = _frame(PAYMENT_FRAUD, rows=2_000)
    rows, label_file = _write(tmp_path, frame, _labels(frame, _separable(frame)))

    result = CliRunner().invoke(
        main,
        [
            "train",
            "payment_fraud",
            "--input",
            str(rows),
            "--labels",
            str(label_file),
            "--output",
            str(tmp_path / "m"),
        ],
    )

    assert result.exit_code == 0, result.output
    assert "held-out AUC" in result.output and "constant 0.500" in result.output
    assert "labels cover 100.0% of rows" in result.output
    assert (tmp_path / "m" / "model.skops").is_file()
    failed = CliRunner().invoke(
        main, ["train", "payment_fraud", "--input", str(tmp_path / "nope.parquet"), "--output", "x"]
    )
    assert failed.exit_code == 1 and "does not exist" in failed.output
