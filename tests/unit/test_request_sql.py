"""Compiling the inference-request job: golden SQL, request columns matching the schema."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from common.features.sql import JobSettings
from common.models.request_schema import request_schema
from common.models.request_sql import compile_requests, request_columns
from jobs.inference_requests.job import JOB
from jobs.inference_requests.models import MODELS, PAYMENT_FRAUD

GOLDEN = Path(__file__).parent / "golden"
SETTINGS = JobSettings(
    bootstrap_servers="kafka:9092", registry_url="http://registry:8081/apis/ccompat/v7"
)


def test_request_sql_matches_golden() -> None:
    path = GOLDEN / "sql.inference_requests.sql"
    text = compile_requests(JOB, SETTINGS, job_version="test").text()
    if os.environ.get("FEATURESTREAM_UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.read_text() == text, f"{path.name} changed; regenerate if deliberate"


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.qualified_name)
def test_request_columns_follow_the_schema(model: object) -> None:
    schema = request_schema(model)  # type: ignore[arg-type]
    columns = request_columns(model)  # type: ignore[arg-type]
    assert [name for name, _ in columns] == [f["name"] for f in schema["fields"]]
    features = dict(columns)["features"]
    for item in model.inputs:  # type: ignore[attr-defined]
        assert f"`{item.name}`" in features


def test_pipelines_are_kept_apart() -> None:
    compiled = compile_requests(JOB, SETTINGS, job_version="test")
    # Window functions (and their state uids) are per model.
    assert sorted(compiled.window_functions) == [
        "fs_window_payment_fraud_v1__payment_card_v1",
        "fs_window_payment_fraud_v1__payment_merchant_v1",
        "fs_window_trade_anomaly_v1__trade_account_v1",
        "fs_window_trade_anomaly_v1__trade_symbol_v1",
    ]
    card = json.loads(compiled.window_functions["fs_window_payment_fraud_v1__payment_card_v1"])
    assert card["carry"] == ["src_topic", "src_partition", "src_offset", "ev_amount_usd_cents"]
    merchant = json.loads(
        compiled.window_functions["fs_window_payment_fraud_v1__payment_merchant_v1"]
    )
    assert "carry" not in merchant
    assert set(compiled.sink_schemas) == {
        "dlq.inference_requests",
        "inference.requests.payment_fraud.v1",
        "inference.requests.trade_anomaly.v1",
    }
    text = compiled.text()
    assert (
        "'sink.transactional-id-prefix' = 'featurestream-inference-requests-payment-fraud-v1-dlq'"
        in text
    )
    assert "uid => 'payment_fraud_v1__payment_card_v1'" in text


def test_a_source_override_needs_one_model() -> None:
    settings = JobSettings(bootstrap_servers="k:1", registry_url="http://r", source_topic="t")
    with pytest.raises(ValueError, match="exactly one model"):
        compile_requests(JOB, settings, job_version="test")
    compiled = compile_requests(JOB, settings, job_version="test", models=(PAYMENT_FRAUD,))
    assert "'topic' = 't'" in compiled.text()
