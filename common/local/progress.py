"""Progress lines for long work, on stderr so stdout stays machine-readable."""

from __future__ import annotations

import sys
import time

_START = time.monotonic()


def step(message: str) -> None:
    """Print one progress line, prefixed with seconds since the process started."""
    print(f"[{time.monotonic() - _START:6.1f}s] {message}", file=sys.stderr, flush=True)
