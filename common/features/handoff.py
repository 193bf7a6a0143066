"""A prepared job start: the driver plans its job, says so, and waits to be told to start it.

``featurestream upgrade`` and ``restore`` start the new driver *before* stopping the running
job, so the old job stops only once the new code has planned (a broken change leaves it
running) and the downtime is the savepoint and the submission, not the driver's start-up
(decision 50). The two sides talk through two files next to each other:

- ``<order>.ready``: written by the driver once its job is planned;
- ``<order>``: written by the launcher, atomically: JSON ``{"savepoint": path or null,
  "allow_non_restored_state": bool}`` to start, or ``{"abort": true}`` to exit without starting.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

POLL_S = 0.05


class HandoffError(RuntimeError):
    """The other side did not answer in time, or the driver exited before it was ready."""


@dataclass(frozen=True)
class StartOrder:
    """What the launcher told a waiting driver."""

    savepoint: str | None = None
    allow_non_restored_state: bool = False
    abort: bool = False


def ready_marker(order: Path) -> Path:
    """The file the driver writes once it is ready to start."""
    return order.with_name(order.name + ".ready")


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


def say_ready(order: Path) -> None:
    """Driver side: the job is planned."""
    _write_atomically(ready_marker(order), "ready\n")


def await_order(order: Path, timeout_s: float = 3600.0) -> StartOrder:
    """Driver side: block until the launcher writes ``order``; what it says."""
    deadline = time.monotonic() + timeout_s
    while not order.exists():
        if time.monotonic() > deadline:
            raise HandoffError(f"no start order in {order} after {timeout_s:.0f} s")
        time.sleep(POLL_S)
    data = json.loads(order.read_text())
    return StartOrder(
        savepoint=data.get("savepoint"),
        allow_non_restored_state=bool(data.get("allow_non_restored_state", False)),
        abort=bool(data.get("abort", False)),
    )


def await_ready(order: Path, exited: Callable[[], bool], timeout_s: float) -> None:
    """Launcher side: block until the driver is ready.

    Raises:
        HandoffError: the driver exited first (``exited()`` turned true) or took too long.
    """
    marker = ready_marker(order)
    deadline = time.monotonic() + timeout_s
    while not marker.exists():
        if exited():
            raise HandoffError("the job driver exited before its job was planned")
        if time.monotonic() > deadline:
            raise HandoffError(f"the job driver was not ready after {timeout_s:.0f} s")
        time.sleep(POLL_S)


def order_start(order: Path, savepoint: str | None, allow_non_restored_state: bool) -> None:
    """Launcher side: start the job, from ``savepoint`` if given."""
    order_text = {"savepoint": savepoint, "allow_non_restored_state": allow_non_restored_state}
    _write_atomically(order, json.dumps(order_text))


def order_abort(order: Path) -> None:
    """Launcher side: the driver exits without starting anything."""
    _write_atomically(order, json.dumps({"abort": True}))
