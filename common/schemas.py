"""The shared Avro schemas in ``schemas/``: loading, topic-to-schema map, compatibility.

Every schema lives in ``schemas/<name>.avsc``; none is written inline anywhere else. A topic's value
schema is registered under the subject ``<topic>-value`` (see ``../shared/DESIGN.md``).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import avro.errors
import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from common import topics

SCHEMAS_DIR = Path(
    os.environ.get("FEATURESTREAM_SCHEMAS_DIR") or Path(__file__).resolve().parents[1] / "schemas"
)

# Which schema file is the value schema of which fixed topic. Per-job topics (dead letters) are
# added by ``topic_schemas``.
INPUT_TOPIC_SCHEMAS: dict[str, str] = {
    topics.TRADES: "trade_event",
    topics.PAYMENTS: "payment_event",
}
DEAD_LETTER_SCHEMA = "dead_letter"


class SchemaError(Exception):
    """A schema file is missing, does not parse, or is not compatible with an earlier version."""


def subject_for(topic: str) -> str:
    """The registry subject of a topic's value schema: ``<topic>-value``."""
    return f"{topic}-value"


def schema_path(name: str) -> Path:
    """Path of ``schemas/<name>.avsc``."""
    return SCHEMAS_DIR / f"{name}.avsc"


@cache
def schema_text(name: str) -> str:
    """The JSON text of ``schemas/<name>.avsc`` (read once per process)."""
    path = schema_path(name)
    if not path.is_file():
        raise SchemaError(f"no schema file {path}")
    return path.read_text(encoding="utf-8")


@cache
def parsed_schema(name: str) -> dict[str, Any]:
    """The schema as a JSON object (the form ``fastavro.parse_schema`` takes)."""
    parsed: dict[str, Any] = json.loads(schema_text(name))
    return parsed


def schema_names() -> list[str]:
    """Names (file stems) of every schema in ``schemas/``."""
    return sorted(p.stem for p in SCHEMAS_DIR.glob("*.avsc"))


def topic_schemas(job_names: Iterable[str] = ()) -> dict[str, str]:
    """Every topic whose value schema is a shared schema, mapped to that schema's name."""
    mapping = dict(INPUT_TOPIC_SCHEMAS)
    for job in job_names:
        mapping[topics.dead_letter_topic(job)] = DEAD_LETTER_SCHEMA
    return mapping


def _parse(text: str, origin: str) -> avro.schema.Schema:
    try:
        return avro.schema.parse(text)
    except (avro.errors.SchemaParseException, json.JSONDecodeError, TypeError, KeyError) as exc:
        raise SchemaError(f"{origin}: does not parse as Avro: {exc}") from exc


@dataclass(frozen=True)
class HistoricVersion:
    """One committed version of a schema file."""

    commit: str
    text: str


def git_history(path: Path) -> Iterator[HistoricVersion]:
    """Every distinct committed version of ``path``, newest first (none outside git)."""
    repo = path.parent
    try:
        top = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--show-toplevel"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        commits = subprocess.run(
            ["git", "-C", top, "log", "--format=%H", "--follow", "--", str(path)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return
    rel = path.resolve().relative_to(Path(top).resolve())
    seen: set[str] = set()
    for commit in commits:
        shown = subprocess.run(
            ["git", "-C", top, "show", f"{commit}:{rel.as_posix()}"],
            capture_output=True,
            text=True,
        )
        if shown.returncode != 0 or shown.stdout in seen:
            continue  # renamed away at that commit, or the same text as a newer version
        seen.add(shown.stdout)
        yield HistoricVersion(commit=commit, text=shown.stdout)


def check_backward(new_text: str, old_text: str, origin: str) -> None:
    """Raise unless a ``new_text`` reader can read data written with ``old_text`` (BACKWARD)."""
    reader = _parse(new_text, f"{origin} (working tree)")
    writer = _parse(old_text, f"{origin} (earlier version)")
    checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]  # avro is untyped
    result = checker.get_compatibility(reader, writer)
    if result.compatibility is not SchemaCompatibilityType.compatible:
        details = "; ".join(sorted(str(m) for m in result.messages)) or "incompatible"
        locations = ", ".join(sorted(result.locations)) if result.locations else ""
        raise SchemaError(f"{origin}: not BACKWARD-compatible: {details} {locations}".rstrip())


@dataclass(frozen=True)
class CheckResult:
    """What ``check_all`` found for one schema."""

    name: str
    versions_checked: int


def check_all(names: Iterable[str] | None = None) -> list[CheckResult]:
    """Parse every schema and check it BACKWARD-compatible with each committed version of itself.

    Raises:
        SchemaError: naming the first schema and version that fails.
    """
    results = []
    for name in names if names is not None else schema_names():
        text = schema_text.__wrapped__(name)  # never a cached copy: the file may just have changed
        _parse(text, schema_path(name).name)
        count = 0
        for version in git_history(schema_path(name)):
            check_backward(text, version.text, f"{schema_path(name).name} vs {version.commit[:12]}")
            count += 1
        results.append(CheckResult(name=name, versions_checked=count))
    return results
