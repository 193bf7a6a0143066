"""Pinned downloads of the local stack: one lock file, fetched by Maven, verified by sha256.

``deploy/local/maven/<part>.pom.xml`` says what each part needs; ``lock()`` resolves those poms and
writes ``deploy/local/stack.lock.json`` (every file with its sha256). ``fetch()`` downloads exactly
the locked files, non-transitively, into the cache dir (outside git) and refuses any file whose
checksum differs. Maven does the downloading so that its mirror and proxy settings apply.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from common.local import progress

DEPLOY_LOCAL_DIR = Path(__file__).resolve().parents[2] / "deploy" / "local"
LOCK_FILE = DEPLOY_LOCAL_DIR / "stack.lock.json"
POMS_DIR = DEPLOY_LOCAL_DIR / "maven"
PARTS = ("kafka", "registry", "flink", "zookeeper", "kafka-tools")
# Pinned so that the fetch itself is reproducible, not just what it fetches.
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"


class ArtifactError(Exception):
    """A locked file could not be fetched, or its checksum differs from the lock."""


@dataclass(frozen=True)
class Artifact:
    """One locked file: Maven coordinates, the file name it is cached under, and its sha256."""

    group: str
    artifact: str
    version: str
    type: str
    classifier: str
    sha256: str

    @property
    def file_name(self) -> str:
        """``artifact-version[-classifier].type``, as Maven's copy-dependencies names it."""
        suffix = f"-{self.classifier}" if self.classifier else ""
        return f"{self.artifact}-{self.version}{suffix}.{self.type}"

    @property
    def coordinate(self) -> str:
        """``group:artifact:version[:type[:classifier]]``."""
        extra = (
            f":{self.type}:{self.classifier}"
            if self.classifier
            else (f":{self.type}" if self.type != "jar" else "")
        )
        return f"{self.group}:{self.artifact}:{self.version}{extra}"


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_lock(path: Path = LOCK_FILE) -> dict[str, list[Artifact]]:
    """The locked artifacts of each part."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    return {part: [Artifact(**item) for item in raw["parts"][part]] for part in PARTS}


def part_dir(cache_dir: Path, part: str) -> Path:
    """Where a part's verified files are cached."""
    return cache_dir / "artifacts" / part


def _verified(path: Path, artifact: Artifact) -> bool:
    return path.is_file() and sha256_of(path) == artifact.sha256


def missing(cache_dir: Path, lock: dict[str, list[Artifact]] | None = None) -> list[Artifact]:
    """Locked artifacts not yet in the cache with the right checksum."""
    lock = lock or read_lock()
    return [
        a
        for part, items in lock.items()
        for a in items
        if not _verified(part_dir(cache_dir, part) / a.file_name, a)
    ]


def _fetch_pom(artifacts: list[Artifact]) -> str:
    deps = []
    for a in artifacts:
        classifier = f"<classifier>{escape(a.classifier)}</classifier>" if a.classifier else ""
        deps.append(
            f"<dependency><groupId>{escape(a.group)}</groupId>"
            f"<artifactId>{escape(a.artifact)}</artifactId><version>{escape(a.version)}</version>"
            f"<type>{escape(a.type)}</type>{classifier}"
            "<exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion>"
            "</exclusions></dependency>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><project xmlns="http://maven.apache.org/POM/4.0.0">'
        "<modelVersion>4.0.0</modelVersion><groupId>dev.featurestream</groupId>"
        "<artifactId>local-stack-fetch</artifactId><version>0</version><packaging>pom</packaging>"
        f"<dependencies>{''.join(deps)}</dependencies></project>"
    )


def _mvn(args: list[str], cwd: Path) -> None:
    if shutil.which("mvn") is None:
        raise ArtifactError(
            "Maven (`mvn`) is not on PATH; install it (Debian: apt-get install maven)"
        )
    result = subprocess.run(["mvn", "-q", "-B", *args], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-20:])
        raise ArtifactError(f"mvn {' '.join(args)} failed:\n{tail}")


