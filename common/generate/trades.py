"""Crypto trade fills: random-walk prices, bursty flow, drifting buy/sell imbalance, skewed takers.

Every fill is one taker order (or part of one) on one venue:

- the instrument is drawn by popularity; its mid price follows a geometric random walk whose
  variance grows with the simulated time since the instrument last traded (annualised
  volatilities below), and the fill prints half a spread away from the mid on the taker's side;
- the taker's side is drawn from a per-instrument buy probability whose log-odds do a
  mean-reverting random walk, so buy/sell imbalance drifts and differs between instruments;
- takers are ``ACCOUNT_COUNT`` accounts with Zipf-skewed activity, each held at one venue;
- a quarter of orders sweep the book: further fills of the same order (same account, side,
  instrument, time) at successively worse prices;
- order arrivals are a Hawkes process on the simulated clock (``arrivals``).

Prices and quantities are rounded to each instrument's tick and lot, and are exact ``Decimal``
values with at most 8 decimal places, as the schema's ``decimal(18, 8)`` requires.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

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


@dataclass(frozen=True)
class Instrument:
    """A traded pair and the parameters of its simulation."""

    symbol: str
    start_price: float
    tick: str
    lot: str
    popularity: float
    annual_volatility: float
    half_spread_bp: float


# Price levels, tick and lot sizes in the range of large US venues; popularity roughly their
# share of fills.
INSTRUMENTS: tuple[Instrument, ...] = (
    Instrument("BTC-USD", 97_000.0, "0.01", "0.00000001", 0.36, 0.55, 0.3),
    Instrument("ETH-USD", 3_400.0, "0.01", "0.00000001", 0.26, 0.70, 0.5),
    Instrument("SOL-USD", 190.0, "0.01", "0.000001", 0.16, 0.90, 1.0),
    Instrument("XRP-USD", 2.30, "0.0001", "0.000001", 0.13, 0.95, 2.0),
    Instrument("DOGE-USD", 0.32, "0.00001", "0.1", 0.09, 1.10, 3.0),
)


def instruments(count: int) -> tuple[Instrument, ...]:
    """The first ``count`` instruments: the five above, then synthetic altcoin pairs (each less
    traded than the one before, prices spread over four decades, more volatile and wider)."""
    extra = []
    for n in range(max(0, count - len(INSTRUMENTS))):
        price = 10 ** (2.0 - (n % 7) * 0.6)
        extra.append(
            Instrument(
                f"ALT{n + 1:02d}-USD",
                round(price, 4),
                "0.0001",
                "0.01",
                0.05 / (n + 2),
                1.0 + 0.05 * (n % 5),
                3.0 + (n % 4),
            )
        )
    return (*INSTRUMENTS, *extra)[:count]


VENUES: tuple[tuple[str, float], ...] = (("coinbase", 0.55), ("kraken", 0.30), ("bitstamp", 0.15))
ACCOUNT_COUNT = Population().accounts
DEFAULT_POPULATION = Population()
ACCOUNT_ZIPF_EXPONENT = 1.1
ACCOUNT_ZIPF_OFFSET = 5.0  # the busiest 1 % of accounts take about 40 % of fills
# Notional of an order in USD: log-normal, median 300 USD, heavy right tail, capped.
MEDIAN_NOTIONAL_USD = 300.0
NOTIONAL_SIGMA = 1.6
MAX_NOTIONAL_USD = 5_000_000.0
# Probability that the next fill continues the current order (a sweep through the book).
SWEEP_CONTINUE = 0.25
SWEEP_LEVEL_BP = 1.0
# Log-odds of buying: each fill pulls them back towards 0 by this share and adds N(0, step).
IMBALANCE_REVERSION = 0.002
IMBALANCE_STEP = 0.05
# Order arrivals: each order triggers 0.7 more on average; excitement lasts about 8 mean gaps.
ARRIVAL_BRANCHING = 0.7
ARRIVAL_MEMORY_GAPS = 8.0
_SECONDS_PER_YEAR = 365.0 * 24 * 3600
_PRICE_CACHE_LIMIT = 50_000


class _InstrumentState:
    """The moving parts of one instrument's market."""

    __slots__ = (
        "half_spread",
        "imbalance",
        "key",
        "last_time",
        "log_mid",
        "lot",
        "lot_size",
        "prices",
        "symbol",
        "tick",
        "tick_size",
        "volatility",
    )

    def __init__(self, instrument: Instrument) -> None:
        self.symbol = instrument.symbol
        self.key = instrument.symbol.encode()
        self.log_mid = math.log(instrument.start_price)
        self.last_time = 0.0
        self.volatility = instrument.annual_volatility / math.sqrt(_SECONDS_PER_YEAR)  # per sqrt(s)
        self.half_spread = instrument.half_spread_bp * 1e-4
        self.imbalance = 0.0
        self.tick = Decimal(instrument.tick)
        self.tick_size = float(instrument.tick)
        self.lot = Decimal(instrument.lot)
        self.lot_size = float(instrument.lot)
        self.prices: dict[int, Decimal] = {}  # price in ticks -> Decimal; fills repeat prices

    def price(self, ticks: int) -> Decimal:
        """The Decimal price of ``ticks`` ticks."""
        price = self.prices.get(ticks)
        if price is None:
            if len(self.prices) >= _PRICE_CACHE_LIMIT:
                self.prices.clear()
            price = self.prices[ticks] = Decimal(ticks) * self.tick
        return price


