"""Declaring features: entities, sources, windowed aggregations, derived features, views.

A feature view is pure data: it says *what* to compute, never how. Compilers turn it into Flink
SQL for the streaming job and for the offline (bounded) run, so both follow one definition.

Example::

    payments = Source(topic="payments", schema="payment_event", id_column="payment_id",
                      max_out_of_orderness=timedelta(seconds=5))
    payment_card = FeatureView(
        name="payment_card", version=1, entity=Entity("card_id"), source=payments,
        features=(
            Count("card_txn_count_1h", window="1h"),
            Sum("card_amount_usd_sum_1h", "amount_usd_cents", window="1h"),
            SecondsSincePrev("card_seconds_since_prev"),
        ),
    )

Window semantics (exact): for an event ``e`` of key ``k`` at event time ``t``, a feature over
window ``w`` aggregates every event of ``k`` with ``t - w <= t' <= t``: ``e`` itself and events
with the same timestamp included. ``SecondsSincePrev`` is ``t`` minus the latest strictly earlier
event time of ``k`` (null if there is none within the view's ``last_event_retention``, 400 days
by default).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import ClassVar

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_WINDOW = re.compile(r"^(\d+)(s|m|h|d)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class DefinitionError(ValueError):
    """A feature definition is inconsistent; the message names the view and the feature."""


def parse_window(text: str) -> timedelta:
    """``"10m"`` → 10 minutes. Units: s, m, h, d.

    Raises:
        DefinitionError: for anything else (``"90"``, ``"1w"``, ``"0m"``).
    """
    match = _WINDOW.match(text)
    if not match or int(match.group(1)) == 0:
        raise DefinitionError(f"window {text!r} is not a positive <number><s|m|h|d>, e.g. '10m'")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def _check_name(kind: str, name: str) -> None:
    if not _NAME.match(name):
        raise DefinitionError(f"{kind} name {name!r} must be snake_case ([a-z][a-z0-9_]*)")


@dataclass(frozen=True)
class Entity:
    """What features describe: the key column of the source (``card_id``, ``symbol``)."""

    key: str

    def __post_init__(self) -> None:
        _check_name("entity key", self.key)


@dataclass(frozen=True)
class Source:
    """A Kafka topic of Avro events (Confluent wire format) and its time semantics.

    Attributes:
        topic: Input topic (value subject ``<topic>-value``).
        schema: Name of the shared schema in ``schemas/`` (file stem).
        id_column: The event's unique id, carried into every output record.
        event_time: The event-time column (Avro ``timestamp-millis``).
        max_out_of_orderness: Watermark delay: events up to this much out of order are in time;
            later ones go to the dead-letter topic with reason ``late``.
        max_key_length: Longest entity key or event id, in characters. A longer one (a bug
            upstream, or a hostile producer) goes to the dead-letter topic with reason
            ``key_too_long``: it would end up in every output record, Redis key and window
            state, and a 1 MB key makes an output record bigger than Kafka accepts.
        max_future_skew: How far ahead of the wall clock an event time may be when the event
            is read: producers' clocks drift, but an event from 2099 would move the watermark
            past every real event. Later events go to the dead-letter topic with reason
            ``future_event_time`` and never touch the watermark.
        idle_timeout: None (default): every partition holds back the watermark, so the window
            functions' watermark never passes a row the late split let through. Set, a
            partition silent this long stops holding it back, and the source then runs at
            parallelism 1 to keep that guarantee (decision 51).
        checks: Flink SQL conditions every event must meet (``amount_usd_cents >= 0``); an
            event failing one (false or null) goes to the dead-letter topic with reason
            ``invalid_value``.
    """

    topic: str
    schema: str
    id_column: str
    event_time: str = "event_time"
    max_out_of_orderness: timedelta = timedelta(seconds=5)
    max_key_length: int = 256
    max_future_skew: timedelta = timedelta(minutes=5)
    idle_timeout: timedelta | None = None
    checks: tuple[str, ...] = ()


@dataclass(frozen=True)
class Feature:
    """Base of every feature: a snake_case name unique within its view."""

    name: str
    hidden: bool = field(default=False, kw_only=True)
    """Computed (for derived features to use) but not part of the view's output."""

    def __post_init__(self) -> None:
        _check_name("feature", self.name)


@dataclass(frozen=True)
class WindowedAggregate(Feature):
    """An aggregate of ``expression`` over the events of the key within ``window``.

    ``expression`` is a Flink SQL expression over the source's columns (a column name, or e.g.
    ``price * quantity``); aggregates other than count need one.
    """

    expression: str | None = None
    window: str = "1h"
    function: ClassVar[str] = ""
    needs_expression: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        parse_window(self.window)
        if self.needs_expression and not self.expression:
            raise DefinitionError(f"feature {self.name!r}: {self.function} needs an expression")

    @property
    def window_length(self) -> timedelta:
        """The window as a duration."""
        return parse_window(self.window)


@dataclass(frozen=True)
class Count(WindowedAggregate):
    """Number of events (or of non-null ``expression`` values, when one is given)."""

    function: ClassVar[str] = "count"
    needs_expression: ClassVar[bool] = False


@dataclass(frozen=True)
class Sum(WindowedAggregate):
    """Sum of ``expression``."""

    function: ClassVar[str] = "sum"


@dataclass(frozen=True)
class Avg(WindowedAggregate):
    """Mean of ``expression`` (a DOUBLE)."""

    function: ClassVar[str] = "avg"


@dataclass(frozen=True)
class Min(WindowedAggregate):
    """Smallest ``expression``."""

    function: ClassVar[str] = "min"


