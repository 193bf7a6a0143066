"""What the generators yield, and the pieces every generator shares: ids, seeds, Zipf choice."""

from __future__ import annotations

import hashlib
import random
import re
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import accumulate
from typing import Any, Literal, NamedTuple, TypeVar

from common import topics

Kind = Literal["trades", "payments"]
KINDS: tuple[Kind, ...] = ("trades", "payments")

# Which schema and default topic belong to each kind of event.
SCHEMA_NAMES: dict[Kind, str] = {"trades": "trade_event", "payments": "payment_event"}
DEFAULT_TOPICS: dict[Kind, str] = {"trades": topics.TRADES, "payments": topics.PAYMENTS}

PRODUCER = "featurestream-generator"

# Anything that looks like a card number (a PAN has 12 to 19 digits) must never be generated.
# Generated identifiers are held to a much shorter digit run than that.
CARD_NUMBER_LIKE = re.compile(r"\d{12,19}")
_LONG_DIGIT_RUN = re.compile(r"\d{7,}")

T = TypeVar("T")


@dataclass(frozen=True)
class Population:
    """How many entities the generators draw events from.

    The defaults are the documented populations (50k cards, 5k merchants, 5k accounts, the five
    largest crypto pairs): with them a seed gives the same events as before the population could
    be chosen. A larger one models production scale (``bench/state_scale.py``: 200k cards,
    10k accounts, 24 symbols).
    """

    cards: int = 50_000
    merchants: int = 5_000
    accounts: int = 5_000
    symbols: int = 5

    def __post_init__(self) -> None:
        for name in ("cards", "merchants", "accounts", "symbols"):
            if getattr(self, name) < 1:
                raise ValueError(f"population: {name} must be at least 1")


class GeneratedEvent(NamedTuple):
    """One generated event, ready for a sink.

    Attributes:
        sequence: Position in the generated stream, from 0 (also the record's ``sequence``).
        timeline_ms: Time on the simulated clock, before disorder; never decreases.
        event_time_ms: The record's ``event_time``: ``timeline_ms`` minus the disorder jitter.
        key: The Kafka key: the symbol of a trade, the card token of a payment (UTF-8).
        record: The record as fastavro writes it (``event_time`` as epoch milliseconds,
            decimals as ``Decimal``).
        burst_id: For a payment made in a fraud-like velocity burst, the burst's number (from 0);
            ``None`` otherwise and for every trade. Not part of the schema: the ground truth
            that labels are written from.
    """

    sequence: int
    timeline_ms: int
    event_time_ms: int
    key: bytes
    record: dict[str, Any]
    burst_id: int | None = None


def start_millis(start: datetime | None) -> int:
    """Epoch milliseconds of ``start``; now, rounded down to the second, if ``None``.

    A naive ``start`` is taken as UTC.
    """
    if start is None:
        return int(datetime.now(UTC).timestamp()) * 1000
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    return int(start.timestamp() * 1000)


def stream_rng(seed: int, purpose: str) -> random.Random:
    """An independent random stream per purpose, so that one purpose's draws never shift another's.

    String seeds are hashed with SHA-512 by ``random``, the same on every platform and run.
    """
    return random.Random(f"featurestream:{seed}:{purpose}")


def run_tag(kind: Kind, seed: int, start_ms: int) -> str:
    """Eight hex characters naming one (kind, seed, start): the middle part of every event id."""
    return hashlib.blake2b(f"{kind}|{seed}|{start_ms}".encode(), digest_size=4).hexdigest()


def opaque_ids(rng: random.Random, prefix: str, count: int, hex_digits: int) -> list[str]:
    """``count`` distinct ``<prefix><hex>`` identifiers with no long run of decimal digits."""
    ids: list[str] = []
    seen: set[str] = set()
    bits = 4 * hex_digits
    while len(ids) < count:
        candidate = f"{prefix}{rng.getrandbits(bits):0{hex_digits}x}"
        if candidate in seen or _LONG_DIGIT_RUN.search(candidate):
            continue
        seen.add(candidate)
        ids.append(candidate)
    return ids


def zipf_weights(count: int, exponent: float, offset: float = 0.0) -> list[float]:
    """Zipf(-Mandelbrot) weights ``1 / (rank + offset) ** exponent`` for ranks 1..count.

    A positive ``offset`` flattens the head: the busiest few items stay busy without one of them
    taking a tenth of all traffic, as plain Zipf over tens of thousands of items would.
    """
    return [1.0 / (rank + offset) ** exponent for rank in range(1, count + 1)]


def chooser(rng: random.Random, items: Sequence[T], weights: Sequence[float]) -> Callable[[], T]:
    """A function that draws one of ``items`` with probability proportional to ``weights``.

    Binary search over cumulative weights: O(log n) per draw and no allocation, which is what
    a hot loop over 50,000 cards needs (``random.choices`` rebuilds its state on every call).
    """
    cumulative = list(accumulate(weights))
    total = cumulative[-1]
    last = len(items) - 1
    uniform = rng.random

    def choose() -> T:
        return items[min(bisect_right(cumulative, uniform() * total), last)]

    return choose
