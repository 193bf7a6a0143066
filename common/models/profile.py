"""Feature profiles and drift: what a model was trained on, against what it is served now.

``train`` writes ``profile.json`` next to the artefact: for each contract input, the share of
nulls, min, max, quantiles and a binned distribution of the training rows (10 bins at the
training deciles, plus a bin below the minimum and one above the maximum, so that values outside
the training range count as drift rather than vanish). ``featurestream quality`` profiles the
current values the same way and compares:

- **PSI** (population stability index) per feature over those bins:
  ``sum((cur - base) * ln(cur / base))``, each share floored at ``EPSILON`` so an empty bin
  does not make it infinite. Conventional reading: < 0.1 stable, 0.1-0.25 moderate shift,
  > 0.25 significant shift (the default threshold);
- **null rate** against the baseline's: a breach when it rises by more than
  ``DEFAULT_NULL_RISE`` (0.1).

Features are compared on their non-null values; nulls are the null rate's business. A
constant training feature has one bin at its value (plus the two outer bins).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

PROFILE_FILE = "profile.json"
BINS = 10
EPSILON = 1e-4
DEFAULT_PSI_THRESHOLD = 0.25
DEFAULT_NULL_RISE = 0.1
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


def _numeric(values: Iterable[Any]) -> tuple[np.ndarray[Any, Any], int]:
    """Non-null values as floats (booleans as 0/1) and how many were null."""
    kept: list[float] = []
    nulls = 0
    for value in values:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            nulls += 1
        else:
            kept.append(float(value))
    return np.asarray(kept, dtype=float), nulls


def feature_profile(values: Iterable[Any]) -> dict[str, Any]:
    """The profile of one feature's values (None and NaN are nulls)."""
    data, nulls = _numeric(values)
    count = len(data) + nulls
    profile: dict[str, Any] = {
        "count": count,
        "null_rate": nulls / count if count else None,
        "min": None,
        "max": None,
        "quantiles": {},
        "edges": [],
        "shares": [],
    }
    if not len(data):
        return profile
    edges = sorted(set(np.quantile(data, np.linspace(0, 1, BINS + 1)).tolist()))
    profile.update(
        min=float(data.min()),
        max=float(data.max()),
        quantiles={str(q): float(np.quantile(data, q)) for q in QUANTILES},
        edges=edges,
        shares=_shares(data, edges),
    )
    return profile


def _shares(data: np.ndarray[Any, Any], edges: Sequence[float]) -> list[float]:
    """Shares of ``data`` below ``edges[0]``, in each ``[e_i, e_i+1)`` (the last bin closed),
    and above ``edges[-1]``."""
    if not len(data):
        return []
    below = float((data < edges[0]).sum())
    above = float((data > edges[-1]).sum())
    inner = data[(data >= edges[0]) & (data <= edges[-1])]
    if len(edges) == 1:
        middle = [float(len(inner))]
    else:
        counts, _ = np.histogram(inner, bins=np.asarray(edges))
        middle = counts.astype(float).tolist()
    return [x / len(data) for x in (below, *middle, above)]


def psi(base: Sequence[float], current: Sequence[float]) -> float:
    """Population stability index of two binned distributions (shares, same bins)."""
    total = 0.0
    for b, c in zip(base, current, strict=True):
        b, c = max(b, EPSILON), max(c, EPSILON)
        total += (c - b) * math.log(c / b)
    return total


@dataclass(frozen=True)
class Drift:
    """One feature's current profile against its training baseline."""

    feature: str
    baseline_null_rate: float | None
    null_rate: float | None
    psi: float | None
    """None when either side has no non-null value."""
    current_min: float | None
    current_max: float | None
    breaches: tuple[str, ...]


