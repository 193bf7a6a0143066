"""The model contracts served by the inference_requests job (one request per triggering event)."""

from common.models import Input, ModelContract
from jobs.payment_features.features import PAYMENT_CARD, PAYMENT_MERCHANT, PAYMENTS
from jobs.trade_features.features import TRADE_ACCOUNT, TRADE_SYMBOL, TRADES

PAYMENT_FRAUD = ModelContract(
    name="payment_fraud",
    version=1,
    trigger=PAYMENTS,
    views=(PAYMENT_CARD, PAYMENT_MERCHANT),
    description="Probability that a card payment is fraudulent (velocity bursts on a card).",
    inputs=(
        Input("event.amount_usd_cents", "long"),
        Input("payment_card.card_txn_count_10m", "long"),
        Input("payment_card.card_txn_count_1h", "long"),
        Input("payment_card.card_txn_count_24h", "long"),
        Input("payment_card.card_amount_usd_sum_1h", "long"),
        Input("payment_card.card_amount_usd_sum_24h", "long"),
        Input("payment_card.card_amount_usd_avg_24h", "double"),
        Input("payment_card.card_amount_usd_max_24h", "long"),
        Input("payment_card.card_distinct_merchants_24h", "long"),
        Input("payment_card.card_distinct_countries_24h", "long"),
        Input("payment_card.card_seconds_since_prev", "double"),
        Input("payment_merchant.merchant_txn_count_1h", "long"),
        Input("payment_merchant.merchant_amount_usd_sum_1h", "long"),
        Input("payment_merchant.merchant_distinct_cards_1h", "long"),
    ),
)

TRADE_ANOMALY = ModelContract(
    name="trade_anomaly",
    version=1,
    trigger=TRADES,
    views=(TRADE_SYMBOL, TRADE_ACCOUNT),
    description="How unusual a trade is for its instrument and its taker account.",
    inputs=(
        Input("event.price", "double"),
        Input("event.quantity", "double"),
        Input("trade_symbol.sym_trade_count_1m", "long"),
        Input("trade_symbol.sym_volume_1m", "double"),
        Input("trade_symbol.sym_notional_1m", "double"),
        Input("trade_symbol.sym_vwap_5m", "double"),
        Input("trade_symbol.sym_price_stddev_5m", "double"),
        Input("trade_symbol.sym_buy_ratio_5m", "double"),
        Input("trade_symbol.sym_last_price", "double"),
        Input("trade_account.acct_trade_count_1h", "long"),
        Input("trade_account.acct_notional_1h", "double"),
        Input("trade_account.acct_distinct_symbols_1h", "long"),
    ),
)

MODELS = (PAYMENT_FRAUD, TRADE_ANOMALY)
