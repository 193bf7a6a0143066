"""``featurestream serve`` (the Go feature server) as a subprocess for tests: started on a free
port with the session's stack environment, ready once ``/readyz`` answers 200, killed after."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import free_ports

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def running_server(*args: str, **popen: Any) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """(URL, process) of a ready server started with ``serve --port <free> *args``."""
    (port,) = free_ports(1)
    command = [sys.executable, "-m", "common.cli", "serve", "--port", str(port), *args]
    process = subprocess.Popen(command, cwd=ROOT, env=os.environ.copy(), **popen)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise AssertionError(f"featurestream serve exited with {process.returncode}")
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("the feature server did not become ready")
            time.sleep(0.1)  # polling a condition (the server answering), not a fixed wait
        yield url, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