def compare(
    baseline: Mapping[str, Mapping[str, Any]],
    current: Mapping[str, Iterable[Any]],
    *,
    psi_threshold: float = DEFAULT_PSI_THRESHOLD,
    null_rise: float = DEFAULT_NULL_RISE,
) -> list[Drift]:
    """Each baseline feature's drift in ``current`` (values per feature), in baseline order."""
    found = []
    for name, base in baseline.items():
        data, nulls = _numeric(current.get(name, ()))
        count = len(data) + nulls
        null_rate = nulls / count if count else None
        value = (
            psi(base["shares"], _shares(data, base["edges"]))
            if base["edges"] and len(data)
            else None
        )
        breaches = []
        if value is not None and value > psi_threshold:
            breaches.append(f"PSI {value:.3f} > {psi_threshold}")
        if (
            null_rate is not None
            and base["null_rate"] is not None
            and null_rate > base["null_rate"] + null_rise
        ):
            breaches.append(
                f"null rate {null_rate:.1%} > {base['null_rate']:.1%} + {null_rise:.0%}"
            )
        found.append(
            Drift(
                feature=name,
                baseline_null_rate=base["null_rate"],
                null_rate=null_rate,
                psi=value,
                current_min=float(data.min()) if len(data) else None,
                current_max=float(data.max()) if len(data) else None,
                breaches=tuple(breaches),
            )
        )
    return found


class RollingDrift:
    """Each profiled input's last ``window`` values and their drift against the training
    profile (the scoring job's drift gauges).

    ``add`` and ``refresh`` run where the values arrive (the UDF's ``eval``); ``refresh``
    compares at most every ``refresh_s`` seconds (~6 ms per input over 5,000 values). The
    gauges read only the integers the last refresh stored: PyFlink evaluates gauges when a
    bundle finishes, also while the operator closes, and nothing there should compute.
    """

    def __init__(
        self,
        baseline: Mapping[str, Mapping[str, Any]],
        window: int = 5_000,
        refresh_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._baseline = dict(baseline)
        self._values: dict[str, deque[Any]] = {n: deque(maxlen=window) for n in baseline}
        self._refresh_s = refresh_s
        self._clock = clock
        self._refreshed_at: float | None = None
        self._latest: dict[str, Drift] = {}
        self._psi_milli = dict.fromkeys(baseline, 0)
        self._null_rise_milli = dict.fromkeys(baseline, 0)

    @property
    def features(self) -> list[str]:
        """The profiled inputs, in profile order."""
        return list(self._baseline)

    def add(self, feature: str, values: Iterable[Any]) -> None:
        """Append scored values of ``feature`` (None and NaN are nulls)."""
        self._values[feature].extend(values)

    def refresh(self, force: bool = False) -> bool:
        """Compare every input's window with its profile if ``refresh_s`` has passed since the
        last comparison (or ``force``); whether it compared."""
        now = self._clock()
        recent = self._refreshed_at is not None and now - self._refreshed_at < self._refresh_s
        if recent and not force:
            return False
        self._refreshed_at = now
        for feature, values in self._values.items():
            if not values:
                continue
            (found,) = compare({feature: self._baseline[feature]}, {feature: list(values)})
            self._latest[feature] = found
            self._psi_milli[feature] = 0 if found.psi is None else round(found.psi * 1000)
            rise = None
            if found.null_rate is not None and found.baseline_null_rate is not None:
                rise = found.null_rate - found.baseline_null_rate
            self._null_rise_milli[feature] = 0 if rise is None else max(0, round(rise * 1000))
        return True

    def drift(self, feature: str) -> Drift | None:
        """The feature's drift at the last refresh; None before any value."""
        return self._latest.get(feature)

    def psi_milli(self, feature: str) -> int:
        """PSI in thousandths at the last refresh (0 when unknown): PyFlink gauges are
        integers."""
        return self._psi_milli[feature]

    def null_rise_milli(self, feature: str) -> int:
        """Null rate above the training one at the last refresh, in thousandths (0 when not
        above or unknown)."""
        return self._null_rise_milli[feature]
