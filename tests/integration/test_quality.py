"""``featurestream quality``: a model trained on synthetic rows (``train`` writes its profile),
then the online store (a Redis database of this test alone) holding vectors drawn from the
same distributions, except one feature shifted and one with new nulls: exactly those two are
reported, with exit code 2; and nothing when the store holds the training distribution."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import redis
from click.testing import CliRunner

from common.cli import main
from common.config import StackConfig
from common.models import training
from common.online_store import OnlineStore
from jobs.inference_requests.models import PAYMENT_FRAUD

pytestmark = pytest.mark.integration

ROWS = 4_000
DATABASE = 7  # the online store lives in 0; this test's vectors never mix with the jobs'


def _card(
    rng: random.Random, avg_scale: float = 1.0, since_prev_nulls: float = 0.1
) -> dict[str, Any]:
    return {
        "card_txn_count_10m": rng.randint(0, 4),
        "card_txn_count_1h": rng.randint(0, 20),
        "card_txn_count_24h": rng.randint(1, 80),
        "card_amount_usd_sum_1h": rng.randint(100, 100_000),
        "card_amount_usd_sum_24h": rng.randint(100, 1_000_000),
        "card_amount_usd_avg_24h": rng.lognormvariate(8, 1) * avg_scale,
        "card_amount_usd_max_24h": rng.randint(100, 200_000),
        "card_distinct_merchants_24h": rng.randint(1, 30),
        "card_distinct_countries_24h": rng.randint(1, 4),
        "card_seconds_since_prev": None
        if rng.random() < since_prev_nulls
        else rng.uniform(0, 86_400),
    }


def _merchant(rng: random.Random) -> dict[str, Any]:
    return {
        "merchant_txn_count_1h": rng.randint(1, 5_000),
        "merchant_amount_usd_sum_1h": rng.randint(100, 10_000_000),
        "merchant_distinct_cards_1h": rng.randint(1, 3_000),
    }


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = random.Random(11)
    rows = [
        {
            "event_id": f"pay-{i}",
            "event_time": pd.Timestamp("2026-01-01", tz="UTC") + pd.Timedelta(minutes=i),
            "amount_usd_cents": rng.randint(100, 100_000),
            **_card(rng),
            **_merchant(rng),
        }
        for i in range(ROWS)
    ]
    labels = [{"payment_id": f"pay-{i}", "is_fraud": rng.random() < 0.1} for i in range(ROWS)]
    directory = tmp_path_factory.mktemp("model")
    rows_file, labels_file = directory / "rows.parquet", directory / "labels.parquet"
    pd.DataFrame(rows).to_parquet(rows_file)
    pd.DataFrame(labels).to_parquet(labels_file)
    training.train_files(PAYMENT_FRAUD, rows_file, labels_file, directory / "artefact")
    return directory / "artefact"


def _store(stack_config: StackConfig, cards: list[dict[str, Any]]) -> str:
    url = stack_config.redis_url.rsplit("/", 1)[0] + f"/{DATABASE}"
    client = redis.Redis.from_url(url, decode_responses=True)
    client.flushdb()
    store = OnlineStore(client)
    rng = random.Random(5)
    for i, card in enumerate(cards):
        store.write("payment_card", 1, f"tok_q{i:06d}", 1_780_000_000_000, f"p{i}", card)
    for i in range(500):
        store.write(
            "payment_merchant", 1, f"mer_q{i:04d}", 1_780_000_000_000, f"m{i}", _merchant(rng)
        )
    return url


def _quality(model_path: Path, url: str, *extra: str) -> tuple[int, str]:
    args = ["quality", "payment_fraud", "--model-path", str(model_path), "--redis-url", url]
    result = CliRunner().invoke(main, [*args, *extra])
    return result.exit_code, result.output


def test_the_training_profile_is_written_with_the_artefact(model_path: Path) -> None:
    profile = json.loads((model_path / "profile.json").read_text())
    assert (profile["model"], profile["version"]) == ("payment_fraud", 1)
    assert list(profile["features"]) == PAYMENT_FRAUD.input_names  # no string inputs here
    assert profile["rows"] == ROWS * 3 // 4  # the training part of the time split
    assert profile["features"]["card_seconds_since_prev"]["null_rate"] == pytest.approx(
        0.1, abs=0.02
    )


def test_quality_names_exactly_the_drifted_features(
    stack_config: StackConfig, model_path: Path
) -> None:
    rng = random.Random(21)
    drifted = [_card(rng, avg_scale=3.0, since_prev_nulls=0.5) for _ in range(3_000)]
    url = _store(stack_config, drifted)
    code, output = _quality(model_path, url, "--json")
    assert code == 2, output
    document = json.loads(output[: output.rindex("}") + 1])
    assert document["sampled"] == {"payment_card.v1": 3_000, "payment_merchant.v1": 500}
    breached = {f["feature"]: f["breaches"] for f in document["features"] if f["breaches"]}
    assert set(breached) == {"card_amount_usd_avg_24h", "card_seconds_since_prev"}
    assert breached["card_amount_usd_avg_24h"][0].startswith("PSI ")
    assert breached["card_seconds_since_prev"][0].startswith("null rate 5")
    # amount_usd_cents is an event input: not in the store, not compared.
    assert "amount_usd_cents" not in {f["feature"] for f in document["features"]}


def test_quality_passes_on_the_training_distribution(
    stack_config: StackConfig, model_path: Path
) -> None:
    rng = random.Random(22)
    url = _store(stack_config, [_card(rng) for _ in range(3_000)])
    code, output = _quality(model_path, url)
    assert code == 0, output
    assert "payment_card.v1 3,000" in output
    assert output.count(" ok") == len(PAYMENT_FRAUD.input_names) - 1
