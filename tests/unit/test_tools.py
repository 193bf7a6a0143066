"""Pinned Go tools: one place for versions, skipped when built, clear errors without Go."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from common.local import tools


def _script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_pins_are_exact_versions_with_module_hashes() -> None:
    assert tools.TOOLS["helm"].version == "v3.21.4"
    assert tools.TOOLS["kubeconform"].version == "v0.7.0"
    for tool in tools.TOOLS.values():
        assert tool.package.startswith(tool.module)
        assert tool.module_sum.startswith("h1:") and tool.module_sum.endswith("=")


def test_promtool_is_pinned_and_its_version_read_from_its_banner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert tools.TOOLS["promtool"].version == "v0.316.0"
    # promtool prints a banner of several lines; the version is a word of the first.
    _script(
        tools.tool_path(tmp_path, "promtool"),
        'echo "promtool, version v0.316.0 (branch: , revision: unknown)"; '
        'echo "  go version: go1.26"',
    )

    def no_go() -> str:
        raise AssertionError("must not build")

    monkeypatch.setattr(tools, "_go", no_go)
    assert tools.ensure(tmp_path, "promtool") == tools.tool_path(tmp_path, "promtool")
    _script(tools.tool_path(tmp_path, "promtool"), 'echo "promtool, version  (branch: )"')
    with pytest.raises(AssertionError, match="must not build"):
        tools.ensure(tmp_path, "promtool")


def test_tools_live_in_the_cache_by_version(tmp_path: Path) -> None:
    assert tools.tool_path(tmp_path, "helm") == tmp_path / "tools" / "helm" / "v3.21.4" / "helm"


def test_a_tool_built_at_its_version_is_not_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _script(tools.tool_path(tmp_path, "kubeconform"), "echo v0.7.0")

    def no_go() -> str:
        raise AssertionError("must not build")

    monkeypatch.setattr(tools, "_go", no_go)
    assert tools.ensure(tmp_path, "kubeconform") == tools.tool_path(tmp_path, "kubeconform")


def test_another_version_at_the_path_is_rebuilt_and_needs_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _script(tools.tool_path(tmp_path, "kubeconform"), "echo development")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(tools, "_GO_FALLBACKS", ())
    with pytest.raises(tools.ToolError, match=r"Go 1\.26\+ is needed"):
        tools.ensure(tmp_path, "kubeconform")


def test_an_old_go_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _script(tmp_path / "bin" / "go", "echo go version go1.22.5 linux/amd64")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(tools.ToolError, match=r"go1\.22\.5.*Go 1\.26\+ is needed"):
        tools.ensure(tmp_path, "helm")


def test_a_module_whose_hash_differs_from_the_pin_is_not_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fake go: a new enough version, and a module download with another hash.
    _script(
        tmp_path / "bin" / "go",
        'if [ "$1" = version ]; then echo go version go1.26.0 linux/amd64; '
        'elif [ "$1" = mod ]; then echo \'{"Sum": "h1:tampered="}\'; '
        "else echo should not install >&2; exit 1; fi",
    )
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(tools.ToolError, match="refusing to build"):
        tools.ensure(tmp_path, "helm")
    assert not tools.tool_path(tmp_path, "helm").exists()
