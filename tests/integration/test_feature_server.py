"""The production feature server (Go) against the real Redis, checked against the Python path.

``common.models.serving.model_vector`` and ``stored_vector_json`` are the reference: for stored,
partly stored and unknown keys, single and batch, the server's JSON must equal them (staleness
aside, which moves with the clock). Also its errors, readiness, metrics and graceful shutdown.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from common.config import StackConfig
from common.features.definitions import FeatureView
from common.models.serving import LAST_EVENT, READ_TIME, model_vector, stored_vector_json
from common.online_store import OnlineStore
from common.runtime.catalog import load_job
from jobs.inference_requests.models import PAYMENT_FRAUD
from tests.feature_server import running_server

pytestmark = pytest.mark.integration

NOW_MS = int(time.time() * 1000)
CARD_VIEW: FeatureView = next(
    v for v in load_job("payment_features").views if v.name == "payment_card"
)


@pytest.fixture(scope="module")
def served(stack_config: StackConfig) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    # stdout: the access log (read by the shutdown test).
    with running_server(
        "--drain-seconds", "0.2", stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as served:
        yield served


@pytest.fixture(scope="module")
def stored(stack_config: StackConfig) -> dict[str, list[str]]:
    """Cards and merchants of this module: some with every feature, some with nulls."""
    store = OnlineStore.connect(stack_config)
    rng = random.Random(5)
    run = uuid.uuid4().hex[:8]
    cards = [f"tok_{run}{i:03d}" for i in range(20)]
    merchants = [f"mer_{run}{i:02d}" for i in range(5)]
    for i, card in enumerate(cards):
        features: dict[str, object] = {
            "card_txn_count_10m": rng.randint(0, 5),
            "card_txn_count_1h": rng.randint(0, 50),
            "card_txn_count_24h": rng.randint(0, 500),
            "card_amount_usd_sum_1h": rng.randint(0, 10**9),
            "card_amount_usd_sum_24h": rng.randint(0, 10**12),
            "card_amount_usd_avg_24h": rng.choice([rng.uniform(0, 1e6), 1e-7, 3e21, 100000.0]),
            "card_amount_usd_max_24h": rng.randint(0, 10**9),
            "card_distinct_merchants_24h": rng.randint(1, 30),
            "card_distinct_countries_24h": rng.randint(1, 4),
            # Every third card: the first payment, no previous one (a null feature).
            "card_seconds_since_prev": None if i % 3 == 0 else rng.uniform(0, 86_400),
        }
        store.write("payment_card", 1, card, NOW_MS - i * 1000, f"pay-{run}-{i}", features)
    for i, merchant in enumerate(merchants[:-1]):  # the last merchant has no vector
        store.write(
            "payment_merchant",
            1,
            merchant,
            NOW_MS - 7000,
            f"pay-{run}-m{i}",
            {
                "merchant_txn_count_1h": i * 10,
                "merchant_amount_usd_sum_1h": i * 1000,
                "merchant_distinct_cards_1h": i,
            },
        )
    return {"cards": cards, "merchants": merchants}


def _without_staleness(vector: dict[str, Any]) -> dict[str, Any]:
    vector = dict(vector)
    staleness = vector.pop("staleness_s")
    vector.pop("read_at", None)  # the read time is each request's own now
    # The clock moves between the two reads; both must still say how old each vector is.
    return {**vector, "stale": {k: v is not None for k, v in staleness.items()}}


def test_model_vectors_equal_the_python_reference(
    served: tuple[str, subprocess.Popen[bytes]],
    stored: dict[str, list[str]],
    stack_config: StackConfig,
) -> None:
    url, _ = served
    store = OnlineStore.connect(stack_config)
    cases = [(c, m) for c in stored["cards"][:6] for m in stored["merchants"]]
    cases += [("tok_unknown", stored["merchants"][0]), ("tok_unknown", "mer_unknown")]
    for card, merchant in cases:
        keys = {"card_id": card, "merchant_id": merchant}
        for event, at in (
            ({"amount_usd_cents": "1250"}, LAST_EVENT),
            ({}, LAST_EVENT),
            ({}, READ_TIME),
        ):
            expected = model_vector(store, PAYMENT_FRAUD, keys, event, at=at)
            mode = {"at": at} if at == LAST_EVENT else {}
            response = httpx.get(
                f"{url}/models/payment_fraud/features", params={**keys, **event, **mode}
            )
            assert response.status_code == 200, response.text
            got = response.json()
            assert list(got["features"]) == list(expected["features"])  # contract order
            assert _without_staleness(got) == _without_staleness(expected)
            for view, age in got["staleness_s"].items():
                if age is not None:
                    assert abs(age - expected["staleness_s"][view]) < 60


def test_batch_equals_single_lookups(
    served: tuple[str, subprocess.Popen[bytes]], stored: dict[str, list[str]]
) -> None:
    url, _ = served
    rows = [
        {"card_id": c, "merchant_id": stored["merchants"][i % 5], "amount_usd_cents": i}
        for i, c in enumerate(stored["cards"])
    ] * 5  # 100 lookups, the most one request may hold
    response = httpx.post(f"{url}/models/payment_fraud/features", json={"rows": rows})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len(results) == 100
    for row, got in zip(rows, results, strict=True):
        single = httpx.get(
            f"{url}/models/payment_fraud/features",
            params={k: str(v) for k, v in row.items()},
        ).json()
        assert _without_staleness(got) == _without_staleness(single)
    too_many = httpx.post(f"{url}/models/payment_fraud/features", json={"rows": rows + rows[:1]})
    assert too_many.status_code == 400 and "1 to 100" in too_many.json()["error"]


def test_view_vectors_equal_the_stored_vector(
    served: tuple[str, subprocess.Popen[bytes]],
    stored: dict[str, list[str]],
    stack_config: StackConfig,
) -> None:
    url, _ = served
    store = OnlineStore.connect(stack_config)
    cards = stored["cards"][:4]
    batch = httpx.post(
        f"{url}/views/payment_card/features",
        json={"keys": [*cards, "tok_none"], "at": LAST_EVENT},
    )
    assert batch.status_code == 200, batch.text
    results = batch.json()["results"]
    for card, got in zip(cards, results[:-1], strict=True):
        vector = store.get("payment_card", 1, card)
        assert vector is not None
        expected = stored_vector_json(CARD_VIEW, vector)
        assert got["found"] is True
        assert {k: got[k] for k in expected} == expected
        single = {"card_id": card, "at": LAST_EVENT}
        assert httpx.get(f"{url}/views/payment_card/features", params=single).json() == {
            **got,
            "staleness_s": pytest.approx(got["staleness_s"], abs=60),
        }
    missing = results[-1]
    assert missing["found"] is False and missing["event_time"] is None
    assert set(missing["features"]) == {f.name for f in CARD_VIEW.output_features}
    assert all(value is None for value in missing["features"].values())


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("GET", "/models/nope/features?card_id=a", None, 404, "no model contract"),
        ("GET", "/models/payment_fraud/features?card_id=a", None, 400, "needs entity keys"),
        (
            "GET",
            "/models/payment_fraud/features?card_id=a&merchant_id=b&amount_usd_cents=x",
            None,
            400,
            "amount_usd_cents",
        ),
        (
            "GET",
            "/models/payment_fraud/features?card_id=a&merchant_id=b&colour=red",
            None,
            400,
            "not event inputs",
        ),
        ("GET", "/models/payment_fraud/features?version=9&card_id=a", None, 404, "v9"),
        ("GET", "/views/payment_card/features", None, 400, "card_id"),
        ("GET", "/views/nope/features?k=1", None, 404, "no feature view"),
        ("POST", "/models/payment_fraud/features", b"{not json", 400, "not JSON"),
        ("POST", "/views/payment_card/features", b'{"keys": []}', 400, "1 to 100"),
        ("GET", "/nowhere", None, 404, "no such resource"),
    ],
)
def test_bad_requests_get_clear_4xx(
    served: tuple[str, subprocess.Popen[bytes]],
    method: str,
    path: str,
    body: bytes | None,
    status: int,
    message: str,
) -> None:
    url, _ = served
    response = httpx.request(method, f"{url}{path}", content=body)
    assert response.status_code == status
    assert message in response.json()["error"]


def test_models_listing_and_metrics(served: tuple[str, subprocess.Popen[bytes]]) -> None:
    url, _ = served
    listing = httpx.get(f"{url}/models").json()
    assert {m["model"] for m in listing} == {"payment_fraud", "trade_anomaly"}
    fraud = next(m for m in listing if m["model"] == "payment_fraud")
    assert [i["name"] for i in fraud["inputs"]] == [i.name for i in PAYMENT_FRAUD.inputs]
    metrics = httpx.get(f"{url}/metrics").text
    assert 'featureserver_request_duration_seconds_count{code="200",route="model"}' in metrics
    assert 'featureserver_vectors_total{result="miss"}' in metrics
    assert "featureserver_redis_errors_total 0" in metrics


def test_sigterm_drains_then_exits_cleanly(
    served: tuple[str, subprocess.Popen[bytes]],
) -> None:
    """Last in this module: it stops the shared server."""
    url, process = served
    process.send_signal(signal.SIGTERM)
    # While draining, readiness fails so that load balancers stop sending (drain 0.2 s).
    saw_draining = False
    deadline = time.monotonic() + 5
    while process.poll() is None and time.monotonic() < deadline:
        try:
            saw_draining |= httpx.get(f"{url}/readyz", timeout=1).status_code == 503
        except httpx.HTTPError:
            break
    assert process.wait(timeout=15) == 0
    assert saw_draining
    stdout = process.stdout.read().decode() if process.stdout else ""
    assert '"route":"model"' in stdout  # the access log, one JSON line per request
    assert "tok_" not in stdout  # entity keys stay out of the log