@dataclass(frozen=True)
class Max(WindowedAggregate):
    """Largest ``expression``."""

    function: ClassVar[str] = "max"


@dataclass(frozen=True)
class StddevPop(WindowedAggregate):
    """Population standard deviation of ``expression`` (a DOUBLE; 0 for a single event)."""

    function: ClassVar[str] = "stddev_pop"


@dataclass(frozen=True)
class DistinctCount(WindowedAggregate):
    """Number of distinct values of ``expression``."""

    function: ClassVar[str] = "distinct_count"


@dataclass(frozen=True)
class Last(Feature):
    """``expression`` at the key's latest event time: e.g. the last price.

    Same-time events are peers and see one value: that of the peer with the largest event id,
    so the result does not depend on arrival order.
    """

    expression: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.expression:
            raise DefinitionError(f"feature {self.name!r}: last needs an expression")


@dataclass(frozen=True)
class SecondsSincePrev(Feature):
    """Seconds from the key's latest strictly earlier event to this one (null if none)."""


@dataclass(frozen=True)
class Derived(Feature):
    """A Flink SQL expression over other features of the view, e.g. ``notional / volume``.

    Division by zero and nulls follow SQL: ``NULLIF`` the divisor to get null, not an error.
    """

    expression: str = ""
    depends_on: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.expression or not self.depends_on:
            raise DefinitionError(
                f"feature {self.name!r}: derived needs an expression and the features it uses"
            )


@dataclass(frozen=True)
class FeatureView:
    """A named, versioned set of features of one entity, computed per event of one source.

    A change that breaks state or output compatibility is a new ``version`` (``v2`` runs next to
    ``v1`` until ``v1`` is retired), never an edit of a running one.

    ``last_event_retention``: how long a key's last event time is kept after its windows have
    expired (``state_retention``): ``SecondsSincePrev`` looks back this far, and a restarted job
    can tell a row older than what it already released for the key (decision 51).

    ``read_time``: online reads evaluate the features at the read time (windows end at ``T``)
    from a per-key log of the key's events in the window, which the job keeps in Redis
    (``common.features.read_time``, decision 75). Exact, and worth it for keys with few events
    per window (cards); a key with thousands (a busy merchant or symbol) costs as many log
    entries in memory and per read.

    ``tile`` (with ``read_time``): keep per key mergeable partial aggregates per tile of this
    length instead of the event log (decision 76), for busy keys. A read at ``T`` then folds
    the tiles from ``T - w`` rounded to the nearest tile boundary: at most half a tile more or
    fewer events at a window's old end; reads before the key's newest event are ``too_early``.
    Every window must be a multiple of it.
    """

    name: str
    version: int
    entity: Entity
    source: Source
    features: tuple[Feature, ...]
    description: str = ""
    last_event_retention: timedelta = timedelta(days=400)
    read_time: bool = False
    tile: timedelta | None = None

    def __post_init__(self) -> None:
        _check_name("feature view", self.name)
        if self.version < 1:
            raise DefinitionError(f"view {self.name!r}: version must be >= 1")
        if not self.features:
            raise DefinitionError(f"view {self.name!r}: no features")
        names = [f.name for f in self.features]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise DefinitionError(f"view {self.name!r}: duplicate feature names {duplicates}")
        known = set(names)
        for feature in self.features:
            if isinstance(feature, Derived):
                missing = [d for d in feature.depends_on if d not in known]
                if missing or feature.name in feature.depends_on:
                    raise DefinitionError(
                        f"view {self.name!r}, feature {feature.name!r}: depends on unknown "
                        f"or itself: {missing or [feature.name]}"
                    )
                if any(isinstance(self.feature(d), Derived) for d in feature.depends_on):
                    raise DefinitionError(
                        f"view {self.name!r}, feature {feature.name!r}: derived features may use "
                        "aggregates only, not other derived features"
                    )
        self._check_tile()
        if self.last_event_retention < self.state_retention:
            raise DefinitionError(
                f"view {self.name!r}: last_event_retention {self.last_event_retention} is "
                f"shorter than the window state's retention {self.state_retention}"
            )

    def _check_tile(self) -> None:
        if self.tile is None:
            return
        if not self.read_time:
            raise DefinitionError(f"view {self.name!r}: tile needs read_time=True")
        if self.tile < timedelta(seconds=1) or self.tile % timedelta(seconds=1):
            raise DefinitionError(
                f"view {self.name!r}: tile must be a whole number of seconds, got {self.tile}"
            )
        for feature in self.features:
            if isinstance(feature, WindowedAggregate) and feature.window_length % self.tile:
                raise DefinitionError(
                    f"view {self.name!r}, feature {feature.name!r}: window "
                    f"{feature.window_length} is not a multiple of the tile {self.tile}"
                )

    def feature(self, name: str) -> Feature:
        """The feature called ``name``."""
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(f"view {self.name!r} has no feature {name!r}")

    @property
    def qualified_name(self) -> str:
        """``<name>.v<version>``."""
        return f"{self.name}.v{self.version}"

    @property
    def output_features(self) -> tuple[Feature, ...]:
        """The features in the view's output, in declaration order (hidden ones left out)."""
        return tuple(f for f in self.features if not f.hidden)

    @property
    def windows(self) -> tuple[timedelta, ...]:
        """Distinct window lengths, shortest first."""
        lengths = {f.window_length for f in self.features if isinstance(f, WindowedAggregate)}
        return tuple(sorted(lengths))

    @property
    def state_retention(self) -> timedelta:
        """State TTL: the largest window plus the allowed out-of-orderness plus a margin."""
        largest = max(self.windows, default=timedelta(0))
        return largest + self.source.max_out_of_orderness + timedelta(minutes=5)
