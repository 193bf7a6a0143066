"""The scoring job's pieces without Flink: batch scoring with row-level errors, the SQL."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

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
from common.models.profile import PROFILE_FILE, feature_profile
from jobs.inference_requests.models import PAYMENT_FRAUD
from jobs.model_scoring.scoring import compile_scoring
from jobs.model_scoring.udf import ModelScore, score_batch

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


class _Group:
    """A PyFlink metric group that records what is registered (``add_group`` key-value pairs
    as ``key=value`` path parts)."""

    def __init__(self, path: str = "", gauges: dict[str, Any] | None = None) -> None:
        self.path, self.gauges = path, {} if gauges is None else gauges

    def add_group(self, name: str, extra: str | None = None) -> _Group:
        part = name if extra is None else f"{name}={extra}"
        return _Group(f"{self.path}/{part}", self.gauges)

    def counter(self, name: str) -> Any:
        return type("C", (), {"inc": lambda self, n=1: None})()

    def gauge(self, name: str, obj: Any) -> None:
        self.gauges[f"{self.path}/{name}"] = obj


def test_the_scoring_function_exports_drift_against_the_training_profile(
    strict_artifact: Path, tmp_path: Path
) -> None:
    directory = tmp_path / "artefact"
    shutil.copytree(strict_artifact, directory)
    columns = _columns(2_000)
    profile = {
        "model": "payment_fraud",
        "version": 1,
        "features": {c.name: feature_profile(c.tolist()) for c in columns},
    }
    (directory / PROFILE_FILE).write_text(json.dumps(profile))
    function = ModelScore("payment_fraud", 1, str(directory))
    group = _Group()
    context = type("Context", (), {"get_metric_group": lambda self: group})()
    function.open(context)
    psi = group.gauges["/featurestream/feature=card_txn_count_1h/psiMilli"]
    nulls = group.gauges["/featurestream/feature=merchant_txn_count_1h/nullRiseMilli"]
    function.eval(*[c.fillna(0) for c in _columns(1_000, seed=3)])
    assert psi() < 100  # the same distribution (nulls aside)
    assert nulls() == 0
    shifted = []
    for column in _columns(5_000, seed=4):
        if column.name == "card_txn_count_1h":
            column = column * 10
        if column.name == "merchant_txn_count_1h":
            column = pd.Series(np.nan, index=column.index, name=column.name)
        shifted.append(column)
    function.eval(*shifted)
    assert psi() < 100  # compared at most every 10 s: the gauges hold the last comparison
    assert function._drift is not None and function._drift.refresh(force=True)
    assert psi() > 1_000
    assert nulls() > 800  # every value null now, about 10 % in training
