"""Newer-wins writes to the real Redis: replays and out-of-order updates never regress a vector."""

from __future__ import annotations

import itertools
import uuid

import pytest

from common.config import StackConfig
from common.online_store import OnlineStore, redis_key

pytestmark = pytest.mark.integration


@pytest.fixture
def store(stack_config: StackConfig) -> OnlineStore:
    return OnlineStore.connect(stack_config)


def test_older_update_never_overwrites_newer(store: OnlineStore) -> None:
    view, key = f"t_{uuid.uuid4().hex[:8]}", "card-a"
    assert store.write(view, 1, key, 2_000, "e2", {"n": 2, "s": 20})
    assert not store.write(view, 1, key, 1_000, "e1", {"n": 1, "s": 10})
    stored = store.get(view, 1, key)
    assert stored is not None
    assert (stored.event_time_ms, stored.event_id, dict(stored.features)) == (
        2_000,
        "e2",
        {"n": "2", "s": "20"},
    )


def test_final_state_is_the_same_for_every_write_order(store: OnlineStore) -> None:
    updates = [
        (1_000, "a", {"n": 1}),
        (3_000, "b", {"n": 3}),
        (3_000, "c", {"n": 4}),
        (2_000, "d", {"n": 2, "extra": 9}),
    ]
    finals = set()
    for order in itertools.permutations(updates):
        view = f"t_{uuid.uuid4().hex[:8]}"
        for event_time, event_id, features in order:
            store.write(view, 1, "k", event_time, event_id, features)
        stored = store.get(view, 1, "k")
        assert stored is not None
        finals.add((stored.event_time_ms, stored.event_id, tuple(sorted(stored.features.items()))))
    # Same time: the larger event id wins, whatever the order.
    assert finals == {(3_000, "c", (("n", "4"),))}


def test_null_features_are_absent_and_stale_fields_do_not_linger(store: OnlineStore) -> None:
    view = f"t_{uuid.uuid4().hex[:8]}"
    store.write(view, 1, "k", 1_000, "a", {"n": 1, "gap_s": 5})
    store.write(view, 1, "k", 2_000, "b", {"n": 2, "gap_s": None})
    stored = store.get(view, 1, "k")
    assert stored is not None and dict(stored.features) == {"n": "2"}
    assert store.get_many(view, 1, ["k", "missing"])["missing"] is None
    assert redis_key("payment_card", 1, "tok_1") == "fs:payment_card:v1:tok_1"
