"""Feature views of the trade_features job: per symbol and per taker account."""

from datetime import timedelta

from common import topics
from common.features import (
    Count,
    Derived,
    DistinctCount,
    Entity,
    FeatureView,
    Last,
    Source,
    StddevPop,
    Sum,
)

TRADES = Source(
    topic=topics.TRADES,
    schema="trade_event",
    id_column="trade_id",
    max_out_of_orderness=timedelta(seconds=2),
    checks=("price > 0", "quantity > 0"),
)

# Prices and quantities are DECIMAL(18, 8); aggregates that feed ratios work in DOUBLE.
NOTIONAL = "CAST(price AS DOUBLE) * CAST(quantity AS DOUBLE)"
QUANTITY = "CAST(quantity AS DOUBLE)"
BUY_QUANTITY = "CASE WHEN side = 'BUY' THEN CAST(quantity AS DOUBLE) ELSE 0E0 END"

TRADE_SYMBOL = FeatureView(
    name="trade_symbol",
    version=1,
    entity=Entity("symbol"),
    source=TRADES,
    description="Activity and price dynamics of the instrument, per trade.",
    # Read at the read time from tiles (decision 76): 5 s, so a 1 min window's start is off by
    # at most 2.5 s; an instrument trades many times a second.
    read_time=True,
    tile=timedelta(seconds=5),
    features=(
        Count("sym_trade_count_1m", window="1m"),
        Sum("sym_volume_1m", QUANTITY, window="1m"),
        Sum("sym_notional_1m", NOTIONAL, window="1m"),
        Sum("sym_notional_5m", NOTIONAL, window="5m", hidden=True),
        Sum("sym_volume_5m", QUANTITY, window="5m", hidden=True),
        Sum("sym_buy_volume_5m", BUY_QUANTITY, window="5m", hidden=True),
        Derived(
            "sym_vwap_5m",
            "sym_notional_5m / NULLIF(sym_volume_5m, 0E0)",
            depends_on=("sym_notional_5m", "sym_volume_5m"),
        ),
        StddevPop("sym_price_stddev_5m", "CAST(price AS DOUBLE)", window="5m"),
        Derived(
            "sym_buy_ratio_5m",
            "sym_buy_volume_5m / NULLIF(sym_volume_5m, 0E0)",
            depends_on=("sym_buy_volume_5m", "sym_volume_5m"),
        ),
        Last("sym_last_price", "CAST(price AS DOUBLE)"),
    ),
)

TRADE_ACCOUNT = FeatureView(
    name="trade_account",
    version=1,
    entity=Entity("account_id"),
    source=TRADES,
    description="Activity of the taker account, per trade.",
    # An active account trades hundreds of times an hour: one-minute tiles (decision 76).
    read_time=True,
    tile=timedelta(minutes=1),
    features=(
        Count("acct_trade_count_1h", window="1h"),
        Sum("acct_notional_1h", NOTIONAL, window="1h"),
        DistinctCount("acct_distinct_symbols_1h", "symbol", window="1h"),
    ),
)

VIEWS = (TRADE_SYMBOL, TRADE_ACCOUNT)
