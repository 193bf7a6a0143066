"""The Go server's tile reads against a real Redis (its Go test, which needs one, run on the
stack's): hashes written by ``common/online_tiles.lua`` decode and fold as the oracle says, a
second read comes from the server's cache, and an event folded after it (same millisecond,
another id) is read, not the cached hash."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from common.config import StackConfig

pytestmark = pytest.mark.integration

SERVER = Path(__file__).parents[2] / "common" / "featureserver"


def test_go_server_reads_tiles_the_script_wrote_and_notices_new_events(
    stack_config: StackConfig,
) -> None:
    go = shutil.which("go") or "/usr/local/go/bin/go"
    env = {
        **os.environ,
        "FEATURESERVER_TEST_REDIS": f"{stack_config.host}:{stack_config.redis_port}",
        "GOTOOLCHAIN": "local",
        "GOSUMDB": "off",
        "GOFLAGS": "-mod=readonly",
    }
    done = subprocess.run(
        [go, "test", "-count=1", "-run", "^TestTilesWrittenByTheScript$", "-v", "./..."],
        cwd=SERVER, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "--- PASS: TestTilesWrittenByTheScript" in done.stdout  # ran, not skipped