def trade_events(
    count: int,
    seed: int,
    start_ms: int,
    mean_gap_s: float,
    disorder_ms: int = 0,
    entities: Population = DEFAULT_POPULATION,
) -> Iterator[GeneratedEvent]:
    """``count`` trade fills, the same ones for the same arguments.

    Args:
        count: How many fills.
        seed: Seed of every random draw.
        start_ms: Simulated clock at the start, epoch milliseconds.
        mean_gap_s: Mean simulated time between fills, seconds.
        disorder_ms: Maximum jitter subtracted from each fill's event time.
        entities: How many accounts and symbols (``Population``; the defaults are
            ``ACCOUNT_COUNT`` and the five ``INSTRUMENTS``).
    """
    traded = instruments(entities.symbols)
    account_count = entities.accounts
    rng = stream_rng(seed, "trades")
    population = stream_rng(seed, "trades.population")
    tag = run_tag("trades", seed, start_ms)

    states = [_InstrumentState(instrument) for instrument in traded]
    choose_instrument = chooser(rng, states, [i.popularity for i in traded])
    accounts = opaque_ids(population, "acc_", account_count, 10)
    choose_venue = chooser(population, [v for v, _ in VENUES], [w for _, w in VENUES])
    venue_of = {account: choose_venue() for account in accounts}
    choose_account = chooser(
        rng, accounts, zipf_weights(account_count, ACCOUNT_ZIPF_EXPONENT, ACCOUNT_ZIPF_OFFSET)
    )
    # Sweeps add fills without advancing the clock, so orders arrive less often than fills.
    order_gap_s = mean_gap_s / (1.0 - SWEEP_CONTINUE)
    next_gap = HawkesArrivals(
        stream_rng(seed, "trades.arrivals"), order_gap_s, ARRIVAL_BRANCHING, ARRIVAL_MEMORY_GAPS
    ).next_gap
    jitter = Disorder(stream_rng(seed, "trades.disorder"), disorder_ms).jitter

    uniform = rng.random
    gauss = rng.gauss
    exp = math.exp
    sqrt = math.sqrt
    log_median_notional = math.log(MEDIAN_NOTIONAL_USD)
    sweep_step = SWEEP_LEVEL_BP * 1e-4

    now = 0.0  # simulated seconds since start
    state = states[0]
    account = accounts[0]
    side = "BUY"
    price = 1.0
    for sequence in range(count):
        if sequence and uniform() < SWEEP_CONTINUE:
            # The same order takes the next level of the book: a worse price, same time.
            price *= 1.0 + sweep_step * (1.0 + uniform()) * (1.0 if side == "BUY" else -1.0)
        else:
            now += next_gap()
            state = choose_instrument()
            elapsed = now - state.last_time
            state.last_time = now
            state.log_mid += state.volatility * sqrt(elapsed) * gauss()
            state.imbalance += -IMBALANCE_REVERSION * state.imbalance + IMBALANCE_STEP * gauss()
            buy = uniform() * (1.0 + exp(-state.imbalance)) < 1.0
            side = "BUY" if buy else "SELL"
            account = choose_account()
            mid = exp(state.log_mid)
            price = mid * (1.0 + state.half_spread) if buy else mid * (1.0 - state.half_spread)
        ticks = max(1, round(price / state.tick_size))
        notional = min(exp(log_median_notional + NOTIONAL_SIGMA * gauss()), MAX_NOTIONAL_USD)
        lots = max(1, int(notional / price / state.lot_size))
        timeline_ms = start_ms + int(now * 1000.0)
        event_time_ms = timeline_ms - jitter()
        yield GeneratedEvent(
            sequence,
            timeline_ms,
            event_time_ms,
            state.key,
            {
                "trade_id": f"trd-{tag}-{sequence}",
                "venue": venue_of[account],
                "symbol": state.symbol,
                "side": side,
                "price": state.price(ticks),
                "quantity": Decimal(lots) * state.lot,
                "account_id": account,
                "event_time": event_time_ms,
                "producer": PRODUCER,
                "sequence": sequence,
            },
        )
