"""Model contracts: the declared ones are valid; broken ones fail naming the input."""

from __future__ import annotations

import dataclasses
import json
import re

import fastavro
import pytest

from common.models import ContractError, Input, ModelContract, catalog, request_schema
from jobs.inference_requests.models import PAYMENT_FRAUD, TRADE_ANOMALY
from jobs.payment_features.features import PAYMENT_CARD, PAYMENTS
from jobs.trade_features.features import TRADE_SYMBOL


def _contract(**changes: object) -> ModelContract:
    fields = {f.name: getattr(PAYMENT_FRAUD, f.name) for f in dataclasses.fields(PAYMENT_FRAUD)}
    fields.update(changes)
    return ModelContract(**fields)  # type: ignore[arg-type]


def test_declared_contracts_resolve() -> None:
    assert [c.qualified_name for c in catalog.contracts()] == [
        "payment_fraud.v1",
        "trade_anomaly.v1",
    ]
    assert PAYMENT_FRAUD.request_topic == "inference.requests.payment_fraud.v1"
    assert PAYMENT_FRAUD.result_topic == "inference.results.payment_fraud.v1"
    assert PAYMENT_FRAUD.entity_keys == ["card_id", "merchant_id"]
    assert TRADE_ANOMALY.entity_keys == ["symbol", "account_id"]
    assert catalog.contract("payment_fraud") is PAYMENT_FRAUD


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (
            (Input("payment_card.no_such_feature", "long"),),
            "has no output feature 'no_such_feature'",
        ),
        (
            (Input("payment_card.card_txn_count_10m", "double"),),
            "gives long, the contract expects double",
        ),
        (
            (Input("payment_card.card_amount_usd_avg_24h", "long"),),
            "gives double, the contract expects long",
        ),
        ((Input("trade_symbol.sym_last_price", "double"),), "no view 'trade_symbol'"),
        ((Input("event.no_column", "long"),), "no column 'no_column' in schema 'payment_event'"),
        ((Input("event.event_time", "long"),), "cannot be a model input"),
        (
            (
                Input("event.card_id", "string"),
                Input("payment_card.card_txn_count_10m", "long"),
                Input("payment_card.card_txn_count_10m", "long"),
            ),
            "appear twice",
        ),
    ],
)
def test_broken_contracts_fail_with_the_input_named(
    inputs: tuple[Input, ...], message: str
) -> None:
    with pytest.raises(ContractError, match=message):
        _contract(inputs=inputs)


def test_views_must_read_the_trigger() -> None:
    with pytest.raises(ContractError, match="point-in-time"):
        _contract(views=(PAYMENT_CARD, TRADE_SYMBOL))
    with pytest.raises(ContractError, match="appears twice"):
        _contract(views=(PAYMENT_CARD, PAYMENT_CARD))


@pytest.mark.parametrize("ref", ["card_txn_count_10m", "a.b.c", "Payment_card.x", "event."])
def test_bad_references(ref: str) -> None:
    with pytest.raises(ContractError, match=re.escape("use '<view>.<feature>'")):
        Input(ref, "long")


def test_bad_type() -> None:
    with pytest.raises(ContractError, match="is not one of"):
        Input("event.amount_usd_cents", "int")  # type: ignore[arg-type]


def test_trigger_must_be_known() -> None:
    assert PAYMENT_FRAUD.trigger is PAYMENTS
    with pytest.raises(
        ContractError, match=re.escape("no model contract 'nope'; known: payment_fraud.v1")
    ):
        catalog.contract("nope")


def test_request_schema_is_committed_and_valid_avro() -> None:
    assert request_schema.stale_schema_files(catalog.contracts()) == []
    schema = request_schema.request_schema(PAYMENT_FRAUD)
    fastavro.parse_schema(schema)
    fields = {f["name"]: f for f in schema["fields"]}
    features = fields["features"]["type"]["fields"]
    assert [f["name"] for f in features] == PAYMENT_FRAUD.input_names
    assert all(f["type"][0] == "null" and f["default"] is None for f in features)
    assert [f["name"] for f in fields["feature_times"]["type"]["fields"]] == [
        "payment_card_v1",
        "payment_merchant_v1",
    ]
    assert json.loads(request_schema.request_schema_text(PAYMENT_FRAUD)) == schema


def test_request_id_is_deterministic() -> None:
    first = request_schema.request_id("payment_fraud", 1, "pay-1")
    assert first == request_schema.request_id("payment_fraud", 1, "pay-1")
    assert first != request_schema.request_id("payment_fraud", 2, "pay-1")
    assert len(first) == 32 and int(first, 16) >= 0
