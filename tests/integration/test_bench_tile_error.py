"""The tile benchmark's own check, small: every read of tiles written through the real script
equals the tiled DuckDB reference (``bench/tile_error.py`` exits 1 otherwise), so the script
behind the figures in ``docs/benchmarks.md`` keeps working."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]


def test_tile_error_bench_runs_and_every_read_equals_the_tiled_reference(
    tmp_path: Path,
) -> None:
    out = tmp_path / "tile_error.json"
    done = subprocess.run(
        [
            sys.executable, "-m", "bench.tile_error", "--merchants", "12", "--hours", "2",
            "--during-reads", "200", "--after-reads", "3", "--data-sets", "synthetic",
            "--json", str(out),
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip

    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "every read equals the tiled reference" in done.stdout
    figures = json.loads(out.read_text())
    assert figures["results"]
