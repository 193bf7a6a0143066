"""The scoring job's pieces without Flink: batch scoring with row-level errors, the SQL."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from common.cli import main
from common.features.sql import JobSettings
from common.models.artifact import feature_frame, load_artifact, save_artifact
from jobs.inference_requests.models import PAYMENT_FRAUD
from jobs.model_scoring.scoring import compile_scoring
from jobs.model_scoring.udf import score_batch

SETTINGS = JobSettings(bootstrap_servers="k:9092", registry_url="http://r")


def _columns(rows: int, seed: int = 0) -> list[pd.Series]:
    """One Series per input, as Flink hands them to the UDF (nullable longs arrive as floats)."""
    rng = np.random.default_rng(seed)
    columns = []
    for item in PAYMENT_FRAUD.inputs:
        values = rng.integers(0, 100, rows).astype(float)
        values[rng.random(rows) < 0.1] = np.nan
        columns.append(pd.Series(values, name=item.name))
    return columns


@pytest.fixture(scope="module")
def strict_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real classifier whose first step refuses non-finite input, as a model error would."""
    columns = _columns(2_000)
    frame = feature_frame(dict(zip(PAYMENT_FRAUD.input_names, columns, strict=True)), PAYMENT_FRAUD)
    labels = frame["card_txn_count_10m"].fillna(0) > 50
    model = make_pipeline(
        FunctionTransformer(validate=True, accept_sparse=False, feature_names_out="one-to-one"),
        HistGradientBoostingClassifier(random_state=0),
    )
    model.fit(frame.fillna(0), labels)
    directory = tmp_path_factory.mktemp("strict")
    save_artifact(directory, PAYMENT_FRAUD, model, {"estimator": "Pipeline", "score": "test"})
    return directory


def test_a_batch_scores_as_the_artefact(strict_artifact: Path) -> None:
    artifact = load_artifact(strict_artifact, PAYMENT_FRAUD)
    columns = [c.fillna(0) for c in _columns(300, seed=1)]

    scored = score_batch(artifact, columns)

    features = feature_frame(
        dict(zip(PAYMENT_FRAUD.input_names, columns, strict=True)), PAYMENT_FRAUD
    )
    assert np.array_equal(scored.scores, artifact.score(features))
    assert scored.errors == [None] * 300


def test_rows_the_model_refuses_get_an_error_and_the_rest_a_score(strict_artifact: Path) -> None:
    artifact = load_artifact(strict_artifact, PAYMENT_FRAUD)
    columns = [c.fillna(0) for c in _columns(50, seed=2)]
    columns[6] = columns[6].copy()
    columns[6].iloc[[3, 17]] = np.inf  # a double input the validating step refuses

    scored = score_batch(artifact, columns)

    failed = [i for i, e in enumerate(scored.errors) if e is not None]
    assert failed == [3, 17]
    assert all("ValueError" in scored.errors[i] for i in failed)  # type: ignore[operator]
    assert np.isnan(scored.scores[failed]).all()
    ok = [i for i in range(50) if i not in failed]
    features = feature_frame(
        dict(zip(PAYMENT_FRAUD.input_names, columns, strict=True)), PAYMENT_FRAUD
    )
    assert np.array_equal(scored.scores[ok], artifact.score(features.iloc[ok]))


def test_sql_reads_committed_requests_and_writes_results_exactly_once() -> None:
    compiled = compile_scoring(PAYMENT_FRAUD, SETTINGS)
    source, sink = compiled.statements
    (insert,) = compiled.inserts

    assert "'topic' = 'inference.requests.payment_fraud.v1'" in source
    assert "'properties.isolation.level' = 'read_committed'" in source
    assert "'properties.group.id' = 'featurestream-model-scoring-payment-fraud'" in source
    assert "'value.format' = 'avro-confluent'" in source
    assert "PaymentFraudV1Request" in source  # the committed request schema as reader schema
    assert "'topic' = 'inference.results.payment_fraud.v1'" in sink
    assert "'sink.delivery-guarantee' = 'exactly-once'" in sink
    assert "InferenceResult" in sink
    inputs = ", ".join(f"`features`.`{n}`" for n in PAYMENT_FRAUD.input_names)
    assert f"fs_score({inputs})" in insert  # contract order
    assert list(compiled.sink_schemas) == ["inference.results.payment_fraud.v1"]
    suffixed = compile_scoring(PAYMENT_FRAUD, JobSettings("k", "r", topic_suffix=".t1"))
    assert "'topic' = 'inference.results.payment_fraud.v1.t1'" in suffixed.statements[1]


def test_score_refuses_an_artefact_of_other_inputs_before_submitting(
    strict_artifact: Path, tmp_path: Path
) -> None:
    empty = CliRunner().invoke(main, ["score", "payment_fraud", "--model-path", str(tmp_path)])
    other = CliRunner().invoke(
        main, ["score", "trade_anomaly", "--model-path", str(strict_artifact)]
    )

    assert empty.exit_code == 1 and "no model.skops" in empty.output
    assert (
        other.exit_code == 1
        and "is for model payment_fraud v1, not trade_anomaly.v1" in other.output
    )
