"""Waiting for a condition in tests: poll it, never sleep a guessed time."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(what: str, condition: Callable[[], bool], timeout_s: float = 240.0) -> float:
    """Poll ``condition`` every 0.2 s; the seconds it took. Raises AssertionError on timeout."""
    began = time.monotonic()
    while not condition():
        if time.monotonic() - began > timeout_s:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.2)
    return time.monotonic() - began
