"""`local up` is idempotent, `down` leaves nothing behind, a taken port is a clear error.

These run a second, private stack next to the session's, so the session stack stays untouched.
"""

from __future__ import annotations

import socket
from pathlib import Path

import psutil
import pytest

from common.config import StackConfig
from common.local import parts, processes, stack
from tests.conftest import fresh_stack_config

pytestmark = pytest.mark.integration


def _pids(config: StackConfig) -> dict[str, int]:
    found = {}
    for names in parts.PROCESS_NAMES.values():
        for name in names:
            proc = processes.alive(parts.run_dir(config), name)
            if proc is not None:
                found[name] = proc.pid
    return found


def test_session_stack_is_healthy(stack_config: StackConfig) -> None:
    rows = stack.status(stack_config)
    assert [(r.name, r.state) for r in rows] == [
        ("kafka", "healthy"),
        ("registry", "healthy"),
        ("redis", "healthy"),
        ("zookeeper", "healthy"),
        ("flink", "healthy"),
    ]


def test_up_twice_is_harmless_and_down_leaves_no_process(
    stack_config: StackConfig, tmp_path: Path
) -> None:
    config = fresh_stack_config(tmp_path / "private")
    try:
        stack.up(config)
        first = _pids(config)
        assert set(first) == {
            "kafka",
            "registry",
            "redis",
            "zookeeper",
            "flink-jobmanager",
            "flink-taskmanager",
        }
        family = [psutil.Process(pid) for pid in first.values()]
        family += [child for proc in family for child in proc.children(recursive=True)]

        stack.up(config)  # second call: nothing restarted, still healthy
        assert _pids(config) == first
        assert all(row.state == "healthy" for row in stack.status(config))
    finally:
        stopped = stack.down(config)

    assert sorted(stopped) == sorted(first)
    _gone, alive = psutil.wait_procs(family, timeout=10)
    assert alive == []
    assert _pids(config) == {}
    for part in parts.PARTS:
        for port in part.ports:
            assert processes.port_free(config.host, port.value(config)), port.what
    assert all(row.state == "stopped" for row in stack.status(config))
    # The session stack was not touched.
    assert all(row.state == "healthy" for row in stack.status(stack_config))


def test_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    config = fresh_stack_config(tmp_path / "taken")
    with socket.socket() as squatter:
        squatter.bind((config.host, config.redis_port))
        squatter.listen()
        with pytest.raises(stack.StackError) as error:
            stack.up(config, only=["redis"])
    message = str(error.value)
    assert f"port {config.redis_port}" in message
    assert "FEATURESTREAM_REDIS_PORT" in message
    assert _pids(config) == {}
