"""payment_features as a later release might change it: two features added to payment_card v1.

The e2e upgrade test runs this module as the "new code"
(``-pym tests.e2e.changed_payment_features``). ``card_amount_usd_min_24h`` folds an input the
view already keeps, over a window it already has; ``card_txn_count_5m`` is a new window length.
Both are rebuilt exactly from the restored history.
"""

from dataclasses import replace

from common.features import Count, Min
from common.features.sql import FeatureJob
from jobs.payment_features.features import PAYMENT_CARD, PAYMENT_MERCHANT

CHANGED_CARD = replace(
    PAYMENT_CARD,
    features=(
        *PAYMENT_CARD.features,
        Min("card_amount_usd_min_24h", "amount_usd_cents", window="24h"),
        Count("card_txn_count_5m", window="5m"),
    ),
)
JOB = FeatureJob("payment_features", (CHANGED_CARD, PAYMENT_MERCHANT))

if __name__ == "__main__":
    from common.features.job import main

    main(JOB)
