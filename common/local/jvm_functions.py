"""featurestream's JVM functions jar (``common/jvm``): built with Maven, cached by source hash.

The jar is never committed: ``functions_jar`` builds it on first use after any change to the
sources and keeps it under ``<cache_dir>/jvm/<hash>/``.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from common.local import progress

JVM_DIR = Path(__file__).resolve().parents[1] / "jvm"
JAR_NAME = "featurestream-flink-functions.jar"
# Files outside common/jvm that the pom packages into the jar (the online store's Lua scripts have
# one copy each, shared with the Python side); they are part of the jar's source hash.
PACKAGED_FROM_COMMON = (
    JVM_DIR.parent / "online_store.lua",
    JVM_DIR.parent / "online_events.lua",
    JVM_DIR.parent / "online_tiles.lua",
)


class BuildError(Exception):
    """Maven could not build the functions jar."""


def source_hash() -> str:
    """sha256 over the pom, every source file and the packaged common files (paths, contents)."""
    digest = hashlib.sha256()
    files = [
        JVM_DIR / "pom.xml",
        *sorted((JVM_DIR / "src").rglob("*")),
        *PACKAGED_FROM_COMMON,
    ]
    for path in files:
        if path.is_file():
            digest.update(path.relative_to(JVM_DIR.parent).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def functions_jar(cache_dir: Path) -> Path:
    """Path of the built jar for the current sources, building it first when needed."""
    target = cache_dir / "jvm" / source_hash() / JAR_NAME
    if target.is_file():
        return target
    if shutil.which("mvn") is None:
        raise BuildError("Maven (`mvn`) is needed to build common/jvm and is not on PATH")
    progress.step("building the JVM functions (common/jvm) with Maven")
    result = subprocess.run(
        # The JUnit tests run on their own (`make test-jvm`), not on every build.
        ["mvn", "-q", "-B", "-Dmaven.test.skip=true", "package"],
        cwd=JVM_DIR,
        capture_output=True,
        text=True,
    )
    built = JVM_DIR / "target" / JAR_NAME
    if result.returncode != 0 or not built.is_file():
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-30:])
        raise BuildError(f"building common/jvm failed:\n{tail}")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(built, target)
    return target
