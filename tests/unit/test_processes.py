import json
import sys
from pathlib import Path

import psutil
import pytest

from common.local import processes


def _sleeper(tmp_path: Path, name: str = "sleeper") -> processes.Tracked:
    return processes.start(
        name,
        [sys.executable, "-c", "import time; time.sleep(60)"],
        run_dir=tmp_path / "run",
        log_file=tmp_path / "logs" / f"{name}.log",
    )


def test_start_and_stop_exactly_the_recorded_process(tmp_path: Path) -> None:
    tracked = _sleeper(tmp_path)
    assert processes.alive(tmp_path / "run", "sleeper") is not None
    assert processes.stop(tmp_path / "run", "sleeper") is True
    assert not psutil.pid_exists(tracked.pid) or psutil.Process(tracked.pid).status() == "zombie"
    assert processes.read(tmp_path / "run", "sleeper") is None
    assert processes.stop(tmp_path / "run", "sleeper") is False  # nothing left to stop


def test_a_reused_pid_is_never_signalled(tmp_path: Path) -> None:
    tracked = _sleeper(tmp_path)
    try:
        # Pretend the pid file was written for an older process that had the same pid.
        pid_path = processes.pid_file(tmp_path / "run", "sleeper")
        pid_path.write_text(
            json.dumps({**tracked.__dict__, "create_time": tracked.create_time - 100})
        )
        assert processes.alive(tmp_path / "run", "sleeper") is None
        assert processes.stop(tmp_path / "run", "sleeper") is False
        assert psutil.Process(tracked.pid).is_running()
    finally:
        psutil.Process(tracked.pid).kill()


def test_taken_port_names_the_setting() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert not processes.port_free("127.0.0.1", port)
        with pytest.raises(processes.PortInUseError, match="FEATURESTREAM_REDIS_PORT"):
            processes.require_free("127.0.0.1", port, "Redis", "FEATURESTREAM_REDIS_PORT")
