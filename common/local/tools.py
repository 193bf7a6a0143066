"""Pinned command-line tools built from source with Go: ``helm``, ``kubeconform``, ``promtool``,
``vegeta``.

``make setup`` builds each one with ``go install <package>@<version>`` into
``<cache_dir>/tools/<name>/<version>/`` (``GOBIN``), outside git, and skips a tool already built
at its pinned version. Versions and module hashes are pinned here, in ``TOOLS``, and nowhere else.

The Go checksum database is not reachable from every machine that builds
featurestream, so the build runs with ``GOSUMDB=off`` and checks the tool's own module against the
``h1:`` hash pinned below (what the checksum database would have checked); its dependencies are
verified by Go against the tool's own ``go.sum`` as always (decision 30).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from common.local import progress

GO_MIN_VERSION = (1, 26)
# Go's installer puts it here; a non-login shell (make, CI) may not have it on PATH.
_GO_FALLBACKS = ("/usr/local/go/bin/go",)


class ToolError(Exception):
    """A pinned tool could not be built (no Go, wrong Go, a hash mismatch, a failed build)."""


@dataclass(frozen=True)
class GoTool:
    """A command built with ``go install``.

    Attributes:
        name: The binary's name.
        module: The Go module that holds it.
        package: The ``main`` package inside the module.
        version: The module version (a tag).
        module_sum: The module's ``h1:`` hash, as a ``go.sum`` line would record it.
        version_args: Arguments that make the binary print its version.
        version_variable: The Go variable the release builds set to the version with
            ``-ldflags -X`` (a plain ``go install`` leaves a placeholder there).
        version_pattern: A regular expression whose first group is the version in what
            ``version_args`` print; the whole output when empty.
    """

    name: str
    module: str
    package: str
    version: str
    module_sum: str
    version_args: tuple[str, ...]
    version_variable: str
    version_pattern: str = ""


TOOLS: dict[str, GoTool] = {
    tool.name: tool
    for tool in (
        GoTool(
            name="helm",
            module="helm.sh/helm/v3",
            package="helm.sh/helm/v3/cmd/helm",
            version="v3.21.4",
            module_sum="h1:T/GcIEXU/gNjJnkITlIZ3e9xqkZjhFTmISuStTZ6+Qg=",
            version_args=("version", "--template", "{{.Version}}"),
            version_variable="helm.sh/helm/v3/internal/version.version",
        ),
        GoTool(
            name="kubeconform",
            module="github.com/yannh/kubeconform",
            package="github.com/yannh/kubeconform/cmd/kubeconform",
            version="v0.7.0",
            module_sum="h1:ZFfniR8VChrWQxaxTUGnNrxw8RIDkjVBrjdhXSamwjw=",
            version_args=("-v",),
            version_variable="main.version",
        ),
        # The chart's PrometheusRule: `promtool check rules` and `promtool test rules`.
        GoTool(
            name="promtool",
            module="github.com/prometheus/prometheus",
            package="github.com/prometheus/prometheus/cmd/promtool",
            version="v0.316.0",
            module_sum="h1:f1GRFerhTMKQma+awCoC9T820ecWeGSdF+xAlMHzZzM=",
            version_args=("--version",),
            version_variable="github.com/prometheus/common/version.Version",
            # "promtool, version v0.316.0 (branch: , revision: ...)" then build details.
            version_pattern=r"^promtool, version (\S+)",
        ),
        # bench/serving.py's open-loop HTTP load (latency from each request's scheduled start).
        GoTool(
            name="vegeta",
            module="github.com/tsenart/vegeta/v12",
            package="github.com/tsenart/vegeta/v12",
            version="v12.13.0",
            module_sum="h1:J/UiNS3f69MkL0tsRLVUUV8uXXQZxdRUchtS+GYiSFc=",
            version_args=("-version",),
            version_variable="main.Version",
            version_pattern=r"^Version: (\S+)",
        ),
    )
}


def tool_path(cache_dir: Path, name: str) -> Path:
    """Where the pinned build of ``name`` lives (it may not be built yet)."""
    tool = TOOLS[name]
    return cache_dir / "tools" / tool.name / tool.version / tool.name


def _go() -> str:
    go = shutil.which("go") or next((p for p in _GO_FALLBACKS if Path(p).is_file()), None)
    if go is None:
        raise ToolError(
            f"Go {'.'.join(map(str, GO_MIN_VERSION))}+ is needed to build "
            f"{', '.join(TOOLS)} and no `go` was found on PATH"
        )
    out = subprocess.run([go, "version"], capture_output=True, text=True).stdout
    match = re.search(r"go(\d+)\.(\d+)", out)
    if not match or (int(match.group(1)), int(match.group(2))) < GO_MIN_VERSION:
        raise ToolError(
            f"{go} is {out.strip() or 'of unknown version'}; "
            f"Go {'.'.join(map(str, GO_MIN_VERSION))}+ is needed to build {', '.join(TOOLS)}"
        )
    return go


def _built_version(path: Path, tool: GoTool) -> str | None:
    if not path.is_file():
        return None
    result = subprocess.run([str(path), *tool.version_args], capture_output=True, text=True)
    output = (result.stdout + result.stderr).strip()
    if tool.version_pattern:
        match = re.search(tool.version_pattern, output, re.MULTILINE)
        return match.group(1) if match else None
    return output or None


def _go_env(gobin: Path) -> dict[str, str]:
    # GOTOOLCHAIN=local: never download another Go toolchain behind our back.
    return {**os.environ, "GOBIN": str(gobin), "GOSUMDB": "off", "GOTOOLCHAIN": "local"}


def _check_module_sum(go: str, tool: GoTool, env: dict[str, str]) -> None:
    """Download the tool's module (cached by Go) and compare its hash with the pin."""
    result = subprocess.run(
        [go, "mod", "download", "-json", f"{tool.module}@{tool.version}"],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(env["GOBIN"]).parent,  # outside any Go module
    )
    try:
        info = json.loads(result.stdout)
    except json.JSONDecodeError:
        info = {}
    if result.returncode != 0 or "Sum" not in info:
        detail = info.get("Error") or result.stderr.strip()[-2000:]
        raise ToolError(f"downloading {tool.module}@{tool.version} failed: {detail}")
    if info["Sum"] != tool.module_sum:
        raise ToolError(
            f"{tool.module}@{tool.version} has hash {info['Sum']}, but {tool.module_sum} is "
            "pinned in common/local/tools.py: refusing to build it"
        )


