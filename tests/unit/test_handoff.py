"""The prepared-start handshake between a launcher and a waiting job driver (files only)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from common.features import handoff


def test_a_start_order_reaches_the_waiting_driver(tmp_path: Path) -> None:
    order = tmp_path / "order.json"
    received: list[handoff.StartOrder] = []
    driver = threading.Thread(target=lambda: received.append(handoff.await_order(order, 30)))
    driver.start()
    handoff.say_ready(order)
    handoff.await_ready(order, exited=lambda: False, timeout_s=30)
    handoff.order_start(order, "file:///sp/savepoint-1", allow_non_restored_state=True)
    driver.join(30)
    assert received == [handoff.StartOrder("file:///sp/savepoint-1", True, abort=False)]


def test_an_abort_and_a_start_without_savepoint_are_told_apart(tmp_path: Path) -> None:
    aborted, fresh = tmp_path / "a.json", tmp_path / "b.json"
    handoff.order_abort(aborted)
    handoff.order_start(fresh, None, allow_non_restored_state=False)
    assert handoff.await_order(aborted, 1).abort
    assert handoff.await_order(fresh, 1) == handoff.StartOrder(None, False, abort=False)
    assert not list(tmp_path.glob("*.partial"))  # written by rename, never seen half-written


def test_a_driver_that_exits_before_it_is_ready_is_reported(tmp_path: Path) -> None:
    with pytest.raises(handoff.HandoffError, match="exited before"):
        handoff.await_ready(tmp_path / "order.json", exited=lambda: True, timeout_s=30)


def test_waiting_is_bounded(tmp_path: Path) -> None:
    with pytest.raises(handoff.HandoffError, match="not ready"):
        handoff.await_ready(tmp_path / "order.json", exited=lambda: False, timeout_s=0.1)
    with pytest.raises(handoff.HandoffError, match="no start order"):
        handoff.await_order(tmp_path / "order.json", timeout_s=0.1)
