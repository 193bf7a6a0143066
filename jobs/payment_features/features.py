"""Feature views of the payment_features job: per card and per merchant."""

from datetime import timedelta

from common import topics
from common.features import (
    Avg,
    Count,
    DistinctCount,
    Entity,
    FeatureView,
    Max,
    SecondsSincePrev,
    Source,
    Sum,
)

PAYMENTS = Source(
    topic=topics.PAYMENTS,
    schema="payment_event",
    id_column="payment_id",
    max_out_of_orderness=timedelta(seconds=5),
    checks=("amount_minor >= 0", "amount_usd_cents >= 0"),
)

PAYMENT_CARD = FeatureView(
    name="payment_card",
    version=1,
    entity=Entity("card_id"),
    source=PAYMENTS,
    description="Velocity and spend of the card, per payment.",
    # A card has a few payments a day: served as of the read time (decision 75).
    read_time=True,
    features=(
        Count("card_txn_count_10m", window="10m"),
        Count("card_txn_count_1h", window="1h"),
        Count("card_txn_count_24h", window="24h"),
        Sum("card_amount_usd_sum_1h", "amount_usd_cents", window="1h"),
        Sum("card_amount_usd_sum_24h", "amount_usd_cents", window="24h"),
        Avg("card_amount_usd_avg_24h", "amount_usd_cents", window="24h"),
        Max("card_amount_usd_max_24h", "amount_usd_cents", window="24h"),
        DistinctCount("card_distinct_merchants_24h", "merchant_id", window="24h"),
        DistinctCount("card_distinct_countries_24h", "country", window="24h"),
        SecondsSincePrev("card_seconds_since_prev"),
    ),
)

PAYMENT_MERCHANT = FeatureView(
    name="payment_merchant",
    version=1,
    entity=Entity("merchant_id"),
    source=PAYMENTS,
    description="Load on the merchant, per payment.",
    # A merchant has hundreds of payments an hour: one-minute tiles, not a log (decision 76).
    read_time=True,
    tile=timedelta(minutes=1),
    features=(
        Count("merchant_txn_count_1h", window="1h"),
        Sum("merchant_amount_usd_sum_1h", "amount_usd_cents", window="1h"),
        DistinctCount("merchant_distinct_cards_1h", "card_id", window="1h"),
    ),
)

VIEWS = (PAYMENT_CARD, PAYMENT_MERCHANT)