def fetch_batches(todo: list[Artifact]) -> list[list[Artifact]]:
    """``todo`` split so that no batch holds two versions of one artifact.

    One pom cannot: Maven keeps one version per ``group:artifact`` (the parts pin different
    slf4j-api versions), so a fresh cache would miss the other. Exact duplicates (one file
    in two parts) stay in one batch.
    """
    batches: list[list[Artifact]] = []
    for a in dict.fromkeys(todo):
        same = (a.group, a.artifact, a.type, a.classifier)
        for batch in batches:
            if all((b.group, b.artifact, b.type, b.classifier) != same for b in batch):
                batch.append(a)
                break
        else:
            batches.append([a])
    return batches


def _fetch_batch(batch: list[Artifact], lock: dict[str, list[Artifact]], cache_dir: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="featurestream-fetch-") as tmp:
        staging = Path(tmp) / "out"
        (Path(tmp) / "pom.xml").write_text(_fetch_pom(batch), encoding="utf-8")
        _mvn(
            [
                f"{DEPENDENCY_PLUGIN}:copy-dependencies",
                "-DexcludeTransitive=true",
                f"-DoutputDirectory={staging}",
            ],
            Path(tmp),
        )
        for part, items in lock.items():
            target = part_dir(cache_dir, part)
            target.mkdir(parents=True, exist_ok=True)
            for a in items:
                if a not in batch:
                    continue
                got = staging / a.file_name
                if not got.is_file():
                    raise ArtifactError(f"Maven did not deliver {a.coordinate}")
                actual = sha256_of(got)
                if actual != a.sha256:
                    raise ArtifactError(
                        f"checksum mismatch for {a.coordinate}: lock says {a.sha256}, got {actual}"
                    )
                # copied, not moved: two parts may lock the same file
                shutil.copyfile(got, target / a.file_name)


def fetch(cache_dir: Path) -> int:
    """Download the locked artifacts not yet cached, verify checksums; return how many came.

    Raises:
        ArtifactError: Maven failed, or a downloaded file's sha256 differs from the lock.
    """
    lock = read_lock()
    todo = missing(cache_dir, lock)
    if not todo:
        return 0
    progress.step(f"fetching {len(todo)} pinned artifacts with Maven into {cache_dir}")
    for batch in fetch_batches(todo):
        _fetch_batch(batch, lock, cache_dir)
    return len(todo)


def _parse_list_line(line: str) -> tuple[Artifact, Path] | None:
    # group:artifact:type[:classifier]:version:scope:/abs/path
    # Newer plugins append " -- module name (auto)"; that is not part of the path.
    parts = line.strip().split(" -- ")[0].split(":")
    if len(parts) < 6 or not parts[-1].startswith("/"):
        return None
    path = Path(parts[-1])
    if len(parts) == 7:
        group, artifact, type_, classifier, version, _scope = parts[:6]
    else:
        group, artifact, type_, version, _scope = parts[:5]
        classifier = ""
    return Artifact(group, artifact, version, type_, classifier, sha256_of(path)), path


def lock(path: Path = LOCK_FILE) -> dict[str, list[Artifact]]:
    """Resolve every part's pom (runtime scope) and write the lock file with each file's sha256."""
    result: dict[str, list[Artifact]] = {}
    for part in PARTS:
        progress.step(f"resolving {part}")
        with tempfile.TemporaryDirectory() as tmp:
            listing = Path(tmp) / "deps.txt"
            _mvn(
                [
                    "-f",
                    str(POMS_DIR / f"{part}.pom.xml"),
                    f"{DEPENDENCY_PLUGIN}:list",
                    "-DincludeScope=runtime",
                    "-DoutputAbsoluteArtifactFilename=true",
                    f"-DoutputFile={listing}",
                ],
                POMS_DIR,
            )
            parsed = [p for p in map(_parse_list_line, listing.read_text().splitlines()) if p]
        result[part] = sorted((a for a, _ in parsed), key=lambda a: (a.group, a.artifact))
    document = {
        "comment": "Generated by `make lock` from deploy/local/maven/*.pom.xml. Do not edit.",
        "parts": {part: [a.__dict__ for a in items] for part, items in result.items()},
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return result
