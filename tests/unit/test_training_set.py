"""The point-in-time join of labels with feature rows, against a brute-force reference on
adversarial times: ties, labels exactly at an event or at the maximum age, keys without history,
null keys, labels before any event."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from common.features.definitions import FeatureView
from common.runtime import training_set as ts
from jobs.inference_requests.models import PAYMENT_FRAUD
from jobs.payment_features.features import PAYMENT_CARD, PAYMENT_MERCHANT

T0 = 1_780_000_000_000  # ms
MINUTE = 60_000


def _rows(view: FeatureView, rng: random.Random, keys: list[str], n: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        row: dict[str, Any] = {
            "event_id": f"e{rng.randrange(1000):03d}-{i}",
            view.entity.key: rng.choice(keys),
            # A coarse grid: many same-time peers per key.
            "event_time": T0 + rng.randrange(0, 600) * MINUTE,
        }
        for f in view.output_features:
            row[f.name] = rng.randrange(1000)
        rows.append(row)
    return rows


def _table(view: FeatureView, rows: list[dict[str, Any]]) -> pa.Table:
    fields = [
        pa.field("event_id", pa.string()),
        pa.field(view.entity.key, pa.string()),
        pa.field("event_time", pa.timestamp("ms", tz="UTC")),
    ] + [pa.field(f.name, pa.int64()) for f in view.output_features]
    return pa.Table.from_pylist(
        [{**r, "event_time": datetime.fromtimestamp(r["event_time"] / 1000, UTC)} for r in rows],
        schema=pa.schema(fields),
    )


def _labels(
    rng: random.Random, rows: dict[str, list[dict[str, Any]]], max_age_ms: int, n: int
) -> list[dict[str, Any]]:
    events = [(r["card_id"], r["event_time"]) for r in rows["payment_card"]]
    labels = []
    for i in range(n):
        card, t = rng.choice(events)
        at = rng.choice(
            [
                t,  # exactly at an event: included
                t - 1,  # just before it
                t + max_age_ms,  # exactly the maximum age: still used
                t + max_age_ms + 1,  # one ms older: too old
                T0 - MINUTE,  # before any event
                t + rng.randrange(0, 3 * max_age_ms),
            ]
        )
        card = rng.choice([card, card, card, "card-without-history", None])
        merchant = rng.choice([r["merchant_id"] for r in rows["payment_merchant"]] + [None])
        labels.append(
            {
                "payment_id": f"p{i}",
                "card_id": card,
                "merchant_id": merchant,
                "label_time": datetime.fromtimestamp(at / 1000, UTC),
                "amount_usd_cents": rng.randrange(10_000),
                "is_fraud": rng.random() < 0.1,
                "note": f"n{i}",
            }
        )
    return labels


def _reference(
    view: FeatureView, rows: list[dict[str, Any]], key: Any, at: int, max_age_ms: int | None
) -> tuple[str, dict[str, Any] | None]:
    """Brute force: the newest row of the key at or before ``at``, ties by largest event id."""
    if key is None:
        return "none", None
    before = [r for r in rows if r[view.entity.key] == key and r["event_time"] <= at]
    if not before:
        return "none", None
    best = max(before, key=lambda r: (r["event_time"], r["event_id"]))
    if max_age_ms is not None and at - best["event_time"] > max_age_ms:
        return "old", None
    return "ok", best


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_join_matches_a_brute_force_reference(seed: int) -> None:
    rng = random.Random(seed)
    views = (PAYMENT_CARD, PAYMENT_MERCHANT)
    rows = {
        "payment_card": _rows(PAYMENT_CARD, rng, [f"c{i}" for i in range(60)], 400),
        "payment_merchant": _rows(PAYMENT_MERCHANT, rng, [f"m{i}" for i in range(5)], 300),
    }
    ages = {"payment_card": 90 * MINUTE, "payment_merchant": None}
    labels = _labels(rng, rows, 90 * MINUTE, 500)
    table = pa.Table.from_pylist(labels)
    view_rows = [
        ts.ViewRows(
            v,
            _table(v, rows[v.name]),
            None if ages[v.name] is None else timedelta(milliseconds=ages[v.name]),
        )
        for v in views
    ]
    # Reversed file order: the result may not depend on it.
    view_rows[0] = ts.ViewRows(
        views[0], view_rows[0].rows.take(list(range(399, -1, -1))), view_rows[0].max_age
    )
    features, stats = ts.point_in_time_join(table, view_rows, time_column="label_time")
    for view in views:
        counts = {"ok": 0, "none": 0, "old": 0}
        for i, label in enumerate(labels):
            at = int(label["label_time"].timestamp() * 1000)
            kind, best = _reference(
                view, rows[view.name], label[view.entity.key], at, ages[view.name]
            )
            counts[kind] += 1
            for f in view.output_features:
                got = features[view.name][f.name][i].as_py()
                assert got == (best[f.name] if best else None), (view.name, i, label, f.name)
        name = view.qualified_name
        assert (stats.matched[name], stats.no_history[name], stats.too_old[name]) == (
            counts["ok"],
            counts["none"],
            counts["old"],
        )
        assert counts["ok"] > 50 and counts["none"] > 20
    assert stats.too_old["payment_card.v1"] > 5


def test_model_rows_come_out_in_contract_order_with_labels_after() -> None:
    rng = random.Random(7)
    rows = {
        "payment_card": _rows(PAYMENT_CARD, rng, ["c1", "c2"], 50),
        "payment_merchant": _rows(PAYMENT_MERCHANT, rng, ["m1"], 50),
    }
    labels = pa.Table.from_pylist(_labels(rng, rows, 60 * MINUTE, 40))
    views, order = ts.model_views(PAYMENT_FRAUD)
    features, _ = ts.point_in_time_join(
        labels,
        [ts.ViewRows(v, _table(v, rows[v.name]), ts.default_max_age(v)) for v in views],
        time_column="label_time",
    )
    out = ts.assemble(
        labels,
        features,
        time_column="label_time",
        id_column="payment_id",
        keys=PAYMENT_FRAUD.entity_keys,
        order=order,
    )
    assert out.column_names == [
        "event_id",
        "event_time",
        "card_id",
        "merchant_id",
        *PAYMENT_FRAUD.input_names,
        "payment_id",
        "is_fraud",
        "note",
    ]
    assert out.column("event_id").to_pylist() == labels.column("payment_id").to_pylist()
    assert (
        out.column("amount_usd_cents").to_pylist() == labels.column("amount_usd_cents").to_pylist()
    )


def test_missing_columns_are_named() -> None:
    labels = pa.table({"card_id": ["c"], "label_time": [T0]})
    with pytest.raises(ts.TrainingSetError, match=r"no column\(s\) \['merchant_id'\]"):
        ts.point_in_time_join(
            labels,
            [ts.ViewRows(PAYMENT_MERCHANT, _table(PAYMENT_MERCHANT, []), None)],
            time_column="label_time",
        )
    _, order = ts.model_views(PAYMENT_FRAUD)
    with pytest.raises(ts.TrainingSetError, match=r"event.amount_usd_cents"):
        ts.assemble(labels, {}, time_column="label_time", id_column=None, keys=[], order=order)


def test_default_max_age_is_the_largest_window() -> None:
    assert ts.default_max_age(PAYMENT_CARD) == timedelta(hours=24)
    assert ts.default_max_age(PAYMENT_MERCHANT) == timedelta(hours=1)
