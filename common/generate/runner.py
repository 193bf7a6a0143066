"""Generating events and writing them to a sink: the Python API behind ``featurestream generate``.

Example::

    from common.config import load_stack_config
    from common.generate import generate_events, produce

    first = next(generate_events("payments", count=1, seed=7))
    summary = produce("trades", load_stack_config(), count=100_000, bad_pct=1.0)
    print(summary.line())
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import MappingProxyType

from common import registry as schema_registry
from common.config import StackConfig
from common.generate.events import (
    DEFAULT_TOPICS,
    KINDS,
    SCHEMA_NAMES,
    GeneratedEvent,
    Kind,
    Population,
    start_millis,
)
from common.generate.labels import Labels
from common.generate.malformed import MalformedKind, Malformer, unknown_schema_id
from common.generate.payments import payment_events
from common.generate.sinks import FileSink, KafkaSink, ensure_topic
from common.generate.trades import trade_events
from common.serde import Encoder, load_schema

DEFAULT_COUNT = 10_000
DEFAULT_SEED = 1
# Without --rate the simulated clock still needs a pace: one event per millisecond on average.
UNTHROTTLED_MEAN_GAP_S = 0.001
PROGRESS_INTERVAL_S = 1.0
_CHECK_EVERY = 1024  # records between looks at the wall clock when nothing else needs it
_PACING_SLACK_S = 0.002  # sleep only when this far ahead of the wall clock

_GENERATORS = {"trades": trade_events, "payments": payment_events}


def generate_events(
    kind: Kind,
    count: int,
    seed: int = DEFAULT_SEED,
    start: datetime | None = None,
    disorder_ms: int = 0,
    rate: float | None = None,
    population: Population | None = None,
) -> Iterator[GeneratedEvent]:
    """Generate ``count`` events of ``kind``; the same ones for the same seed, start, rate and
    population.

    Args:
        kind: ``"trades"`` or ``"payments"``.
        count: How many events.
        seed: Seed of every random draw.
        start: Simulated clock at the first event; now, rounded down to the second, if ``None``.
            A naive datetime is taken as UTC.
        disorder_ms: Each event time is the simulated clock minus a uniform jitter in
            ``[0, disorder_ms]``, so events are at most this much out of order.
        rate: Mean events per simulated second; 1000 if ``None``.
        population: How many cards, merchants, accounts and symbols to draw from; the default
            ``Population()`` if ``None``.

    Example:
        >>> from datetime import UTC, datetime
        >>> start = datetime(2025, 1, 1, tzinfo=UTC)
        >>> events = list(generate_events("trades", 3, seed=1, start=start))
        >>> [e.sequence for e in events]
        [0, 1, 2]
    """
    if kind not in _GENERATORS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if count < 0:
        raise ValueError("count must not be negative")
    if rate is not None and rate <= 0:
        raise ValueError("rate must be positive")
    mean_gap_s = 1.0 / rate if rate else UNTHROTTLED_MEAN_GAP_S
    entities = population or Population()
    return _GENERATORS[kind](count, seed, start_millis(start), mean_gap_s, disorder_ms, entities)


@dataclass(frozen=True)
class Summary:
    """What a run wrote (also used for progress reports while it runs).

    Attributes:
        kind: ``"trades"`` or ``"payments"``.
        destination: Human-readable destination (topic and brokers, or file).
        records: Records written, good and malformed.
        bad: Malformed records by kind (``MalformedKind`` values).
        elapsed_s: Wall-clock seconds since generation started.
        delivery_failures: Records Kafka did not acknowledge.
        schema_id: Registry id the good values were written with (``None`` for a file).
        first_failure: The first delivery error, if any.
        labels: Where the payments' labels were written, and how many (``--labels``), if asked.
    """

    kind: str
    destination: str
    records: int
    bad: Mapping[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    delivery_failures: int = 0
    schema_id: int | None = None
    first_failure: str | None = None
    labels: str | None = None

    @property
    def bad_total(self) -> int:
        """Malformed records of every kind."""
        return sum(self.bad.values())

    @property
    def events_per_s(self) -> float:
        """Records written per wall-clock second."""
        return self.records / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def ok(self) -> bool:
        """Whether every record was delivered."""
        return self.delivery_failures == 0

    def progress_line(self) -> str:
        """One line for stderr while running."""
        return (
            f"{self.kind}: {self.records:,} records, {self.events_per_s:,.0f}/s, "
            f"{self.bad_total:,} bad"
        )

    def line(self) -> str:
        """The final one-line summary."""
        bad = ", ".join(f"{kind} {n:,}" for kind, n in self.bad.items() if n) or "none"
        schema = f" (schema id {self.schema_id})" if self.schema_id is not None else ""
        failed = (
            f"; {self.delivery_failures:,} FAILED delivery (first: {self.first_failure})"
            if self.delivery_failures
            else ""
        )
        labels = f"; {self.labels}" if self.labels else ""
        return (
            f"wrote {self.records:,} {self.kind} ({self.records - self.bad_total:,} good, "
            f"bad: {bad}) in {self.elapsed_s:.2f} s, {self.events_per_s:,.0f} events/s "
            f"to {self.destination}{schema}{failed}{labels}"
        )


def produce(
    kind: Kind,
    config: StackConfig,
    *,
    count: int = DEFAULT_COUNT,
    seed: int = DEFAULT_SEED,
    start: datetime | None = None,
    rate: float | None = None,
    disorder_ms: int = 0,
    bad_pct: float = 0.0,
    to_file: Path | None = None,
    topic: str | None = None,
    labels: Path | None = None,
    on_progress: Callable[[Summary], None] | None = None,
    pace: bool = True,
    population: Population | None = None,
) -> Summary:
    """Generate events and write them to Kafka (default) or to an Avro container file.

    For Kafka, the kind's schema is registered under ``<topic>-value``, the topic is created with
    ``config.kafka_partitions`` partitions if missing, and values are written in the Confluent
    wire format keyed by symbol (trades) or card token (payments). The Kafka record timestamp is
    the time of producing; the event time is in the value.

    Args:
        kind: ``"trades"`` or ``"payments"``.
        config: The stack (brokers, registry).
        count: Records to write, malformed ones included.
        seed: Seed of every random draw.
        start: Simulated clock at the first event (see ``generate_events``).
        rate: Mean events per second. Producing is paced so that the simulated clock keeps up
            with, and never runs ahead of, the wall clock. ``None``: as fast as possible.
        disorder_ms: Bound on out-of-orderness of event times (see ``generate_events``).
        bad_pct: Percentage of records replaced by malformed values (Kafka only).
        to_file: Write the good events to this Avro file instead of Kafka.
        topic: Destination topic; the kind's default topic if ``None``.
        labels: Also write every generated payment's fraud label to this Parquet file
            (``common.generate.labels``; payments only), once all events are written.
        on_progress: Called about once a second with the summary so far.
        pace: With ``rate``, keep producing to the simulated clock's pace; False writes as fast
            as possible (history: the events' spacing is ``rate``'s, the write is not slowed).
        population: How many cards, merchants, accounts and symbols (default ``Population()``).

    Returns:
        What was written. ``delivery_failures`` counts records Kafka did not acknowledge.

    Raises:
        ValueError: an argument is out of range, ``bad_pct`` is combined with ``to_file``, or
            ``labels`` with trades.
    """
    if not 0.0 <= bad_pct <= 100.0:
        raise ValueError(f"bad_pct must be within 0 and 100, not {bad_pct}")
    if bad_pct and to_file is not None:
        raise ValueError("malformed records (bad_pct) cannot be written to an Avro file")
    if labels is not None and kind != "payments":
        raise ValueError("labels exist for payments only (fraud-like bursts)")
    events = generate_events(kind, count, seed, start, disorder_ms, rate, population)
    collected: Labels | None = None
    if labels is not None:
        collected = Labels()
        events = collected.track(events)
    schema = load_schema(SCHEMA_NAMES[kind])

    sink: KafkaSink | FileSink
    schema_id: int | None = None
    malformer: Malformer | None = None
    if to_file is not None:
        sink = FileSink(to_file, schema)
        emit: Callable[[GeneratedEvent], None] = _file_emitter(sink)
    else:
        topic = topic or DEFAULT_TOPICS[kind]
        ensure_topic(config, topic)  # first: no subject is left behind when Kafka is down
        registry = schema_registry.client(config)
        schema_id = schema_registry.ensure_registered(registry, topic, SCHEMA_NAMES[kind]).schema_id
        sink = KafkaSink(config, topic)
        if bad_pct:
            malformer = Malformer(seed, bad_pct, schema_id, unknown_schema_id(schema_id, registry))
        emit = _kafka_emitter(sink, Encoder(schema_id, schema), malformer)

    bad_counts = malformer.counts if malformer else dict.fromkeys(MalformedKind, 0)

    def snapshot(
        records: int, elapsed_s: float, failures: int = 0, labels_line: str | None = None
    ) -> Summary:
        return Summary(
            kind=kind,
            destination=sink.destination,
            records=records,
            bad=MappingProxyType({str(k): n for k, n in bad_counts.items()}),
            elapsed_s=elapsed_s,
            delivery_failures=failures,
            schema_id=schema_id,
            first_failure=sink.first_failure,
            labels=labels_line,
        )

    clock = time.monotonic
    began = clock()
    next_report = began + PROGRESS_INTERVAL_S
    written = 0
    try:
        if rate is None or not pace:
            for event in events:
                emit(event)
                written += 1
                if not written % _CHECK_EVERY and on_progress and clock() >= next_report:
                    next_report = clock() + PROGRESS_INTERVAL_S
                    on_progress(snapshot(written, clock() - began))
        else:
            origin_ms: int | None = None
            for event in events:
                if origin_ms is None:
                    origin_ms = event.timeline_ms
                ahead_s = (event.timeline_ms - origin_ms) / 1000.0 - (clock() - began)
                if ahead_s > _PACING_SLACK_S:
                    time.sleep(ahead_s)
                emit(event)
                written += 1
                if on_progress and clock() >= next_report:
                    next_report = clock() + PROGRESS_INTERVAL_S
                    on_progress(snapshot(written, clock() - began))
    finally:
        failures = sink.close()
    labels_line = None
    if collected is not None and labels is not None:
        # Written only once every event was: a file from an interrupted run would mislead.
        rows = collected.write(labels)
        labels_line = f"labels of {rows:,} payments ({collected.positives:,} in bursts) to {labels}"
    return snapshot(written, clock() - began, failures, labels_line)


def _file_emitter(sink: FileSink) -> Callable[[GeneratedEvent], None]:
    write = sink.write

    def emit(event: GeneratedEvent) -> None:
        write(event.record)

    return emit


def _kafka_emitter(
    sink: KafkaSink, encoder: Encoder, malformer: Malformer | None
) -> Callable[[GeneratedEvent], None]:
    send = sink.send
    encode = encoder.encode
    if malformer is None:

        def emit(event: GeneratedEvent) -> None:
            send(event.key, encode(event.record))

        return emit

    pick = malformer.pick
    break_value = malformer.break_value

    def emit_some_bad(event: GeneratedEvent) -> None:
        value = encode(event.record)
        if pick():
            value = break_value(value)[1]
        send(event.key, value)

    return emit_some_bad
