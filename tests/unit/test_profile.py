"""Feature profiles and PSI (``common.models.profile``) against hand computations."""

from __future__ import annotations

import math
import random

import pytest

from common.models.profile import EPSILON, RollingDrift, compare, feature_profile, psi


def test_psi_is_the_textbook_sum() -> None:
    base, current = [0.5, 0.3, 0.2], [0.4, 0.4, 0.2]
    expected = (0.4 - 0.5) * math.log(0.4 / 0.5) + (0.4 - 0.3) * math.log(0.4 / 0.3)
    assert psi(base, current) == pytest.approx(expected)
    assert psi(base, base) == 0.0
    # An empty bin is floored, not infinite.
    assert psi([1.0, 0.0], [0.0, 1.0]) == pytest.approx(2 * (1 - EPSILON) * math.log(1 / EPSILON))


def test_the_profile_bins_at_the_deciles_with_outer_bins() -> None:
    values = [float(v) for v in range(1, 101)] + [None] * 25
    profile = feature_profile(values)
    assert profile["count"] == 125 and profile["null_rate"] == 0.2
    assert profile["min"] == 1.0 and profile["max"] == 100.0
    assert len(profile["edges"]) == 11
    shares = profile["shares"]
    assert shares[0] == 0.0 and shares[-1] == 0.0  # nothing outside the training range
    assert sum(shares) == pytest.approx(1.0)
    assert all(s == pytest.approx(0.1) for s in shares[1:-1])


def test_the_same_distribution_is_stable_and_a_shift_or_new_nulls_breach() -> None:
    rng = random.Random(3)
    train = [rng.gauss(100, 15) for _ in range(20_000)]
    baseline = {"x": feature_profile(train), "y": feature_profile(train)}
    same = [rng.gauss(100, 15) for _ in range(5_000)]
    shifted = [rng.gauss(130, 15) for _ in range(5_000)]
    drifts = {d.feature: d for d in compare(baseline, {"x": same, "y": shifted})}
    assert drifts["x"].psi is not None and drifts["x"].psi < 0.02 and not drifts["x"].breaches
    assert drifts["y"].psi is not None and drifts["y"].psi > 1.0
    assert drifts["y"].breaches[0].startswith("PSI ")
    nulls = same[:3_000] + [None] * 2_000
    (drift,) = compare({"x": baseline["x"]}, {"x": nulls})
    assert drift.null_rate == 0.4 and drift.psi is not None and drift.psi < 0.05
    assert drift.breaches == ("null rate 40.0% > 0.0% + 10%",)


def test_values_beyond_the_training_range_count_as_drift() -> None:
    baseline = {"x": feature_profile([float(v) for v in range(100)])}
    (drift,) = compare(baseline, {"x": [1000.0] * 50})
    assert drift.psi is not None and drift.psi > 5
    assert drift.current_max == 1000.0


def test_constant_and_empty_features() -> None:
    constant = feature_profile([7.0] * 10)
    assert constant["edges"] == [7.0] and constant["shares"] == [0.0, 1.0, 0.0]
    (same,) = compare({"c": constant}, {"c": [7.0] * 3})
    assert same.psi == 0.0
    (moved,) = compare({"c": constant}, {"c": [8.0] * 3})
    assert moved.psi is not None and moved.psi > 5
    empty = feature_profile([None, None])
    assert empty["null_rate"] == 1.0 and empty["edges"] == []
    (nothing,) = compare({"e": empty}, {"e": []})
    assert nothing.psi is None and nothing.null_rate is None and not nothing.breaches


def test_rolling_drift_keeps_the_last_window_and_refreshes_on_its_clock() -> None:
    rng = random.Random(4)
    baseline = {"x": feature_profile([rng.gauss(0, 1) for _ in range(10_000)])}
    now = [0.0]
    drift = RollingDrift(baseline, window=1_000, refresh_s=10, clock=lambda: now[0])
    assert drift.refresh()  # the first call compares: nothing scored yet
    assert drift.psi_milli("x") == 0 and drift.drift("x") is None
    drift.add("x", [rng.gauss(0, 1) for _ in range(1_000)])
    assert drift.refresh(force=True)
    assert drift.psi_milli("x") < 50
    # A shift fills the window; the gauges hold the last comparison until the clock moves on.
    drift.add("x", [rng.gauss(3, 1) for _ in range(1_000)])
    assert not drift.refresh()
    assert drift.psi_milli("x") < 50
    now[0] = 11.0
    assert drift.refresh()
    assert drift.psi_milli("x") > 1_000
    drift.add("x", [None] * 500)
    now[0] = 22.0
    drift.refresh()
    assert drift.null_rise_milli("x") == 500  # half the window is null, training had none
