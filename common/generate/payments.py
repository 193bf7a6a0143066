"""Card payments: skewed cards and merchants, several countries and currencies, fraud-like bursts.

- ``CARD_COUNT`` cards, identified by opaque tokens only (``tok_`` and 16 hex digits, never
  anything shaped like a card number), with Zipf-skewed activity and a home country;
- ``MERCHANT_COUNT`` merchants with Zipf-skewed popularity, each with a home country, a merchant
  category code (MCC) and a storefront: online merchants take ECOMMERCE and MOTO payments,
  physical ones CARD_PRESENT and CONTACTLESS (in the country's contactless share);
- most payments are domestic (the card's country); the rest go to any merchant (travel, online);
- the amount is drawn in USD per MCC (log-normal), converted into the merchant's currency at the
  fixed rates of ``CURRENCIES`` and rounded to its minor unit (0 digits for JPY and KRW, 3 for
  BHD); ``amount_usd_cents`` is converted back from that rounded local amount, as an upstream
  normaliser would, exactly (integer arithmetic, half up: ``Currency.usd_cents``);
- statuses: declines are likelier online and across borders; the rest are mostly authorisations
  and captures, a few refunds;
- fraud-like velocity bursts: now and then a card (any card, not a popular one: stolen cards are
  not the busy ones) makes 5 to 20 payments within a few simulated minutes, at varied, mostly
  online or high-risk merchants in varied countries, starting with tiny card-testing amounts,
  declined far more often. Such payments carry ``GeneratedEvent.burst_id``.

Payment arrivals are a Hawkes process on the simulated clock (``arrivals``); burst payments come
on top, at their own scheduled times.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator
from decimal import Decimal
from typing import NamedTuple

from common.generate.arrivals import Disorder, HawkesArrivals
from common.generate.events import (
    PRODUCER,
    GeneratedEvent,
    Population,
    chooser,
    opaque_ids,
    run_tag,
    stream_rng,
    zipf_weights,
)


class Currency(NamedTuple):
    """An ISO 4217 currency and its fixed conversion rate (USD per unit, as an exact decimal)."""

    code: str
    minor_digits: int
    usd_per_unit: str

    def cents_fraction(self) -> tuple[int, int]:
        """``(numerator, denominator)``: US cents = minor units * numerator / denominator."""
        # amount_minor / 10**digits * rate * 100 == amount_minor * micro_rate / 10**(digits + 4)
        micro_usd = int(Decimal(self.usd_per_unit) * 1_000_000)
        return micro_usd, 10 ** (self.minor_digits + 4)

    def usd_cents(self, amount_minor: int) -> int:
        """``amount_minor`` of this currency in US cents, rounded half up, in exact arithmetic."""
        numerator, denominator = self.cents_fraction()
        return (amount_minor * numerator + denominator // 2) // denominator


class Country(NamedTuple):
    """An ISO 3166-1 country, its currency, its share of cards and merchants, its tap habit."""

    code: str
    currency: str
    weight: float
    contactless_share: float


class MerchantCategory(NamedTuple):
    """An ISO 18245 merchant category code and how payments in it look."""

    mcc: str
    description: str
    weight: float
    median_usd: float
    amount_sigma: float
    online_share: float
    high_risk: bool


# Fixed, illustrative rates (USD per unit of the currency), not market data: the generator must
# be deterministic, and downstream features only need a stable normalisation.
CURRENCIES: dict[str, Currency] = {
    c.code: c
    for c in (
        Currency("USD", 2, "1"),
        Currency("EUR", 2, "1.08"),
        Currency("GBP", 2, "1.27"),
        Currency("CAD", 2, "0.73"),
        Currency("AUD", 2, "0.65"),
        Currency("SGD", 2, "0.74"),
        Currency("BRL", 2, "0.18"),
        Currency("MXN", 2, "0.055"),
        Currency("INR", 2, "0.012"),
        Currency("JPY", 0, "0.0067"),
        Currency("KRW", 0, "0.00072"),
        Currency("BHD", 3, "2.65"),
    )
}
COUNTRIES: tuple[Country, ...] = (
    Country("US", "USD", 0.400, 0.35),
    Country("GB", "GBP", 0.100, 0.85),
    Country("DE", "EUR", 0.080, 0.60),
    Country("FR", "EUR", 0.060, 0.70),
    Country("ES", "EUR", 0.040, 0.75),
    Country("NL", "EUR", 0.030, 0.85),
    Country("CA", "CAD", 0.050, 0.70),
    Country("BR", "BRL", 0.050, 0.50),
    Country("MX", "MXN", 0.030, 0.35),
    Country("IN", "INR", 0.040, 0.30),
    Country("JP", "JPY", 0.050, 0.30),
    Country("KR", "KRW", 0.020, 0.40),
    Country("AU", "AUD", 0.030, 0.90),
    Country("SG", "SGD", 0.015, 0.80),
    Country("BH", "BHD", 0.005, 0.60),
)
MERCHANT_CATEGORIES: tuple[MerchantCategory, ...] = (
    MerchantCategory("5411", "grocery stores", 0.16, 45.0, 0.8, 0.05, False),
    MerchantCategory("5812", "restaurants", 0.12, 38.0, 0.7, 0.05, False),
    MerchantCategory("5814", "fast food", 0.12, 11.0, 0.5, 0.10, False),
    MerchantCategory("5541", "service stations", 0.08, 42.0, 0.5, 0.00, False),
    MerchantCategory("5311", "department stores", 0.05, 70.0, 0.9, 0.20, False),
    MerchantCategory("5691", "clothing stores", 0.06, 65.0, 0.8, 0.40, False),
    MerchantCategory("5732", "electronics stores", 0.04, 180.0, 1.1, 0.50, True),
    MerchantCategory("5912", "drug stores", 0.06, 22.0, 0.7, 0.10, False),
    MerchantCategory("5942", "book stores", 0.02, 25.0, 0.6, 0.60, False),
    MerchantCategory("4121", "taxis and rideshare", 0.07, 19.0, 0.6, 0.90, False),
    MerchantCategory("4511", "airlines", 0.03, 380.0, 0.8, 0.95, True),
    MerchantCategory("7011", "hotels", 0.03, 210.0, 0.8, 0.70, False),
    MerchantCategory("4814", "telecom services", 0.03, 55.0, 0.5, 0.90, False),
    MerchantCategory("5967", "direct marketing", 0.02, 30.0, 1.0, 0.95, True),
    MerchantCategory("7995", "gambling", 0.02, 60.0, 1.2, 0.90, True),
    MerchantCategory("6051", "quasi-cash and crypto", 0.01, 150.0, 1.2, 0.95, True),
    MerchantCategory("5999", "miscellaneous retail", 0.08, 35.0, 1.0, 0.40, False),
)
CARD_COUNT = Population().cards
CARD_ZIPF_EXPONENT = 1.0
CARD_ZIPF_OFFSET = 50.0  # the busiest card makes about 0.3 % of payments
MERCHANT_COUNT = Population().merchants
DEFAULT_POPULATION = Population()
MERCHANT_ZIPF_EXPONENT = 1.05
MERCHANT_ZIPF_OFFSET = 10.0  # the busiest merchant takes about 2 % of payments
DOMESTIC_SHARE = 0.92
ECOMMERCE_SHARE_ONLINE = 0.93  # the rest of an online merchant's payments are MOTO
# Status weights: decline probability by circumstance, then the split of the rest.
DECLINE_BASE = 0.04
DECLINE_ONLINE = 0.03
DECLINE_CROSS_BORDER = 0.04
DECLINE_IN_BURST = 0.35
REFUNDED_SHARE = 0.02
CAPTURED_SHARE = 0.38
# Bursts: started by about one payment in 1,250, so about 1 % of payments belong to one.
BURST_START_PROBABILITY = 0.0008
BURST_MIN_PAYMENTS = 5
BURST_MAX_PAYMENTS = 20
BURST_MIN_WINDOW_S = 60.0
BURST_MAX_WINDOW_S = 300.0
BURST_CARD_TESTS = 2  # the first payments of a burst are tiny: is the card live?
BURST_TEST_MAX_USD = 3.0
BURST_MEDIAN_USD = 250.0
BURST_AMOUNT_SIGMA = 0.8
BURST_RISKY_MERCHANT_SHARE = 0.7
# Payment arrivals: each triggers 0.4 more on average; excitement lasts about 20 mean gaps.
ARRIVAL_BRANCHING = 0.4
ARRIVAL_MEMORY_GAPS = 20.0


class _Merchant(NamedTuple):
    merchant_id: str
    country: str
    currency_code: str
    to_minor: float  # local minor units per USD
    cents_numerator: int  # US cents = minor units * numerator / denominator, rounded half up
    cents_denominator: int
    contactless_share: float
    mcc: str
    log_median_usd: float
    amount_sigma: float
    online: bool
    high_risk: bool


def _merchants(population_seed: int, count: int) -> list[_Merchant]:
    rng = stream_rng(population_seed, "payments.merchants")
    choose_country = chooser(rng, COUNTRIES, [c.weight for c in COUNTRIES])
    choose_category = chooser(rng, MERCHANT_CATEGORIES, [m.weight for m in MERCHANT_CATEGORIES])
    merchants = []
    for merchant_id in opaque_ids(rng, "mer_", count, 8):
        country = choose_country()
        category = choose_category()
        currency = CURRENCIES[country.currency]
        numerator, denominator = currency.cents_fraction()
        merchants.append(
            _Merchant(
                merchant_id=merchant_id,
                country=country.code,
                currency_code=currency.code,
                to_minor=10**currency.minor_digits / float(currency.usd_per_unit),
                cents_numerator=numerator,
                cents_denominator=denominator,
                contactless_share=country.contactless_share,
                mcc=category.mcc,
                log_median_usd=math.log(category.median_usd),
                amount_sigma=category.amount_sigma,
                online=rng.random() < category.online_share,
                high_risk=category.high_risk,
            )
        )
    return merchants


def payment_events(
    count: int,
    seed: int,
    start_ms: int,
    mean_gap_s: float,
    disorder_ms: int = 0,
    entities: Population = DEFAULT_POPULATION,
) -> Iterator[GeneratedEvent]:
    """``count`` card payments, the same ones for the same arguments.

    Args:
        count: How many payments.
        seed: Seed of every random draw.
        start_ms: Simulated clock at the start, epoch milliseconds.
        mean_gap_s: Mean simulated time between ordinary payments, seconds (burst payments come
            on top, about 1 % more).
        disorder_ms: Maximum jitter subtracted from each payment's event time.
        entities: How many cards and merchants (``Population``; the defaults are
            ``CARD_COUNT`` and ``MERCHANT_COUNT``).
    """
    card_count, merchant_count = entities.cards, entities.merchants
    rng = stream_rng(seed, "payments")
    population = stream_rng(seed, "payments.cards")
    tag = run_tag("payments", seed, start_ms)

    merchants = _merchants(seed, merchant_count)
    merchant_weights = zipf_weights(merchant_count, MERCHANT_ZIPF_EXPONENT, MERCHANT_ZIPF_OFFSET)
    choose_any_merchant = chooser(rng, merchants, merchant_weights)
    choose_domestic_merchant = {}
    for country in COUNTRIES:
        local = [
            (m, w)
            for m, w in zip(merchants, merchant_weights, strict=True)
            if m.country == country.code
        ]
        choose_domestic_merchant[country.code] = (
            chooser(rng, [m for m, _ in local], [w for _, w in local])
            if local
            else choose_any_merchant
        )
    risky_merchants = [m for m in merchants if m.online or m.high_risk]

    cards = opaque_ids(population, "tok_", card_count, 16)
    choose_home = chooser(population, [c.code for c in COUNTRIES], [c.weight for c in COUNTRIES])
    card_keys = [card.encode() for card in cards]
    card_homes = [choose_home() for _ in cards]
    choose_card = chooser(
        rng, range(card_count), zipf_weights(card_count, CARD_ZIPF_EXPONENT, CARD_ZIPF_OFFSET)
    )

    next_gap = HawkesArrivals(
        stream_rng(seed, "payments.arrivals"), mean_gap_s, ARRIVAL_BRANCHING, ARRIVAL_MEMORY_GAPS
    ).next_gap
    jitter = Disorder(stream_rng(seed, "payments.disorder"), disorder_ms).jitter

    uniform = rng.random
    gauss = rng.gauss
    randint = rng.randint
    exp = math.exp
    log_burst_median = math.log(BURST_MEDIAN_USD)

    # Scheduled burst payments: (simulated time, burst id, position in the burst, card index).
    pending: list[tuple[float, int, int, int]] = []
    bursts_started = 0
    next_ordinary = next_gap()
    for sequence in range(count):
        if pending and pending[0][0] <= next_ordinary:
            now, burst_id, position, card = heapq.heappop(pending)
            in_burst: int | None = burst_id
            if uniform() < BURST_RISKY_MERCHANT_SHARE:
                merchant = risky_merchants[int(uniform() * len(risky_merchants))]
            else:
                merchant = merchants[int(uniform() * merchant_count)]
            if position < BURST_CARD_TESTS:
                usd = 0.5 + uniform() * (BURST_TEST_MAX_USD - 0.5)
            else:
                usd = exp(log_burst_median + BURST_AMOUNT_SIGMA * gauss())
            decline = DECLINE_IN_BURST
        else:
            now = next_ordinary
            next_ordinary += next_gap()
            in_burst = None
            card = choose_card()
            home = card_homes[card]
            if uniform() < DOMESTIC_SHARE:
                merchant = choose_domestic_merchant[home]()
            else:
                merchant = choose_any_merchant()
            usd = exp(merchant.log_median_usd + merchant.amount_sigma * gauss())
            decline = DECLINE_BASE
            if merchant.online:
                decline += DECLINE_ONLINE
            if merchant.country != home:
                decline += DECLINE_CROSS_BORDER
            if uniform() < BURST_START_PROBABILITY:
                # A stolen card: uniform over all cards, its payments spread over a few minutes.
                victim = int(uniform() * card_count)
                window = BURST_MIN_WINDOW_S + uniform() * (BURST_MAX_WINDOW_S - BURST_MIN_WINDOW_S)
                size = randint(BURST_MIN_PAYMENTS, BURST_MAX_PAYMENTS)
                offsets = sorted(uniform() * window for _ in range(size))
                for position, offset in enumerate(offsets):
                    heapq.heappush(pending, (now + offset, bursts_started, position, victim))
                bursts_started += 1

        if merchant.online:
            channel = "ECOMMERCE" if uniform() < ECOMMERCE_SHARE_ONLINE else "MOTO"
        else:
            channel = "CONTACTLESS" if uniform() < merchant.contactless_share else "CARD_PRESENT"
        draw = uniform()
        if draw < decline:
            status = "DECLINED"
        else:
            draw = (draw - decline) / (1.0 - decline)
            if draw < REFUNDED_SHARE:
                status = "REFUNDED"
            elif draw < REFUNDED_SHARE + CAPTURED_SHARE:
                status = "CAPTURED"
            else:
                status = "AUTHORIZED"
        amount_minor = max(1, round(usd * merchant.to_minor))
        timeline_ms = start_ms + int(now * 1000.0)
        event_time_ms = timeline_ms - jitter()
        yield GeneratedEvent(
            sequence,
            timeline_ms,
            event_time_ms,
            card_keys[card],
            {
                "payment_id": f"pay-{tag}-{sequence}",
                "merchant_id": merchant.merchant_id,
                "card_id": cards[card],
                "amount_minor": amount_minor,
                "currency": merchant.currency_code,
                # Currency.usd_cents, inlined for speed.
                "amount_usd_cents": (
                    amount_minor * merchant.cents_numerator + merchant.cents_denominator // 2
                )
                // merchant.cents_denominator,
                "country": merchant.country,
                "mcc": merchant.mcc,
                "channel": channel,
                "status": status,
                "event_time": event_time_ms,
                "producer": PRODUCER,
                "sequence": sequence,
            },
            in_burst,
        )
