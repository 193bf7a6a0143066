"""Online lookup against the real Redis: model vectors typed and in contract order, over Python,
HTTP (``featurestream serve``) and ``featurestream features get``."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from common.cli import main
from common.config import StackConfig
from common.models.server import FeatureServer, make_server
from common.models.serving import LAST_EVENT, BadRequest, model_vector
from common.online_store import OnlineStore
from jobs.inference_requests.models import PAYMENT_FRAUD

pytestmark = pytest.mark.integration

EVENT_TIME_MS = 1_780_000_000_000  # 2026-05-28T20:26:40Z
CARD = {
    "card_txn_count_10m": 3,
    "card_txn_count_1h": 4,
    "card_txn_count_24h": 9,
    "card_amount_usd_sum_1h": 12_345,
    "card_amount_usd_sum_24h": 45_678,
    "card_amount_usd_avg_24h": 5075.333333333333,
    "card_amount_usd_max_24h": 20_000,
    "card_distinct_merchants_24h": 5,
    "card_distinct_countries_24h": 2,
    "card_seconds_since_prev": None,  # a null feature: absent from the hash
}
MERCHANT = {
    "merchant_txn_count_1h": 120,
    "merchant_amount_usd_sum_1h": 987_654,
    "merchant_distinct_cards_1h": 97,
}


@pytest.fixture
def store(stack_config: StackConfig) -> OnlineStore:
    return OnlineStore.connect(stack_config)


@pytest.fixture
def keys(store: OnlineStore) -> dict[str, str]:
    """A card and a merchant of this test alone, with vectors stored the way the jobs store."""
    card, merchant = f"tok_{uuid.uuid4().hex[:16]}", f"mer_{uuid.uuid4().hex[:8]}"
    store.write("payment_card", 1, card, EVENT_TIME_MS, "pay-1", CARD)
    store.write("payment_merchant", 1, merchant, EVENT_TIME_MS - 500, "pay-0", MERCHANT)
    return {"card_id": card, "merchant_id": merchant}


@pytest.fixture
def server(store: OnlineStore) -> Iterator[str]:
    running: FeatureServer = make_server(store, "127.0.0.1", 0)
    thread = threading.Thread(target=running.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{running.server_address[1]}"
    finally:
        running.shutdown()
        running.server_close()


def test_model_vector_is_typed_and_in_contract_order(
    store: OnlineStore, keys: dict[str, str]
) -> None:
    vector = model_vector(
        store,
        PAYMENT_FRAUD,
        keys,
        {"amount_usd_cents": "1250"},
        now_ms=EVENT_TIME_MS + 4_000,
        at=LAST_EVENT,
    )

    assert list(vector["features"]) == PAYMENT_FRAUD.input_names
    assert vector["features"] == {"amount_usd_cents": 1250, **CARD, **MERCHANT}
    assert all(
        type(vector["features"][n]) is int for n in ("card_txn_count_10m", "amount_usd_cents")
    )
    assert type(vector["features"]["card_amount_usd_avg_24h"]) is float
    assert vector["as_of"] == {
        "payment_card.v1": "2026-05-28T20:26:40.000+00:00",
        "payment_merchant.v1": "2026-05-28T20:26:39.500+00:00",
    }
    assert vector["staleness_s"] == {"payment_card.v1": 4.0, "payment_merchant.v1": 4.5}
    assert vector["missing"] == []
    assert vector["keys"] == keys


def test_absent_vectors_and_event_inputs_are_null_and_listed(
    store: OnlineStore, keys: dict[str, str]
) -> None:
    vector = model_vector(
        store, PAYMENT_FRAUD, {**keys, "merchant_id": "mer_never_seen"}, at=LAST_EVENT
    )

    assert vector["missing"] == ["event.amount_usd_cents", "payment_merchant.v1"]
    assert vector["features"]["amount_usd_cents"] is None
    assert all(vector["features"][name] is None for name in MERCHANT)
    assert vector["features"]["card_txn_count_24h"] == 9
    assert vector["as_of"]["payment_merchant.v1"] is None
    with pytest.raises(BadRequest, match=r"needs entity keys \['merchant_id'\]"):
        model_vector(store, PAYMENT_FRAUD, {"card_id": keys["card_id"]})


def test_http_features_health_models_and_errors(server: str, keys: dict[str, str]) -> None:
    with httpx.Client(base_url=server, timeout=5) as client:
        health = client.get("/healthz")
        models = client.get("/models")
        ok = client.get(
            "/models/payment_fraud/features",
            params={**keys, "amount_usd_cents": "1250", "at": LAST_EVENT},
        )
        no_key = client.get("/models/payment_fraud/features", params={"card_id": "tok_x"})
        bad_value = client.get(
            "/models/payment_fraud/features", params={**keys, "amount_usd_cents": "lots"}
        )
        unknown_param = client.get("/models/payment_fraud/features", params={**keys, "amt": "1"})
        unknown_model = client.get("/models/no_such_model/features", params=keys)
        nowhere = client.get("/nowhere")

    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert [m["model"] for m in models.json()] == ["payment_fraud", "trade_anomaly"]
    assert [i["name"] for i in models.json()[0]["inputs"]] == PAYMENT_FRAUD.input_names
    assert ok.status_code == 200
    body: dict[str, Any] = json.loads(ok.text)  # the order on the wire is the contract order
    assert (body["model"], body["version"], body["keys"]) == ("payment_fraud", 1, keys)
    assert list(body["features"]) == PAYMENT_FRAUD.input_names
    assert body["features"] == {"amount_usd_cents": 1250, **CARD, **MERCHANT}
    assert body["missing"] == []
    assert set(body["as_of"]) == {"payment_card.v1", "payment_merchant.v1"}
    assert no_key.status_code == 400 and "merchant_id" in no_key.json()["error"]
    assert bad_value.status_code == 400 and "amount_usd_cents" in bad_value.json()["error"]
    assert unknown_param.status_code == 400 and "amt" in unknown_param.json()["error"]
    assert unknown_model.status_code == 404 and "no model contract" in unknown_model.json()["error"]
    assert nowhere.status_code == 404


def test_cli_features_get_prints_the_stored_vector(keys: dict[str, str]) -> None:
    last = ["--at", "last-event"]
    found = CliRunner().invoke(main, ["features", "get", "payment_card", keys["card_id"], *last])
    absent = CliRunner().invoke(main, ["features", "get", "payment_card", "tok_nobody", *last])
    no_view = CliRunner().invoke(main, ["features", "get", "no_view", "k"])

    assert found.exit_code == 0, found.output
    printed = json.loads(found.output)
    assert printed["features"] == CARD  # typed; the null feature printed as null
    assert (printed["view"], printed["version"], printed["event_id"]) == (
        "payment_card",
        1,
        "pay-1",
    )
    assert printed["event_time"] == "2026-05-28T20:26:40.000+00:00"
    assert absent.exit_code == 1 and "no vector stored for 'tok_nobody'" in absent.output
    assert no_view.exit_code == 1 and "known: payment_card.v1" in no_view.output
