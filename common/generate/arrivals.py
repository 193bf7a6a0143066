"""The simulated clock: bursty arrival times and bounded disorder.

Arrivals follow a Hawkes process with an exponential kernel: every event raises the intensity
by a jump that decays away, so events cluster the way trades and card traffic do (one fill
triggers more, a lunch rush feeds itself). The process is stationary with mean rate
``1 / mean_gap_s``: a base rate ``(1 - branching) / mean_gap_s`` of immigrant events, each of
which has on average ``branching / (1 - branching)`` descendants. Gaps are drawn exactly, without
thinning (Dassios and Zhao, "Exact simulation of Hawkes process with exponentially decaying
intensity", 2013).
"""

from __future__ import annotations

import math
import random


class HawkesArrivals:
    """Inter-arrival gaps of a self-exciting point process on the simulated clock.

    Args:
        rng: The random stream to draw from.
        mean_gap_s: Long-run mean gap between events, in seconds.
        branching: Expected number of events each event directly triggers (0 <= b < 1);
            0 is a Poisson process, larger is burstier.
        memory_gaps: How long an event's excitement lasts (the kernel's time constant), in
            mean gaps. The shape of the process does not depend on the rate.

    Example:
        >>> arrivals = HawkesArrivals(random.Random(1), mean_gap_s=0.001)
        >>> gap = arrivals.next_gap()  # seconds until the next event
    """

    def __init__(
        self,
        rng: random.Random,
        mean_gap_s: float,
        branching: float = 0.7,
        memory_gaps: float = 8.0,
    ) -> None:
        if mean_gap_s <= 0:
            raise ValueError("mean_gap_s must be positive")
        if not 0 <= branching < 1:
            raise ValueError("branching must be in [0, 1)")
        rate = 1.0 / mean_gap_s
        self._rng = rng
        self._base_rate = rate * (1.0 - branching)
        self._decay = 1.0 / (memory_gaps * mean_gap_s)
        self._jump = branching * self._decay
        # Start in the stationary regime: the mean of the excitation part of the intensity.
        self._excitation = rate * branching

    def next_gap(self) -> float:
        """Seconds from the previous event to the next one."""
        uniform = self._rng.random
        decay = self._decay
        excitation = self._excitation
        # Time until the decaying excitation alone would fire; infinite if it fades first.
        triggered = math.inf
        if excitation > 0.0:
            fade = 1.0 + decay * math.log(1.0 - uniform()) / excitation
            if fade > 0.0:
                triggered = -math.log(fade) / decay
        spontaneous = -math.log(1.0 - uniform()) / self._base_rate
        gap = triggered if triggered < spontaneous else spontaneous
        self._excitation = excitation * math.exp(-decay * gap) + self._jump
        return gap


class Disorder:
    """Moves event times back by a uniform jitter in ``[0, max_ms]`` milliseconds.

    Since the simulated clock never goes back, an event's time is then at most ``max_ms`` behind
    the largest time seen before it: the out-of-orderness a watermark must allow is ``max_ms``.
    """

    def __init__(self, rng: random.Random, max_ms: int) -> None:
        if max_ms < 0:
            raise ValueError("max_ms must not be negative")
        self.max_ms = max_ms
        self._randint = rng.randint

    def jitter(self) -> int:
        """Milliseconds to subtract from the next event's time (0 when there is no disorder)."""
        return self._randint(0, self.max_ms) if self.max_ms else 0
