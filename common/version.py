"""The code version that jobs stamp on their output (request lineage, savepoint metadata)."""

from __future__ import annotations

import os
import subprocess
from functools import cache
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
ENV_VAR = "FEATURESTREAM_CODE_VERSION"


@cache
def code_version() -> str:
    """``<package version>+g<commit>[.dirty]``, or ``$FEATURESTREAM_CODE_VERSION`` when set.

    Images set the variable at build time (no git inside); a checkout asks git.
    """
    if os.environ.get(ENV_VAR):
        return os.environ[ENV_VAR]
    try:
        base = package_version("featurestream")
    except PackageNotFoundError:
        base = "0+unknown"
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return base
    return f"{base}+g{commit}" + (".dirty" if dirty else "")
