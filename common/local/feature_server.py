"""The feature server binary (``common/featureserver``, Go): built with ``go build``, cached.

Like the JVM functions jar, the binary is never committed: ``binary`` builds it on first use
after any change to the sources and keeps it under ``<cache_dir>/featureserver/<hash>/``. Its
dependencies are pinned by ``go.mod`` and verified against ``go.sum`` by Go itself. An image
sets ``FEATURESTREAM_FEATURESERVER`` to the binary it built instead (deploy/docker/Dockerfile).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from common.local import progress, tools

SOURCE_DIR = Path(__file__).resolve().parents[1] / "featureserver"
BINARY_ENV = "FEATURESTREAM_FEATURESERVER"


class BuildError(Exception):
    """Go could not build the feature server."""


def source_hash() -> str:
    """sha256 over go.mod, go.sum and every Go source but the tests (names, contents)."""
    digest = hashlib.sha256()
    for path in sorted(SOURCE_DIR.iterdir()):
        if path.name.endswith("_test.go"):
            continue  # not part of the binary
        if path.is_file() and (path.suffix == ".go" or path.name in ("go.mod", "go.sum")):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def binary(cache_dir: Path) -> Path:
    """The feature server for the current sources (``$FEATURESTREAM_FEATURESERVER`` if set)."""
    preset = os.environ.get(BINARY_ENV)
    if preset:
        if not Path(preset).is_file():
            raise BuildError(f"{BINARY_ENV}={preset} is not a file")
        return Path(preset)
    target = cache_dir / "featureserver" / source_hash() / "featureserver"
    if target.is_file():
        return target
    try:
        go = tools.go_command()
    except tools.ToolError as exc:
        raise BuildError(str(exc)) from exc
    progress.step("building the feature server (common/featureserver) with Go")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    result = subprocess.run(
        [go, "build", "-trimpath", "-o", str(partial), "."],
        cwd=SOURCE_DIR,
        capture_output=True,
        text=True,
        env=tools.go_env(target.parent),
    )
    if result.returncode != 0 or not partial.is_file():
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-30:])
        raise BuildError(f"building common/featureserver failed:\n{tail}")
    shutil.move(partial, target)
    return target
