"""`schemas check`: parse + BACKWARD compatibility against every committed version."""

import json
import subprocess
from pathlib import Path

import pytest

from common import schemas

BASE = {
    "type": "record",
    "name": "E",
    "namespace": "t",
    "doc": "d",
    "fields": [{"name": "id", "type": "string", "doc": "d"}],
}


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "config", "user.email", "t@example.invalid")
    _git(tmp_path, "config", "user.name", "t")
    (tmp_path / "e.avsc").write_text(json.dumps(BASE))
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "v1")
    monkeypatch.setattr(schemas, "SCHEMAS_DIR", tmp_path)
    return tmp_path


def test_added_field_with_default_is_backward_compatible(repo: Path) -> None:
    evolved = {
        **BASE,
        "fields": [*BASE["fields"], {"name": "n", "type": ["null", "long"], "default": None}],
    }
    (repo / "e.avsc").write_text(json.dumps(evolved))
    assert schemas.check_all(["e"]) == [schemas.CheckResult("e", 1)]


def test_added_field_without_default_is_refused(repo: Path) -> None:
    evolved = {**BASE, "fields": [*BASE["fields"], {"name": "n", "type": "long"}]}
    (repo / "e.avsc").write_text(json.dumps(evolved))
    with pytest.raises(schemas.SchemaError, match="not BACKWARD-compatible"):
        schemas.check_all(["e"])


def test_every_committed_version_is_checked(repo: Path) -> None:
    # v2 drops nothing but adds a defaulted field; v3 (working tree) removes the default.
    v2 = {**BASE, "fields": [*BASE["fields"], {"name": "n", "type": "long", "default": 0}]}
    (repo / "e.avsc").write_text(json.dumps(v2))
    _git(repo, "commit", "-qam", "v2")
    v3 = {**BASE, "fields": [*BASE["fields"], {"name": "n", "type": "long"}]}
    (repo / "e.avsc").write_text(json.dumps(v3))
    with pytest.raises(schemas.SchemaError, match=r"vs [0-9a-f]{12}"):
        schemas.check_all(["e"])


def test_unparseable_schema_is_reported(repo: Path) -> None:
    (repo / "e.avsc").write_text('{"type": "record", "name": "E"}')
    with pytest.raises(schemas.SchemaError, match="does not parse"):
        schemas.check_all(["e"])


def test_shared_schemas_pass() -> None:
    results = schemas.check_all()
    assert {r.name for r in results} >= {"trade_event", "payment_event", "dead_letter"}
