"""Read times that exercise read-time features (``common.features.read_time``) on a key's log:
at its newest event and just before, exactly one window after an event (the event still inside)
and 1 ms later (outside), hours and days after, and an unknown key; only times the log can
answer exactly (``T >= newest - margin``)."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from common.features import FeatureView
from common.features.read_time import LoggedEvent, read_time_spec
from tests.integration.history import D, H


def read_times(
    view: FeatureView, logs: Mapping[str, Sequence[LoggedEvent]], seed: int
) -> list[tuple[str, int]]:
    """``(key, read time)`` pairs for the keys of ``logs``: edge cards, the ten busiest keys and
    a sample of the rest, and one unknown key."""
    spec = read_time_spec(view)
    windows = sorted({a["window_ms"] for a in spec["aggregates"] if a["window_ms"]})
    rng = random.Random(seed)
    keys = sorted(logs)
    busiest = sorted(keys, key=lambda k: len(logs[k]), reverse=True)[:10]
    chosen = [k for k in keys if "edge" in k] + busiest + rng.sample(keys, min(120, len(keys)))
    reads: list[tuple[str, int]] = []
    for key in chosen:
        times = sorted({e.time_ms for e in logs[key]})
        newest = times[-1]
        earliest = newest - spec["margin_ms"]
        candidates = {newest, newest - 1, earliest, newest + 1, newest + 3 * H, newest + 2 * D}
        candidates |= {newest + 41 * D}
        for t in times[-5:]:
            for w in windows:
                candidates |= {t + w, t + w + 1, t + w - 1}
        reads += [(key, t) for t in sorted(candidates) if t >= earliest]
    reads += [("never_seen_key", max(e.time_ms for log in logs.values() for e in log))]
    return reads
