"""Shared fixtures: the real local stack, started once per test session.

By default the session starts its own stack on free ports in a temporary data dir (downloads come
from the shared cache) and stops it at the end. ``FEATURESTREAM_TEST_STACK=reuse`` uses the stack
already running per the ``FEATURESTREAM_*`` environment (e.g. after ``make up``) and leaves it up.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import pytest

from common.config import StackConfig, load_stack_config
from common.local import stack

PORT_FIELDS = (
    "kafka_port",
    "kafka_controller_port",
    "registry_port",
    "redis_port",
    "flink_rest_port",
    "flink_rpc_port",
    "zookeeper_port",
    "flink_jobmanager_metrics_port",
    "flink_taskmanager_metrics_port",
)


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports that nothing listens on right now."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def fresh_stack_config(data_dir: os.PathLike[str]) -> StackConfig:
    """A stack config with its own data dir and free ports (cache dir shared)."""
    ports = dict(zip(PORT_FIELDS, free_ports(len(PORT_FIELDS)), strict=True))
    # Six slots: the fault suite runs both feature jobs, the request job and a scoring job.
    return load_stack_config(data_dir=data_dir, flink_taskmanager_slots=6, **ports)


def export(config: StackConfig) -> dict[str, str]:
    """The environment variables under which the CLI and jobs see ``config``."""
    return {
        f"FEATURESTREAM_{name.upper()}": str(getattr(config, name))
        for name in ("host", "data_dir", "cache_dir", *PORT_FIELDS)
    }


@pytest.fixture(scope="session")
def stack_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackConfig]:
    """The running local stack (Kafka, registry, Redis, Flink) for integration tests."""
    if os.environ.get("FEATURESTREAM_TEST_STACK") == "reuse":
        config = load_stack_config()
        unhealthy = [s.name for s in stack.status(config) if s.state != "healthy"]
        if unhealthy:
            pytest.fail(f"FEATURESTREAM_TEST_STACK=reuse but not healthy: {', '.join(unhealthy)}")
        yield config
        return
    config = fresh_stack_config(tmp_path_factory.mktemp("stack"))
    saved = {k: os.environ.get(k) for k in export(config)}
    os.environ.update(export(config))  # subprocesses (CLI, flink run) see the same stack
    try:
        stack.up(config)
        yield config
    finally:
        stack.down(config)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def unique_topic() -> Iterator[object]:
    """A factory of topic names unique to this test: ``unique_topic("trades")``."""

    def make(prefix: str) -> str:
        return f"{prefix}-{uuid.uuid4().hex[:10]}"

    yield make
