"""The feature server while Redis dies and freezes: every answer is a prompt 503/504 with a
reason (never a 500, never a hang, never a crash), readiness follows Redis, and serving comes
back by itself with the stored vectors once Redis does.

A client thread keeps asking (about 200 lookups/s) through a ``kill -9`` of Redis, its
restart, and a 3 s SIGSTOP of Redis; every response is recorded.
"""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from common.config import StackConfig
from common.online_store import OnlineStore
from tests.faults.harness import kill9, restart, suspend
from tests.feature_server import running_server
from tests.polling import wait_for

pytestmark = pytest.mark.faults

TIMEOUT_MS = 250
CARDS = 50


@dataclass
class Calls:
    """What the client saw: (status, seconds, error text) per call, in order."""

    seen: list[tuple[int, float, str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def statuses(self, since: int = 0) -> Counter[int]:
        return Counter(status for status, _, _ in self.seen[since:])


def _client(url: str, cards: list[str], calls: Calls) -> None:
    with httpx.Client(timeout=10) as client:
        n = 0
        while not calls.stop.is_set():
            card = cards[n % len(cards)]
            n += 1
            began = time.monotonic()
            try:
                response = client.get(
                    f"{url}/views/payment_card/features", params={"card_id": card}
                )
                error = response.json().get("error", "") if response.status_code != 200 else ""
                calls.seen.append((response.status_code, time.monotonic() - began, error))
            except httpx.HTTPError as exc:  # a refused or dropped connection: the server died
                calls.seen.append((0, time.monotonic() - began, repr(exc)))
            calls.stop.wait(0.005)  # pacing the client (~200/s), not synchronisation


@pytest.fixture
def server(stack_config: StackConfig) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    with running_server(
        "--timeout-ms", str(TIMEOUT_MS), "--no-access-log", stderr=subprocess.DEVNULL
    ) as served:
        yield served


def test_redis_killed_and_frozen_gives_prompt_503s_then_serving_resumes(
    stack_config: StackConfig, server: tuple[str, subprocess.Popen[bytes]]
) -> None:
    url, process = server
    store = OnlineStore.connect(stack_config)
    run = uuid.uuid4().hex[:8]
    cards = [f"tok_{run}{i:03d}" for i in range(CARDS)]
    for i, card in enumerate(cards):
        store.write(
            "payment_card", 1, card, 1_780_000_000_000 + i, f"p-{i}", {"card_txn_count_1h": i}
        )
    # The stack's Redis syncs its AOF on every write (decision 53): these survive the kill.

    calls = Calls()
    client = threading.Thread(target=_client, args=(url, cards, calls), daemon=True)
    client.start()
    try:
        wait_for("200s before the faults", lambda: calls.statuses()[200] >= 100, timeout_s=30)

        before_kill = len(calls.seen)
        kill9(stack_config, "redis")
        wait_for("503s while Redis is down", lambda: calls.statuses(before_kill)[503] >= 20, 30)
        assert httpx.get(f"{url}/readyz", timeout=5).status_code == 503
        restart(stack_config, "redis")
        after_restart = len(calls.seen)
        wait_for("200s again", lambda: calls.statuses(after_restart)[200] >= 100, timeout_s=60)
        assert httpx.get(f"{url}/readyz", timeout=5).status_code == 200

        before_freeze = len(calls.seen)
        suspend(stack_config, "redis", 3.0)
        during_freeze = calls.seen[before_freeze:]
        after_freeze = len(calls.seen)
        wait_for("200s after the freeze", lambda: calls.statuses(after_freeze)[200] >= 100, 60)
    finally:
        calls.stop.set()
        client.join(timeout=30)

    statuses = calls.statuses()
    assert set(statuses) <= {200, 503, 504}, statuses  # no 500, no dropped connection
    assert process.poll() is None  # the server rode it out
    # A frozen Redis answers nothing: past the deadline each lookup is a 504, promptly.
    assert Counter(s for s, _, _ in during_freeze)[504] >= 3
    slowest = max(seconds for status, seconds, _ in calls.seen if status != 200)
    assert slowest < 2.0, f"a failed lookup took {slowest:.2f} s (deadline {TIMEOUT_MS} ms)"
    assert all("online store unavailable" in error for s, _, error in calls.seen if s != 200)
    metrics = httpx.get(f"{url}/metrics", timeout=5).text
    errors = next(
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith("featureserver_redis_errors_total ")
    )
    assert errors == statuses[503] + statuses[504]
    # The vectors are back as they were stored.
    got = httpx.post(
        f"{url}/views/payment_card/features",
        json={"keys": cards, "at": "last_event"},
        timeout=10,
    )
    features = [r["features"]["card_txn_count_1h"] for r in got.json()["results"]]
    assert features == list(range(CARDS))
