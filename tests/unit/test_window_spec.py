"""Golden window specs per view: a change to a definition shows up as a reviewed diff.

Regenerate after a deliberate change: ``FEATURESTREAM_UPDATE_GOLDEN=1 pytest tests/unit``.
"""

import json
import os
from pathlib import Path

import pytest

from common.features import Count, Entity, FeatureView, Last, Source, Sum
from common.features.spec import input_columns, window_spec, window_spec_json
from jobs.payment_features.features import VIEWS as PAYMENT_VIEWS
from jobs.trade_features.features import VIEWS as TRADE_VIEWS

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("view", PAYMENT_VIEWS + TRADE_VIEWS, ids=lambda v: v.qualified_name)
def test_window_spec_matches_golden(view: FeatureView) -> None:
    path = GOLDEN / f"window_spec.{view.qualified_name}.json"
    text = json.dumps(window_spec(view), indent=2, sort_keys=True) + "\n"
    if os.environ.get("FEATURESTREAM_UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.read_text() == text, f"{path.name} changed; regenerate if deliberate"


def test_each_distinct_expression_becomes_one_input_column() -> None:
    view = FeatureView(
        name="v",
        version=1,
        entity=Entity("card_id"),
        source=Source("t", "payment_event", "payment_id"),
        features=(
            Count("n", window="1h"),
            Sum("a_1h", "amount_minor", window="1h"),
            Sum("a_24h", "amount_minor", window="24h"),
            Last("last_b", "amount_minor * 2"),
        ),
    )
    assert [(c.column, c.expression, c.kind) for c in input_columns(view)] == [
        ("in_0", "`amount_minor`", "BIGINT"),
        ("in_1", "CAST(amount_minor * 2 AS DOUBLE)", "DOUBLE"),
    ]
    spec = window_spec(view)
    assert [a["input"] for a in spec["aggregates"]] == [None, "in_0", "in_0", "in_1"]
    assert json.loads(window_spec_json(view)) == spec


def test_derived_features_are_left_to_sql() -> None:
    from jobs.trade_features.features import TRADE_SYMBOL

    names = [a["name"] for a in window_spec(TRADE_SYMBOL)["aggregates"]]
    assert "sym_vwap_5m" not in names and "sym_notional_5m" in names
