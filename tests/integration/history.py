"""Payment history that spans days: what feature values must survive (decision 51).

``history()`` is generated payments spread over about four and a half days of event time (the
generator's bursty arrivals: gaps from 0 ms to hours, hot merchants), plus hand-placed payments
of a few cards at the edges the definitions name: same-time peers, events exactly 10 min, 1 h and
24 h apart (inside the window) and 1 ms more (outside), and silences of three and forty days for
``seconds_since_prev``. Every window of both payment views evicts many times over.
"""

from __future__ import annotations

import random
import zlib
from datetime import UTC, datetime
from typing import Any

from common.generate.runner import generate_events

T0 = datetime(2026, 3, 1, tzinfo=UTC)
S = 1_000
M = 60 * S
H = 60 * M
D = 24 * H
GENERATED = 6_000
RATE = 0.015  # payments per simulated second: 6,000 span ~4.6 days
DISORDER_MS = 4_000  # within the source's 5 s bound

# (offset from the card's first payment in ms, merchant): the edges of every window.
EDGES = [
    (0, "mer_edge0001"),
    (0, "mer_edge0002"),  # a peer
    (10 * M, "mer_edge0001"),  # exactly 10 min later: inside the 10 min window
    (10 * M, "mer_edge0003"),  # and its peer
    (20 * M + 1, "mer_edge0001"),  # 1 ms past the window of the one before
    (H + 20 * M + 1, "mer_edge0002"),  # exactly 1 h later
    (D + 20 * M + 1, "mer_edge0001"),  # exactly 24 h later
    (D + 20 * M + 2, "mer_edge0004"),
    (4 * D, "mer_edge0002"),  # three days of silence
    (44 * D, "mer_edge0003"),  # forty days: beyond every window, within 400 days
]
EDGE_CARDS = ["tok_0000edge00000a01", "tok_0000edge00000a02", "tok_0000edge00000a03"]


def history(seed: int = 41) -> list[dict[str, Any]]:
    """The payments (records as the generator writes them, ``event_time`` in epoch ms), in
    generation order: time order within the disorder bound."""
    records = [
        e.record
        for e in generate_events(
            "payments", GENERATED, seed=seed, start=T0, disorder_ms=DISORDER_MS, rate=RATE
        )
    ]
    template = records[0]
    start = int(T0.timestamp() * 1000)
    edges = []
    for n, card in enumerate(EDGE_CARDS):
        base = start + n * 7 * H + 123
        for i, (offset, merchant) in enumerate(EDGES):
            edges.append(
                {
                    **template,
                    "payment_id": f"pay-edge-{n}-{i:02d}",
                    "card_id": card,
                    "merchant_id": merchant,
                    "amount_usd_cents": 100 * (i + 1) + n,
                    "amount_minor": 100 * (i + 1) + n,
                    "currency": "USD",
                    "event_time": base + offset,
                }
            )
    # Interleaved by time; the generated ones keep their own (bounded) disorder.
    merged = records + edges
    merged.sort(key=lambda r: r["event_time"] + zlib.crc32(r["payment_id"].encode()) % DISORDER_MS)
    return merged


def span_days(records: list[dict[str, Any]]) -> float:
    """Days between the first and the last event time."""
    times = [r["event_time"] for r in records]
    return (max(times) - min(times)) / D


def reordered(records: list[dict[str, Any]], order: str, seed: int = 7) -> list[dict[str, Any]]:
    """``records`` in another order: ``reversed`` (newest first), ``shuffled``, ``by_merchant``
    (as an export sorted by store would be)."""
    if order == "reversed":
        return sorted(records, key=lambda r: (r["event_time"], r["payment_id"]), reverse=True)
    if order == "shuffled":
        copy = list(records)
        random.Random(seed).shuffle(copy)
        return copy
    if order == "by_merchant":
        return sorted(records, key=lambda r: (r["merchant_id"], r["payment_id"]))
    raise ValueError(order)