def ensure(cache_dir: Path, name: str) -> Path:
    """The pinned ``name`` binary, built first when it is missing (idempotent).

    Raises:
        ToolError: Go is missing or too old, the module hash differs from the pin, or the
            build failed.
    """
    tool = TOOLS[name]
    target = tool_path(cache_dir, name)
    built = _built_version(target, tool)
    if built == tool.version:
        return target
    go = _go()
    target.parent.mkdir(parents=True, exist_ok=True)
    env = _go_env(target.parent)
    started = time.monotonic()
    progress.step(f"building {tool.name} {tool.version} with `go install` (first time only)")
    _check_module_sum(go, tool, env)
    result = subprocess.run(
        [
            go,
            "install",
            f"-ldflags=-X {tool.version_variable}={tool.version}",
            f"{tool.package}@{tool.version}",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=target.parent,
    )
    built = _built_version(target, tool)
    if result.returncode != 0 or built != tool.version:
        tail = "\n".join(result.stderr.strip().splitlines()[-20:])
        raise ToolError(f"go install {tool.package}@{tool.version} failed:\n{tail}")
    seconds = time.monotonic() - started
    progress.step(f"built {tool.name} {tool.version} in {seconds:.0f}s: {target}")
    return target


def ensure_all(cache_dir: Path) -> dict[str, Path]:
    """Every pinned tool, built when missing."""
    return {name: ensure(cache_dir, name) for name in TOOLS}


def go_command() -> str:
    """The ``go`` command (1.26+), for the project's own Go code (the feature server)."""
    return _go()


def go_env(gobin: Path) -> dict[str, str]:
    """The environment of every Go build here: local toolchain, go.sum-checked modules."""
    return _go_env(gobin)
