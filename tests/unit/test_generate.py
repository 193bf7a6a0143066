"""The event generator: determinism, the simulated clock, realism, malformed values, sinks, CLI."""

from __future__ import annotations

import importlib
import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

import fastavro
import pytest
from click.testing import CliRunner
from confluent_kafka.schema_registry.error import SchemaRegistryError

from common import serde
from common.config import load_stack_config
from common.generate import GeneratedEvent, MalformedKind, Summary, generate_events, produce
from common.generate.cli import generate
from common.generate.events import CARD_NUMBER_LIKE, KINDS, SCHEMA_NAMES, Kind, start_millis
from common.generate.malformed import UNKNOWN_ID_DISTANCE, Malformer, unknown_schema_id
from common.generate.payments import CURRENCIES
from common.generate.sinks import KafkaSink
from common.generate.trades import INSTRUMENTS

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
START_MS = int(START.timestamp() * 1000)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def events(kind: Kind, count: int, **options: Any) -> list[GeneratedEvent]:
    options.setdefault("start", START)
    return list(generate_events(kind, count, **options))


@pytest.fixture(scope="module")
def payments_at_fixed_rate() -> list[GeneratedEvent]:
    """30,000 payments at 20/s: 25 simulated minutes, long enough for bursts to play out."""
    return events("payments", 30_000, seed=11, rate=20.0)


@pytest.fixture(scope="module")
def trades_at_fixed_rate() -> list[GeneratedEvent]:
    """30,000 trades at 50/s: 10 simulated minutes."""
    return events("trades", 30_000, seed=11, rate=50.0)


# Determinism and identity


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_and_start_give_identical_events(kind: Kind) -> None:
    assert events(kind, 2_000, seed=5, disorder_ms=50) == events(
        kind, 2_000, seed=5, disorder_ms=50
    )


@pytest.mark.parametrize("kind", KINDS)
def test_different_seed_gives_different_events(kind: Kind) -> None:
    first = [e.record for e in events(kind, 500, seed=1)]
    second = [e.record for e in events(kind, 500, seed=2)]

    id_field = "trade_id" if kind == "trades" else "payment_id"
    assert {r[id_field] for r in first}.isdisjoint(r[id_field] for r in second)
    without_ids = [{**r, id_field: None} for r in first]
    assert without_ids != [{**r, id_field: None} for r in second]


@pytest.mark.parametrize("kind", KINDS)
def test_different_start_shifts_time_and_renames_events(kind: Kind) -> None:
    later = START + timedelta(hours=1)
    first = events(kind, 200, seed=1)
    second = events(kind, 200, seed=1, start=later)

    assert [e.event_time_ms + 3_600_000 for e in first] == [e.event_time_ms for e in second]
    id_field = "trade_id" if kind == "trades" else "payment_id"
    assert {e.record[id_field] for e in first}.isdisjoint(e.record[id_field] for e in second)


@pytest.mark.parametrize("kind", KINDS)
def test_ids_are_unique_and_sequences_count_from_zero(kind: Kind) -> None:
    generated = events(kind, 5_000)
    id_field = "trade_id" if kind == "trades" else "payment_id"

    assert len({e.record[id_field] for e in generated}) == 5_000
    assert [e.sequence for e in generated] == list(range(5_000))
    assert [e.record["sequence"] for e in generated] == list(range(5_000))
    assert {e.record["producer"] for e in generated} == {"featurestream-generator"}


def test_default_start_is_now_rounded_down_to_the_second() -> None:
    before_ms = int(datetime.now(UTC).timestamp()) * 1000
    start_ms = start_millis(None)
    first = next(iter(generate_events("trades", 1)))
    after_ms = int(datetime.now(UTC).timestamp()) * 1000

    assert start_ms % 1000 == 0
    assert before_ms <= start_ms <= after_ms
    assert before_ms <= first.timeline_ms < after_ms + 1_000  # the first gap is about 1 ms


def test_naive_start_is_utc() -> None:
    naive = START.replace(tzinfo=None)

    assert events("payments", 50, start=naive) == events("payments", 50)


