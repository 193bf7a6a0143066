"""The ``featurestream-avro`` format authenticates to the registry with basic auth.

A small proxy in front of the stack's registry refuses every request without the right
``Authorization`` header; the format, given ``basic-auth.user-info``, still decodes every record.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from common.config import StackConfig
from common.generate.runner import produce
from common.kafka import read_topic
from common.local import flink_client

pytestmark = pytest.mark.integration

JOB = Path(__file__).parent / "flink_jobs" / "format_split.py"
USER_INFO = "fs-test:not-a-real-password"  # test-only placeholder


@pytest.fixture
def auth_proxy(stack_config: StackConfig) -> Iterator[tuple[str, list[str]]]:
    """A registry URL that needs basic auth, and the Authorization headers it saw."""
    upstream = stack_config.registry_url
    prefix = urlparse(upstream).path
    expected = "Basic " + base64.b64encode(USER_INFO.encode()).decode()
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization", ""))
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.end_headers()
                return
            response = httpx.get(upstream + self.path.removeprefix(prefix), timeout=10)
            self.send_response(response.status_code)
            self.send_header("Content-Type", response.headers.get("content-type", "text/plain"))
            self.end_headers()
            self.wfile.write(response.content)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((stack_config.host, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{stack_config.host}:{server.server_port}{prefix}", seen
    finally:
        server.shutdown()


def test_format_reads_through_a_registry_that_needs_basic_auth(
    stack_config: StackConfig, unique_topic, auth_proxy: tuple[str, list[str]]
) -> None:
    registry_url, seen = auth_proxy
    assert httpx.get(f"{registry_url}/subjects", timeout=5).status_code == 401
    source, good, bad = unique_topic("payments"), unique_topic("good"), unique_topic("bad")
    summary = produce("payments", stack_config, count=500, seed=17, topic=source)
    assert summary.ok

    job_id = flink_client.submit_python(
        stack_config,
        script=JOB,
        args=[source, good, bad, stack_config.bootstrap_servers, registry_url, USER_INFO],
    )
    flink_client.wait_for_state(stack_config, job_id, "FINISHED", timeout_s=240)

    assert len(list(read_topic(stack_config, good, expected=500))) == 500
    assert list(read_topic(stack_config, bad, timeout_s=10)) == []
    assert seen and all(header.startswith("Basic ") for header in seen[1:])
