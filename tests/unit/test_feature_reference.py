"""The reference itself, on hand-computed cases: boundaries, peers, disorder."""

from datetime import timedelta

from common.features import (
    Count,
    Derived,
    DistinctCount,
    Entity,
    FeatureView,
    Last,
    SecondsSincePrev,
    Source,
    Sum,
)
from tests.feature_reference import reference_rows

MIN = 60_000
VIEW = FeatureView(
    name="t",
    version=1,
    entity=Entity("card_id"),
    source=Source("payments", "payment_event", "payment_id", max_out_of_orderness=timedelta(0)),
    features=(
        Count("n_10m", window="10m"),
        Sum("amount_10m", "amount", window="10m"),
        DistinctCount("merchants_10m", "merchant_id", window="10m"),
        SecondsSincePrev("gap_s"),
        Last("last_amount", "amount"),
        Sum("amount_1m", "amount", window="1m", hidden=True),
        Derived(
            "share_1m",
            "amount_1m * 1.0 / NULLIF(amount_10m, 0)",
            depends_on=("amount_1m", "amount_10m"),
        ),
    ),
)


def event(pid: str, card: str, t: int, amount: int, merchant: str) -> dict[str, object]:
    return {
        "payment_id": pid,
        "card_id": card,
        "event_time": t,
        "amount": amount,
        "merchant_id": merchant,
    }


def test_window_start_is_inclusive_and_peers_are_included() -> None:
    events = [
        event("p1", "c", 0, 10, "m1"),
        event("p2", "c", 0, 20, "m2"),  # a same-time peer of p1
        event("p3", "c", 10 * MIN, 5, "m1"),  # exactly w after p1/p2: both still inside
        event("p4", "c", 10 * MIN + 1, 1, "m3"),  # 1 ms later: p1/p2 fall out
        event("p5", "other", 0, 99, "m9"),
    ]
    rows = {r["event_id"]: r for r in reference_rows(VIEW, reversed(events))}
    assert rows["p1"]["n_10m"] == rows["p2"]["n_10m"] == 2
    assert rows["p1"]["amount_10m"] == 30
    assert rows["p3"]["n_10m"] == 3 and rows["p3"]["merchants_10m"] == 2
    assert rows["p4"]["n_10m"] == 2 and rows["p4"]["amount_10m"] == 6
    assert rows["p5"]["n_10m"] == 1


def test_seconds_since_prev_skips_peers() -> None:
    events = [
        event("p1", "c", 0, 1, "m"),
        event("p2", "c", 0, 1, "m"),
        event("p3", "c", 90_500, 1, "m"),
    ]
    rows = {r["event_id"]: r for r in reference_rows(VIEW, events)}
    assert rows["p1"]["gap_s"] is None and rows["p2"]["gap_s"] is None
    assert rows["p3"]["gap_s"] == 90.5


def test_last_and_derived() -> None:
    events = [
        event("p1", "c", 0, 10, "m"),
        event("p2", "c", 0, 30, "m"),
        event("p3", "c", 5 * MIN, 60, "m"),
    ]
    rows = {r["event_id"]: r for r in reference_rows(VIEW, events)}
    assert rows["p1"]["last_amount"] == rows["p2"]["last_amount"] == 30  # larger id wins a tie
    assert rows["p3"]["last_amount"] == 60
    assert rows["p3"]["share_1m"] == 0.6
    assert "amount_1m" not in rows["p3"]  # hidden
