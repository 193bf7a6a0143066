from datetime import timedelta

import pytest

from common.features import (
    Count,
    DefinitionError,
    Derived,
    Entity,
    FeatureView,
    Source,
    Sum,
    parse_window,
)
from jobs.payment_features.features import PAYMENT_CARD, PAYMENT_MERCHANT
from jobs.trade_features.features import TRADE_ACCOUNT, TRADE_SYMBOL

SOURCE = Source(topic="payments", schema="payment_event", id_column="payment_id")


def view(*features, name="v"):  # type: ignore[no-untyped-def]
    return FeatureView(
        name=name, version=1, entity=Entity("card_id"), source=SOURCE, features=tuple(features)
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("10m", timedelta(minutes=10)),
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
    ],
)
def test_windows_parse(text: str, expected: timedelta) -> None:
    assert parse_window(text) == expected


@pytest.mark.parametrize("text", ["", "10", "1w", "0m", "-5m", "1.5h", "10 m"])
def test_bad_windows_are_refused(text: str) -> None:
    with pytest.raises(DefinitionError, match="window"):
        parse_window(text)


def test_the_issue_feature_names_are_exactly_declared() -> None:
    assert [f.name for f in PAYMENT_CARD.output_features] == [
        "card_txn_count_10m",
        "card_txn_count_1h",
        "card_txn_count_24h",
        "card_amount_usd_sum_1h",
        "card_amount_usd_sum_24h",
        "card_amount_usd_avg_24h",
        "card_amount_usd_max_24h",
        "card_distinct_merchants_24h",
        "card_distinct_countries_24h",
        "card_seconds_since_prev",
    ]
    assert [f.name for f in PAYMENT_MERCHANT.output_features] == [
        "merchant_txn_count_1h",
        "merchant_amount_usd_sum_1h",
        "merchant_distinct_cards_1h",
    ]
    assert [f.name for f in TRADE_SYMBOL.output_features] == [
        "sym_trade_count_1m",
        "sym_volume_1m",
        "sym_notional_1m",
        "sym_vwap_5m",
        "sym_price_stddev_5m",
        "sym_buy_ratio_5m",
        "sym_last_price",
    ]
    assert [f.name for f in TRADE_ACCOUNT.output_features] == [
        "acct_trade_count_1h",
        "acct_notional_1h",
        "acct_distinct_symbols_1h",
    ]


def test_state_retention_is_slightly_above_the_largest_window() -> None:
    assert PAYMENT_CARD.state_retention > timedelta(hours=24)
    assert PAYMENT_CARD.state_retention < timedelta(hours=25)
    assert TRADE_SYMBOL.windows == (timedelta(minutes=1), timedelta(minutes=5))


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(DefinitionError, match="duplicate"):
        view(Count("n", window="1h"), Count("n", window="24h"))


def test_aggregates_other_than_count_need_an_expression() -> None:
    with pytest.raises(DefinitionError, match="needs an expression"):
        Sum("s", window="1h")


def test_derived_must_name_existing_aggregates() -> None:
    with pytest.raises(DefinitionError, match="unknown"):
        view(Count("n", window="1h"), Derived("d", "n / m", depends_on=("n", "m")))
    with pytest.raises(DefinitionError, match="aggregates only"):
        view(
            Count("n", window="1h"),
            Derived("d", "n * 2", depends_on=("n",)),
            Derived("e", "d * 2", depends_on=("d",)),
        )


@pytest.mark.parametrize("bad", ["Card", "1x", "with-dash", ""])
def test_names_are_snake_case(bad: str) -> None:
    with pytest.raises(DefinitionError, match="snake_case"):
        Count(bad, window="1h")
