"""The model_scoring job on the real stack: one result per request, scored as the artefact itself
scores, exactly once; a row the model cannot score is a result with an error, not a restart.

The model is trained here on generated payments' features (computed by the DuckDB reference,
which the feature-job tests prove equal to the jobs' own rows) with the generator's burst labels;
the requests are real Avro records in the Confluent wire format, as the request job writes them.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from common import registry, serde
from common.config import StackConfig
from common.generate.sinks import KafkaSink, ensure_topic
from common.local import flink_client
from common.models.artifact import feature_frame, load_artifact, save_artifact
from common.models.profile import PROFILE_FILE
from common.models.request_schema import request_id, schema_name, view_time_field
from common.runtime import metrics
from common.runtime.launch import RunOptions, wait_finished
from jobs.inference_requests.models import PAYMENT_FRAUD
from jobs.model_scoring import launch
from tests.integration.feature_checks import read_values, subject_versions
from tests.model_training import train_payment_fraud

pytestmark = pytest.mark.integration

REQUESTS = 3_000
TOLERANCE = 1e-12


def _feature(value: Any, avro_type: str) -> Any:
    if pd.isna(value):
        return None
    return int(value) if avro_type == "long" else float(value)


def _request(row: dict[str, Any], offset: int) -> dict[str, Any]:
    """The request the inference request job would write for one training row."""
    event_time = row["event_time"].to_pydatetime()
    times = {view_time_field(v.name, v.version): event_time for v in PAYMENT_FRAUD.views}
    return {
        "request_id": request_id(PAYMENT_FRAUD.name, PAYMENT_FRAUD.version, row["event_id"]),
        "model_name": PAYMENT_FRAUD.name,
        "model_version": PAYMENT_FRAUD.version,
        "event_id": row["event_id"],
        "event_time": event_time,
        "entity_keys": {k: row[k] for k in PAYMENT_FRAUD.entity_keys},
        "features": {n: None if pd.isna(row[n]) else row[n] for n in PAYMENT_FRAUD.input_names},
        "feature_times": times,
        "lineage": {
            "source_topic": "payments",
            "source_partition": 0,
            "source_offset": offset,
            "feature_views": [v.qualified_name for v in PAYMENT_FRAUD.views],
            "job": "inference_requests",
            "job_version": "test",
        },
        "request_time": event_time + timedelta(milliseconds=750),
    }


def _produce(config: StackConfig, topic: str, requests: list[dict[str, Any]]) -> None:
    ensure_topic(config, topic)
    reg = registry.ensure_registered(registry.client(config), topic, schema_name(PAYMENT_FRAUD))
    encoder = serde.Encoder(reg.schema_id, serde.load_schema(schema_name(PAYMENT_FRAUD)))
    sink = KafkaSink(config, topic)
    for record in requests:
        sink.send(record["request_id"].encode(), encoder.encode(record))
    assert sink.close() == 0


def _score(
    config: StackConfig,
    unique_topic: Any,
    requests: list[dict[str, Any]],
    model: Path,
    suffix: str,
    parallelism: int,
) -> str:
    """Produce ``requests`` to a topic of their own and score them, bounded; the job id."""
    source = unique_topic("inference.requests.payment_fraud.v1")
    _produce(config, source, requests)
    options = RunOptions(
        parallelism=parallelism,
        source_topic=source,
        topic_suffix=suffix,
        startup="earliest",
        bounded=True,
        group_id=f"test{suffix}",
    )
    job_id = launch.submit(config, PAYMENT_FRAUD, model, options)
    wait_finished(config, job_id, timeout_s=300)
    return job_id


def test_every_request_scored_once_as_the_artefact_scores(
    stack_config: StackConfig, unique_topic, tmp_path: Path
) -> None:
    config = stack_config
    frame, metrics = train_payment_fraud(tmp_path)
    assert metrics["auc"]["test"] > 0.8  # the bursts are learnable from the card's velocity
    artifact = load_artifact(tmp_path / "model", PAYMENT_FRAUD)

    scored = frame.tail(REQUESTS).reset_index(drop=True)
    requests = [_request(row, i) for i, row in enumerate(scored.to_dict("records"))]
    expected = dict(
        zip(
            (r["request_id"] for r in requests),
            artifact.estimator.predict_proba(feature_frame(scored, PAYMENT_FRAUD))[:, 1],
            strict=True,
        )
    )
    suffix = "." + unique_topic("score")
    job_id = _score(config, unique_topic, requests, tmp_path / "model", suffix, parallelism=2)

    result_topic = PAYMENT_FRAUD.result_topic + suffix
    results = read_values(config, result_topic)
    by_request: dict[str, dict[str, Any]] = {}
    for result in results:
        assert result["request_id"] not in by_request, f"duplicate {result['request_id']}"
        by_request[result["request_id"]] = result
    assert set(by_request) == set(expected)  # exactly one result per request
    sent = {r["request_id"]: r for r in requests}
    for rid, result in by_request.items():
        assert result["error"] is None, result
        assert abs(result["score"] - expected[rid]) <= TOLERANCE, (rid, result["score"])
        request = sent[rid]
        assert result["event_id"] == request["event_id"]
        assert (result["model_name"], result["model_version"]) == ("payment_fraud", 1)
        assert result["model_artifact"] == artifact.sha256
        assert result["event_time"] == request["event_time"]
        assert result["request_time"] == request["request_time"]
        assert result["scored_time"] >= request["request_time"]
    # Parallel writers found the result schema registered: no race, no restart.
    assert subject_versions(config, result_topic) == [1]
    assert flink_client.failures(config, job_id) == 0


def test_rows_the_model_cannot_score_get_an_error_and_no_restart(
    stack_config: StackConfig, unique_topic, tmp_path: Path
) -> None:
    config = stack_config
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "event_id": [f"pay-strict-{i}" for i in range(600)],
            "event_time": pd.date_range("2026-07-01", periods=600, freq="s", tz="UTC"),
            "card_id": "tok_strict",
            "merchant_id": "mer_strict",
            **{i.name: rng.integers(0, 100, 600) for i in PAYMENT_FRAUD.inputs},
        }
    )
    features = feature_frame(frame, PAYMENT_FRAUD)
    # A real model whose first step refuses non-finite values, as a model error would.
    model = make_pipeline(
        FunctionTransformer(validate=True, feature_names_out="one-to-one"),
        HistGradientBoostingClassifier(random_state=0),
    ).fit(features, features["card_txn_count_10m"] > 50)
    save_artifact(tmp_path / "strict", PAYMENT_FRAUD, model, {"estimator": "Pipeline"})
    artifact = load_artifact(tmp_path / "strict", PAYMENT_FRAUD)
    scored = frame.tail(40).reset_index(drop=True).astype({"card_amount_usd_avg_24h": float})
    scored.loc[[5, 20], "card_amount_usd_avg_24h"] = np.inf
    requests = [_request(row, i) for i, row in enumerate(scored.to_dict("records"))]
    suffix = "." + unique_topic("strict")
    job_id = _score(config, unique_topic, requests, tmp_path / "strict", suffix, parallelism=1)

    results = {r["event_id"]: r for r in read_values(config, PAYMENT_FRAUD.result_topic + suffix)}
    assert set(results) == set(scored["event_id"])  # the refused rows are results too
    refused = {scored["event_id"][5], scored["event_id"][20]}
    for event_id, result in results.items():
        if event_id in refused:
            assert result["score"] is None
            assert "ValueError" in result["error"] and "infinity" in result["error"]
        else:
            assert result["error"] is None
    finite = scored.drop(index=[5, 20])
    want = artifact.score(feature_frame(finite, PAYMENT_FRAUD))
    got = [results[e]["score"] for e in finite["event_id"]]
    assert np.allclose(got, want, rtol=0, atol=TOLERANCE)
    assert flink_client.failures(config, job_id) == 0  # no restart: no crash loop


def test_drift_gauges_reach_the_prometheus_reporter(
    stack_config: StackConfig, unique_topic, tmp_path: Path
) -> None:
    """The drift alert's series exist under the name the chart's rule queries, and move: requests
    whose card_txn_count_1h is ten times its training values show a large PSI."""
    config = stack_config
    frame, _ = train_payment_fraud(tmp_path)
    assert (tmp_path / "model" / PROFILE_FILE).is_file()
    scored = frame.tail(REQUESTS).reset_index(drop=True)
    scored["card_txn_count_1h"] = scored["card_txn_count_1h"] * 10 + 50
    requests = [_request(row, i) for i, row in enumerate(scored.to_dict("records"))]
    source = unique_topic("inference.requests.payment_fraud.v1")
    _produce(config, source, requests)
    options = RunOptions(
        parallelism=1,
        source_topic=source,
        topic_suffix="." + unique_topic("drift"),
        startup="earliest",
        group_id=unique_topic("drift-group"),
    )
    job_id = launch.submit(config, PAYMENT_FRAUD, tmp_path / "model", options)
    name = "flink_taskmanager_job_task_operator_featurestream_feature_psiMilli"

    def psi() -> dict[str, float]:
        samples = metrics.scrape(config.flink_metrics_urls)
        return {
            s.labels["feature"]: s.value
            for s in samples
            if s.name == name and s.labels.get("job_id") == job_id
        }

    try:
        deadline = time.monotonic() + 180
        seen: dict[str, float] = {}
        while time.monotonic() < deadline:
            seen = psi()
            if seen.get("card_txn_count_1h", 0) > 1_000:
                break
            time.sleep(1)  # polling the reporter until the gauge moves
        assert seen.get("card_txn_count_1h", 0) > 1_000, seen
        assert set(seen) == set(PAYMENT_FRAUD.input_names)  # one gauge per profiled input
    finally:
        flink_client.cancel(config, job_id)