# The simulated clock


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("disorder_ms", [0, 1, 250])
def test_disorder_is_bounded(kind: Kind, disorder_ms: int) -> None:
    generated = events(kind, 20_000, disorder_ms=disorder_ms)

    latest = -1
    worst_lateness = 0
    for event in generated:
        assert event.timeline_ms - disorder_ms <= event.event_time_ms <= event.timeline_ms
        assert event.record["event_time"] == event.event_time_ms
        worst_lateness = max(worst_lateness, latest - event.event_time_ms)
        latest = max(latest, event.event_time_ms)

    assert worst_lateness <= disorder_ms
    if disorder_ms >= 250:
        assert worst_lateness > disorder_ms // 2  # the bound is actually used


@pytest.mark.parametrize("kind", KINDS)
def test_timeline_starts_at_start_and_never_goes_back(kind: Kind) -> None:
    times = [e.timeline_ms for e in events(kind, 5_000)]

    assert times[0] >= START_MS
    assert all(a <= b for a, b in pairwise(times))


@pytest.mark.parametrize(("kind", "rate"), [("trades", 50.0), ("payments", 20.0), ("trades", None)])
def test_mean_gap_follows_the_rate_and_arrivals_are_bursty(kind: Kind, rate: float | None) -> None:
    generated = events(kind, 30_000, seed=3, rate=rate)
    gaps_s = [(b.timeline_ms - a.timeline_ms) / 1000 for a, b in pairwise(generated)]

    expected_gap_s = 1 / rate if rate else 0.001
    assert statistics.mean(gaps_s) == pytest.approx(expected_gap_s, rel=0.15)
    # Burstier than a Poisson process, whose gaps have a coefficient of variation of 1.
    assert statistics.pstdev(gaps_s) / statistics.mean(gaps_s) > 1.0


# Trades


def test_trades_look_like_a_crypto_market(trades_at_fixed_rate: list[GeneratedEvent]) -> None:
    records = [e.record for e in trades_at_fixed_rate]
    symbols = Counter(r["symbol"] for r in records)

    assert set(symbols) == {i.symbol for i in INSTRUMENTS}
    assert symbols.most_common(1)[0][0] == "BTC-USD"
    for instrument in INSTRUMENTS:
        prices = [r["price"] for r in records if r["symbol"] == instrument.symbol]
        # Ten minutes of a random walk stay within a few percent of the start.
        assert min(prices) > Decimal(instrument.start_price * 0.9)
        assert max(prices) < Decimal(instrument.start_price * 1.1)
        assert len(set(prices)) > 10
        assert all(p % Decimal(instrument.tick) == 0 for p in prices)
    assert all(r["quantity"] > 0 and r["quantity"].as_tuple().exponent >= -8 for r in records)
    assert Counter(r["side"] for r in records).keys() == {"BUY", "SELL"}
    assert Counter(r["venue"] for r in records).keys() == {"coinbase", "kraken", "bitstamp"}
    assert all(e.key == e.record["symbol"].encode() for e in trades_at_fixed_rate)
    assert all(e.burst_id is None for e in trades_at_fixed_rate)


