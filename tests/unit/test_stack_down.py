"""Verbs that need the local stack say what to run when it is down, instead of a traceback."""

from __future__ import annotations

import socket
import time

import pytest
from click.testing import CliRunner

from common.cli import main


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def stack_down(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KAFKA_PORT", "REGISTRY_PORT", "FLINK_REST_PORT"):
        monkeypatch.setenv(f"FEATURESTREAM_{name}", str(_closed_port()))


@pytest.mark.usefixtures("stack_down")
def test_offline_with_the_stack_down_says_to_start_it() -> None:
    started = time.monotonic()
    result = CliRunner().invoke(
        main, ["offline", "payment_features", "--input", "payments", "--output", "/tmp/x.parquet"]
    )
    assert result.exit_code == 1
    assert "offline payment_features: the local stack is not up (" in result.output
    assert "kafka at 127.0.0.1:" in result.output and "flink at http://127.0.0.1:" in result.output
    assert "start it with `featurestream local up`" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert time.monotonic() - started < 15  # the checks run in parallel with short timeouts


@pytest.mark.usefixtures("stack_down")
def test_run_with_the_stack_down_says_to_start_it() -> None:
    result = CliRunner().invoke(main, ["run", "trade_features", "--no-online-store"])
    assert result.exit_code == 1
    assert "run trade_features: the local stack is not up (" in result.output
    assert "start it with `featurestream local up`" in result.output
