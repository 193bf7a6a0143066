"""The functions jar's source hash decides when the cached jar is rebuilt."""

import re
from pathlib import Path

import pytest

from common.local import jvm_functions


def test_every_file_the_pom_packages_from_common_is_hashed() -> None:
    pom = (jvm_functions.JVM_DIR / "pom.xml").read_text(encoding="utf-8")
    block = re.search(
        r"<directory>\$\{project.basedir\}/\.\.</directory>(.*?)</resource>", pom, re.S
    )
    assert block is not None
    packaged = set(re.findall(r"<include>(.*?)</include>", block.group(1)))
    assert packaged == {path.name for path in jvm_functions.PACKAGED_FROM_COMMON}
    assert all(path.is_file() for path in jvm_functions.PACKAGED_FROM_COMMON)


def test_a_change_to_the_lua_script_changes_the_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jvm_dir = tmp_path / "common" / "jvm"
    (jvm_dir / "src").mkdir(parents=True)
    (jvm_dir / "pom.xml").write_text("<project/>")
    script = tmp_path / "common" / "online_store.lua"
    script.write_text("return 1\n")
    monkeypatch.setattr(jvm_functions, "JVM_DIR", jvm_dir)
    monkeypatch.setattr(jvm_functions, "PACKAGED_FROM_COMMON", (script,))
    before = jvm_functions.source_hash()
    script.write_text("return 0\n")
    assert jvm_functions.source_hash() != before