def test_trade_takers_are_many_skewed_and_each_at_one_venue(
    trades_at_fixed_rate: list[GeneratedEvent],
) -> None:
    records = [e.record for e in trades_at_fixed_rate]
    fills = Counter(r["account_id"] for r in records)
    venues = defaultdict(set)
    for r in records:
        venues[r["account_id"]].add(r["venue"])

    assert len(fills) > 1_000
    busiest_percent = sum(n for _, n in fills.most_common(len(fills) // 100))
    assert busiest_percent > 0.2 * len(records)
    assert all(len(v) == 1 for v in venues.values())


def test_buy_sell_imbalance_drifts_per_symbol(trades_at_fixed_rate: list[GeneratedEvent]) -> None:
    sides = [e.record["side"] for e in trades_at_fixed_rate if e.record["symbol"] == "BTC-USD"]
    buy_shares = [
        sum(side == "BUY" for side in sides[i : i + 1_000]) / 1_000
        for i in range(0, len(sides) - 999, 1_000)
    ]

    # A fair coin would keep every 1,000-fill share within a few points of 0.5.
    assert max(buy_shares) - min(buy_shares) > 0.15


# Payments


def test_no_payment_holds_anything_like_a_card_number(
    payments_at_fixed_rate: list[GeneratedEvent],
) -> None:
    for event in payments_at_fixed_rate:
        strings = [v for v in event.record.values() if isinstance(v, str)]
        strings.append(event.key.decode())
        assert not any(CARD_NUMBER_LIKE.search(s) for s in strings), event.record
        assert event.record["card_id"].startswith("tok_")


def test_payments_span_countries_currencies_channels_and_statuses(
    payments_at_fixed_rate: list[GeneratedEvent],
) -> None:
    records = [e.record for e in payments_at_fixed_rate]
    currencies = Counter(r["currency"] for r in records)
    statuses = Counter(r["status"] for r in records)

    assert len(currencies) >= 8
    assert {"USD", "EUR", "JPY"} <= currencies.keys()
    assert currencies.most_common(1)[0][0] == "USD"
    assert len({r["country"] for r in records}) >= 10
    assert {r["channel"] for r in records} == {"CARD_PRESENT", "ECOMMERCE", "CONTACTLESS", "MOTO"}
    assert set(statuses) == {"AUTHORIZED", "DECLINED", "CAPTURED", "REFUNDED"}
    assert 0.02 < statuses["DECLINED"] / len(records) < 0.15
    assert all(len(r["mcc"]) == 4 and r["mcc"].isdigit() for r in records)
    assert len({r["mcc"] for r in records}) >= 10
    assert all(e.key == e.record["card_id"].encode() for e in payments_at_fixed_rate)


def test_amounts_are_minor_units_converted_at_the_fixed_rates(
    payments_at_fixed_rate: list[GeneratedEvent],
) -> None:
    for record in (e.record for e in payments_at_fixed_rate):
        currency = CURRENCIES[record["currency"]]
        assert record["amount_minor"] >= 1
        in_usd = Decimal(record["amount_minor"]).scaleb(-currency.minor_digits) * Decimal(
            currency.usd_per_unit
        )
        cents = (in_usd * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        assert record["amount_usd_cents"] == currency.usd_cents(record["amount_minor"]) == cents
    median_usd = statistics.median(
        e.record["amount_usd_cents"] / 100 for e in payments_at_fixed_rate
    )
    assert 10 < median_usd < 200


def test_cards_and_merchants_are_skewed(payments_at_fixed_rate: list[GeneratedEvent]) -> None:
    cards = Counter(e.record["card_id"] for e in payments_at_fixed_rate)
    merchants = Counter(e.record["merchant_id"] for e in payments_at_fixed_rate)
    total = len(payments_at_fixed_rate)

    assert len(cards) > 5_000
    assert cards.most_common(1)[0][1] > 20 * statistics.median(cards.values())
    assert cards.most_common(1)[0][1] < 0.02 * total  # skewed, not dominated
    assert len(merchants) > 1_000
    assert merchants.most_common(1)[0][1] < 0.05 * total


def test_merchants_keep_one_country_and_one_mcc(
    payments_at_fixed_rate: list[GeneratedEvent],
) -> None:
    seen: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
    for r in (e.record for e in payments_at_fixed_rate):
        seen[r["merchant_id"]].add((r["country"], r["currency"], r["mcc"]))

    assert all(len(attributes) == 1 for attributes in seen.values())


def test_fraud_like_bursts_are_fast_varied_and_marked(
    payments_at_fixed_rate: list[GeneratedEvent],
) -> None:
    bursts: dict[int, list[GeneratedEvent]] = defaultdict(list)
    for event in payments_at_fixed_rate:
        if event.burst_id is not None:
            bursts[event.burst_id].append(event)
    end_ms = payments_at_fixed_rate[-1].timeline_ms
    # Bursts that began more than five minutes before the end have played out in full.
    complete = [b for b in bursts.values() if b[0].timeline_ms < end_ms - 300_000]

    assert len(complete) >= 5
    assert 0.002 < sum(map(len, bursts.values())) / len(payments_at_fixed_rate) < 0.05
    for burst in complete:
        assert 5 <= len(burst) <= 20
        assert len({e.record["card_id"] for e in burst}) == 1
        assert burst[-1].timeline_ms - burst[0].timeline_ms <= 300_000
        assert len({e.record["merchant_id"] for e in burst}) >= min(len(burst), 3)
    assert any(len({e.record["country"] for e in burst}) >= 3 for burst in complete)
    decline_in_bursts = statistics.mean(
        e.record["status"] == "DECLINED" for burst in complete for e in burst
    )
    assert decline_in_bursts > 0.2


# Malformed values


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_each_malformed_kind_is_rejected_with_its_reason(kind: Kind, seed: int) -> None:
    schema = serde.load_schema(SCHEMA_NAMES[kind])
    encoder = serde.Encoder(3, schema)
    malformer = Malformer(seed, 100.0, schema_id=3, unknown_id=unknown_schema_id(3))

    for event in events(kind, 200, seed=seed):
        kind_made, value = malformer.break_value(encoder.encode(event.record))
        with pytest.raises(serde.DecodeError) as caught:
            serde.decode(value, {3: schema})
        assert caught.value.reason == kind_made.expected_reason

    assert malformer.counts == dict.fromkeys(MalformedKind, 50)


def test_malformer_picks_about_the_asked_share() -> None:
    picks = Malformer(1, 2.5, 1, 2)
    none = Malformer(1, 0.0, 1, 2)
    every = Malformer(1, 100.0, 1, 2)

    assert sum(picks.pick() for _ in range(100_000)) == pytest.approx(2_500, rel=0.1)
    assert not any(none.pick() for _ in range(10_000))
    assert all(every.pick() for _ in range(10_000))
    with pytest.raises(ValueError):
        Malformer(1, 100.5, 1, 2)


class FakeRegistry:
    """Has the schemas with the given ids, answers 404 for any other."""

    def __init__(self, ids: set[int]) -> None:
        self.ids = ids
        self.asked: list[int] = []

    def get_schema(self, schema_id: int) -> object:
        self.asked.append(schema_id)
        if schema_id in self.ids:
            return object()
        raise SchemaRegistryError(404, 40403, f"schema {schema_id} not found")


def test_unknown_schema_id_is_far_above_and_confirmed_unknown() -> None:
    far = 7 + UNKNOWN_ID_DISTANCE
    registry = FakeRegistry({7, far, far + 1})

    chosen = unknown_schema_id(7, registry)  # type: ignore[arg-type]

    assert chosen == far + 2
    assert registry.asked == [far, far + 1, far + 2]
    assert unknown_schema_id(7) == far


def test_registry_errors_other_than_not_found_propagate() -> None:
    class Failing:
        def get_schema(self, schema_id: int) -> object:
            raise SchemaRegistryError(500, 50001, "boom")

    with pytest.raises(SchemaRegistryError):
        unknown_schema_id(7, Failing())  # type: ignore[arg-type]


# Sinks and the API


def as_decoded(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "event_time": EPOCH + timedelta(milliseconds=record["event_time"])}


@pytest.mark.parametrize("kind", KINDS)
def test_file_sink_writes_a_readable_container_with_the_same_records(
    kind: Kind, tmp_path: Path
) -> None:
    path = tmp_path / f"{kind}.avro"

    summary = produce(kind, load_stack_config(), count=3_000, seed=4, start=START, to_file=path)

    with path.open("rb") as file:
        reader = fastavro.reader(file)
        assert reader.codec == "deflate"
        written = list(reader)
    expected = [as_decoded(e.record) for e in events(kind, 3_000, seed=4)]
    assert written == expected
    assert summary.records == 3_000
    assert summary.bad_total == 0
    assert summary.ok
    assert str(path) in summary.line()


def test_bad_pct_with_a_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="bad_pct"):
        produce("trades", load_stack_config(), bad_pct=1.0, to_file=tmp_path / "t.avro")
    assert not (tmp_path / "t.avro").exists()


def test_cli_writes_a_file_and_prints_a_summary(tmp_path: Path) -> None:
    path = tmp_path / "payments.avro"

    result = CliRunner().invoke(
        generate,
        [
            "payments",
            "--count",
            "500",
            "--seed",
            "9",
            "--start",
            "2025-03-01T12:00:00Z",
            "--disorder-ms",
            "100",
            "--to-file",
            str(path),
        ],
    )

    assert result.exit_code == 0, result.output
    assert "wrote 500 payments" in result.stdout
    with path.open("rb") as file:
        written = list(fastavro.reader(file))
    expected = [as_decoded(e.record) for e in events("payments", 500, seed=9, disorder_ms=100)]
    assert written == expected


def test_cli_refuses_bad_pct_with_to_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        generate, ["trades", "--bad-pct", "5", "--to-file", str(tmp_path / "t.avro")]
    )

    assert result.exit_code == 2
    assert "--bad-pct" in result.output
    assert not (tmp_path / "t.avro").exists()


def test_cli_rejects_a_start_that_is_not_iso_8601() -> None:
    result = CliRunner().invoke(generate, ["trades", "--start", "yesterday"])

    assert result.exit_code == 2
    assert "ISO-8601" in result.output


def test_kafka_sink_counts_records_that_are_never_delivered() -> None:
    # Nothing listens on port 9 (discard) of the loopback: no delivery can succeed.
    config = load_stack_config(kafka_port=9)
    sink = KafkaSink(config, "nowhere", {"message.timeout.ms": 200, "socket.timeout.ms": 100})

    for n in range(3):
        sink.send(b"key", b"value %d" % n)

    assert sink.close() == 3
    assert sink.first_failure is not None


# The module, not the function of the same name that ``common.generate`` exports.
PRODUCE_MODULE = importlib.import_module("common.generate.runner")


class FakeClock:
    """Stands in for the ``time`` module: time passes only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.now += seconds
        self.slept += seconds


def test_rate_paces_producing_so_event_time_keeps_to_the_wall_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    monkeypatch.setattr(PRODUCE_MODULE, "time", clock)
    reports: list[Summary] = []
    expected = events("payments", 1_000, seed=2, rate=100.0)
    simulated_s = (expected[-1].timeline_ms - expected[0].timeline_ms) / 1000

    summary = produce(
        "payments",
        load_stack_config(),
        count=1_000,
        seed=2,
        start=START,
        rate=100.0,
        to_file=tmp_path / "paced.avro",
        on_progress=reports.append,
    )

    # Producing waited as long as the simulated clock ran (less the 2 ms of slack at most).
    assert simulated_s - 0.01 <= clock.slept <= simulated_s
    assert summary.records == 1_000
    assert summary.elapsed_s == pytest.approx(simulated_s, abs=0.01)
    # About one progress report per (fake) second, each at about 100 records a second.
    assert len(reports) == pytest.approx(simulated_s, abs=2)
    assert all(r.events_per_s == pytest.approx(100, rel=0.3) for r in reports[1:])


def test_unthrottled_producing_never_sleeps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    monkeypatch.setattr(PRODUCE_MODULE, "time", clock)

    summary = produce("trades", load_stack_config(), count=2_000, to_file=tmp_path / "t.avro")

    assert clock.slept == 0
    assert summary.records == 2_000


def test_a_larger_population_draws_from_more_entities() -> None:
    from datetime import UTC, datetime

    from common.generate.events import Population
    from common.generate.runner import generate_events

    start = datetime(2026, 1, 1, tzinfo=UTC)
    big = Population(cards=200_000, merchants=8_000, accounts=12_000, symbols=24)
    trades = [e.record for e in generate_events("trades", 30_000, 3, start, population=big)]
    symbols = {t["symbol"] for t in trades}
    assert len(symbols) >= 20 and {"BTC-USD", "ALT01-USD"} <= symbols
    usual = [e.record for e in generate_events("trades", 30_000, 3, start)]
    assert len({t["account_id"] for t in trades}) > len({t["account_id"] for t in usual})
    payments = [e.record for e in generate_events("payments", 30_000, 3, start, population=big)]
    usual_payments = [e.record for e in generate_events("payments", 30_000, 3, start)]
    assert len({p["card_id"] for p in payments}) > len({p["card_id"] for p in usual_payments})
    # The default population is what a seed always gave.
    default = [e.record for e in generate_events("payments", 50, 3, start)]
    same = [e.record for e in generate_events("payments", 50, 3, start, population=Population())]
    assert default == same
