"""What the fault suite is made of: steady load, hostile records, process kills and outages on the
real local stack, and the checks that read only the outputs.

- ``Load`` produces generated events of one kind at a steady rate (event time tracks the wall
  clock, disorder within the source's bound), remembering when each was produced.
- ``hostile_payments`` builds the bad and odd records, each with the dead-letter reason it must
  get (None: it is a good event and must be folded).
- ``kill9`` / ``suspend`` act on the stack's own processes; ``restart`` brings a part back with
  ``stack.up`` (a new TaskManager, broker, ...).
- ``Arrivals`` watches an output topic as a ``read_committed`` consumer and notes when each
  event's row arrived: recovery time is kill → first row of an event produced after the kill.
- ``account`` compares a feature topic and the dead-letter topic with what was produced:
  lost, duplicated, misrouted.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import fastavro
import psutil
from confluent_kafka import Consumer, Producer

from common import registry, serde
from common.config import StackConfig
from common.generate.events import Kind
from common.generate.runner import generate_events
from common.generate.sinks import PRODUCER_SETTINGS, ensure_topic
from common.local import parts, processes, stack
from common.schemas import SCHEMAS_DIR

SCHEMA_OF = {"payments": "payment_event", "trades": "trade_event"}
ID_OF = {"payments": "payment_id", "trades": "trade_id"}


# ---------------------------------------------------------------------------- load


class Load:
    """Generated events of ``kind`` into ``topic`` at ``rate`` per second, until ``stop``.

    Event times follow the wall clock (the generator's simulated clock starts now) with up to
    ``disorder_ms`` of disorder. The producer is idempotent and keeps retrying through a broker
    outage (librdkafka buffers), so every event is written exactly once.
    """

    def __init__(
        self,
        config: StackConfig,
        kind: Kind,
        topic: str,
        rate: float,
        disorder_ms: int,
        seed: int,
    ) -> None:
        self.config = config
        self.kind = kind
        self.topic = topic
        self.rate = rate
        self.disorder_ms = disorder_ms
        self.seed = seed
        self.id_column = ID_OF[kind]
        self.produced_at: dict[str, float] = {}
        """event id → wall-clock time it was handed to the producer."""
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"load-{kind}", daemon=True)
        ensure_topic(config, topic)
        client = registry.client(config)
        self.schema_id = registry.ensure_registered(client, topic, SCHEMA_OF[kind]).schema_id
        self.encoder = serde.Encoder(self.schema_id, serde.load_schema(SCHEMA_OF[kind]))
        self.producer = Producer(
            {
                **PRODUCER_SETTINGS,
                "bootstrap.servers": config.bootstrap_servers,
                "linger.ms": 5,
                # Through a broker restart: keep trying for long enough.
                "message.timeout.ms": 600_000,
                "delivery.report.only.error": True,
                "log_level": 3,
            }
        )

    def start(self) -> Load:
        self._thread.start()
        return self

    def produced(self) -> dict[str, float]:
        """A copy of ``produced_at``, safe while the load runs."""
        with self._lock:
            return dict(self.produced_at)

    def stop(self) -> None:
        """Stop producing and wait until every record is acknowledged."""
        self._stop.set()
        self._thread.join(timeout=60)
        remaining = self.producer.flush(300)
        assert remaining == 0, f"{remaining} {self.kind} records not acknowledged"
        assert not self.failures, self.failures[:5]

    def _delivered(self, error: Any, message: Any) -> None:
        if error is not None:
            self.failures.append(str(error))

    def _run(self) -> None:
        start = datetime.now(UTC).replace(microsecond=0)
        began = time.monotonic()
        events = generate_events(
            self.kind,
            10**9,
            seed=self.seed,
            start=start,
            disorder_ms=self.disorder_ms,
            rate=self.rate,
        )
        id_column = ID_OF[self.kind]
        origin_ms: int | None = None
        for event in events:
            if self._stop.is_set():
                return
            if origin_ms is None:
                origin_ms = event.timeline_ms
            ahead = (event.timeline_ms - origin_ms) / 1000.0 - (time.monotonic() - began)
            if ahead > 0.002:
                time.sleep(ahead)
            record = event.record
            value = self.encoder.encode(record)
            key = str(record[id_column]).encode()
            while True:
                try:
                    self.producer.produce(self.topic, value, key, on_delivery=self._delivered)
                    break
                except BufferError:
                    self.producer.poll(0.05)
            with self._lock:
                self.produced_at[record[id_column]] = time.time()
            self.producer.poll(0)


# ---------------------------------------------------------------------------- hostile input


@dataclass(frozen=True)
class Hostile:
    """A crafted record and what the job must make of it."""

    kind: str
    key: bytes | None
    value: bytes
    reason: str | None
    """The dead-letter reason it must get; None: a good event, folded like any other."""
    event_id: str | None = None


def payment_record(rng: random.Random, event_time_ms: int, n: int) -> dict[str, Any]:
    """A valid payment of the suite's own cards and merchants."""
    return {
        "payment_id": f"pay-hostile-{n}",
        "merchant_id": f"mer_h{rng.randrange(50):04d}",
        "card_id": f"tok_hostile{rng.randrange(200):08x}",
        "amount_minor": rng.randrange(100, 10_000),
        "currency": "USD",
        "amount_usd_cents": rng.randrange(100, 10_000),
        "country": "US",
        "mcc": "5411",
        "channel": "ECOMMERCE",
        "status": "AUTHORIZED",
        "event_time": event_time_ms,
        "producer": "fault-suite",
        "sequence": n,
    }


def newer_payment_schema(extra: str = "risk_hint") -> dict[str, Any]:
    """``payment_event`` plus a field ``extra`` with a default: a compatible newer writer schema."""
    schema: dict[str, Any] = json.loads((SCHEMAS_DIR / "payment_event.avsc").read_text())
    fields = [*schema["fields"], {"name": extra, "type": ["null", "string"], "default": None}]
    return {**schema, "fields": fields}


@dataclass(frozen=True)
class WriterSchema:
    """A writer schema registered for the suite, and an encoder for it."""

    schema_id: int
    encoder: serde.Encoder


def register_writer(config: StackConfig, topic: str, schema: dict[str, Any]) -> WriterSchema:
    """Register ``schema`` under ``<topic>-value`` (BACKWARD, like every input subject)."""
    registration = registry.ensure_registered_text(
        registry.client(config), topic, json.dumps(schema)
    )
    return WriterSchema(
        registration.schema_id,
        serde.Encoder(registration.schema_id, fastavro.parse_schema(schema)),
    )


def hostile_payments(
    config: StackConfig,
    topic: str,
    count_per_kind: int,
    emit: Callable[[Hostile], None],
    seed: int = 99,
) -> list[Hostile]:
    """``count_per_kind`` records of each hostile kind for the payments ``topic`` (and a few of
    the 1 MB ones), each handed to ``emit`` as soon as it is built. Event times are the wall
    clock's at that moment (ahead of the watermark, so folded or rejected for their own reason),
    but for the ones that are the point: 2100 and before 1970."""
    rng = random.Random(seed)
    client = registry.client(config)
    good = registry.ensure_registered(client, topic, "payment_event").schema_id
    encode = serde.Encoder(good, serde.load_schema("payment_event")).encode
    newer = register_writer(config, topic, newer_payment_schema())
    # Amount as a double, for a NaN: the topic's subject would refuse it (not BACKWARD), so it
    # lives under a subject of its own. Its id is real; its bytes cannot resolve to the reader.
    nan_schema = json.loads((SCHEMAS_DIR / "payment_event.avsc").read_text())
    nan_schema["fields"] = [
        {**f, "type": "double"} if f["name"] == "amount_usd_cents" else f
        for f in nan_schema["fields"]
    ]
    nan = register_writer(config, f"fault-suite-nan-{uuid.uuid4().hex[:6]}", nan_schema)
    writers = registry.writer_schemas(client)

    out: list[Hostile] = []
    n = 0

    def payment() -> dict[str, Any]:
        nonlocal n
        n += 1
        return payment_record(rng, int(time.time() * 1000), n)

    def add(kind: str, value: bytes, reason: str | None, p: dict[str, Any] | None = None) -> None:
        key = None if p is None else str(p["payment_id"]).encode()
        event_id = None if p is None else str(p["payment_id"])
        out.append(Hostile(kind, key, value, reason, event_id))
        emit(out[-1])

    for _ in range(count_per_kind):
        raw = encode(payment())
        add("truncated", raw[: rng.randrange(5, len(raw) - 1)], "truncated")
        add("wrong_magic_byte", b"\x07" + raw[1:], "wrong_magic_byte")
        unknown = b"\x00" + (2**31 - 7).to_bytes(4, "big") + raw[5:]
        add("unknown_schema_id", unknown, "unknown_schema_id")
        garbage = b"\x00" + rng.randbytes(rng.randrange(4, 60))
        add("garbage", garbage, _python_reason(garbage, writers))
        p = payment()
        p["amount_usd_cents"] = -rng.randrange(1, 10_000)
        add("negative_amount", encode(p), "invalid_value", p)
        p = payment()
        p["card_id"] = rng.choice(["", "   "])
        add("empty_entity_key", encode(p), "null_key", p)
        p = payment()
        add("nan_amount", nan.encoder.encode({**p, "amount_usd_cents": math.nan}), "undecodable")
        p = payment()
        p["event_time"] += int(timedelta(days=27_000).total_seconds() * 1000)  # ~2100
        add("far_future", encode(p), "future_event_time", p)
        p = payment()
        p["event_time"] = -rng.randrange(1, 10**11)  # before 1970
        add("before_1970", encode(p), "late", p)
        p = payment()
        add("newer_writer_schema", newer.encoder.encode({**p, "risk_hint": "x"}), None, p)
        p = payment()
        out.append(Hostile("null_record_key", None, encode(p), None, str(p["payment_id"])))
        emit(out[-1])
    for _ in range(3):
        p = payment()
        p["merchant_id"] = "m" * 1_000_000
        add("1mb_entity_key", encode(p), "key_too_long", p)
        p = payment()
        p["producer"] = "p" * 1_000_000
        add("1mb_string", encode(p), None, p)
    return out


def _python_reason(raw: bytes, writers: dict[int, Any]) -> str | None:
    """What the project's Python decoder (an implementation independent of the JVM format,
    with the same reasons: decision 12) makes of ``raw``."""
    try:
        serde.decode(raw, writers)
    except serde.DecodeError as exc:
        return exc.reason
    return None


class RawProducer:
    """Writes records as they are (no encoding, no checks); ``close`` waits for every ack."""

    def __init__(self, config: StackConfig, topic: str) -> None:
        self.topic = topic
        self.failures: list[str] = []
        self.producer = Producer(
            {
                **PRODUCER_SETTINGS,
                "bootstrap.servers": config.bootstrap_servers,
                "message.max.bytes": 2_000_000,
                "linger.ms": 5,
                "delivery.report.only.error": True,
            }
        )

    def send(self, record: Hostile) -> None:
        while True:
            try:
                self.producer.produce(
                    self.topic, record.value, record.key, on_delivery=self._delivered
                )
                self.producer.poll(0)
                return
            except BufferError:
                self.producer.poll(0.05)

    def _delivered(self, error: Any, message: Any) -> None:
        if error is not None:
            self.failures.append(str(error))

    def close(self) -> None:
        assert self.producer.flush(120) == 0 and not self.failures, self.failures[:3]


# ---------------------------------------------------------------------------- processes


def kill9(config: StackConfig, process_name: str) -> None:
    """SIGKILL one of the stack's processes and everything it started (the JVM under a
    wrapper script)."""
    proc = processes.alive(parts.run_dir(config), process_name)
    assert proc is not None, f"{process_name} is not running"
    victims = [*proc.children(recursive=True), proc]
    for victim in victims:
        with contextlib.suppress(psutil.NoSuchProcess):
            victim.send_signal(signal.SIGKILL)
    psutil.wait_procs(victims, timeout=15)


def suspend(config: StackConfig, process_name: str, seconds: float) -> None:
    """SIGSTOP a process tree for ``seconds`` (it holds its sockets but answers nothing), then
    SIGCONT it."""
    proc = processes.alive(parts.run_dir(config), process_name)
    assert proc is not None, f"{process_name} is not running"
    tree = [proc, *proc.children(recursive=True)]
    for p in tree:
        p.send_signal(signal.SIGSTOP)
    try:
        time.sleep(seconds)  # the outage itself: a duration, not a wait for a condition
    finally:
        for p in tree:
            p.send_signal(signal.SIGCONT)


def restart(config: StackConfig, part: str) -> float:
    """Start what is not running of ``part`` (``stack.up``); seconds until healthy."""
    began = time.monotonic()
    stack.up(config, [part])
    return time.monotonic() - began


# ---------------------------------------------------------------------------- outputs


class Arrivals:
    """Consumes ``topic`` (``read_committed``) in the background; when each event id arrived."""

    def __init__(self, config: StackConfig, topic: str, decode: Callable[[bytes], str]) -> None:
        self._first_seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self._decode = decode
        self._stop = threading.Event()
        self._consumer = Consumer(
            {
                "bootstrap.servers": config.bootstrap_servers,
                "group.id": f"fault-watch-{uuid.uuid4()}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "log_level": 3,
            }
        )
        self._consumer.subscribe([topic])
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for message in self._consumer.consume(500, timeout=0.2):
                if message.error() or message.value() is None:
                    continue
                now = time.time()
                event_id = self._decode(message.value())
                with self._lock:
                    self._first_seen.setdefault(event_id, now)

    @property
    def first_seen(self) -> dict[str, float]:
        """A copy: event id → when its first row arrived."""
        with self._lock:
            return dict(self._first_seen)

    def recovery_after(self, kill_time: float, produced_at: dict[str, float]) -> float | None:
        """Seconds from ``kill_time`` to the first row of an event produced after it
        (``produced_at``: a copy, ``Load.produced``)."""
        after = [
            seen
            for event_id, seen in self.first_seen.items()
            if produced_at.get(event_id, 0.0) > kill_time
        ]
        return min(after) - kill_time if after else None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._consumer.close()


@dataclass
class Accounting:
    """One view's outputs against the inputs."""

    view: str
    expected: int
    lost: list[str] = field(default_factory=list)
    duplicated: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)


def account(expected_ids: set[str], row_ids: Iterator[str], view: str) -> Accounting:
    """Each expected id exactly once among ``row_ids``; nothing else."""
    seen: Counter[str] = Counter(row_ids)
    result = Accounting(view=view, expected=len(expected_ids))
    result.lost = sorted(expected_ids - set(seen))
    result.duplicated = Counter({k: n for k, n in seen.items() if n > 1})
    result.unexpected = sorted(set(seen) - expected_ids)
    return result


def schema_files() -> list[str]:
    """The committed schema files (for messages)."""
    return sorted(p.name for p in SCHEMAS_DIR.glob("*.avsc"))


def env_float(name: str, default: float) -> float:
    """A float setting of the suite from the environment."""
    return float(os.environ.get(name, default))
