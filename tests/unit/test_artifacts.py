import hashlib
from pathlib import Path

from common.local import artifacts


def test_lock_pins_every_part_with_a_checksum() -> None:
    lock = artifacts.read_lock()
    assert set(lock) == {"kafka", "registry", "flink", "zookeeper", "kafka-tools"}
    for items in lock.values():
        assert items
        for item in items:
            assert len(item.sha256) == 64 and int(item.sha256, 16) >= 0
    names = {a.artifact: a.version for items in lock.values() for a in items}
    assert names["kafka_2.13"].startswith("4.")
    assert names["flink-sql-connector-kafka"] == "5.0.0-2.2"
    assert names["flink-sql-avro-confluent-registry"].startswith("2.2.")
    assert names["zookeeper"].startswith("3.9.")
    assert names["kafka-tools"] == names["kafka_2.13"]


def test_missing_detects_absent_and_corrupt_files(tmp_path: Path) -> None:
    lock = {
        "kafka": [],
        "registry": [],
        "flink": [
            artifacts.Artifact("g", "a", "1", "jar", "", hashlib.sha256(b"good").hexdigest())
        ],
    }
    (item,) = lock["flink"]
    assert artifacts.missing(tmp_path, lock) == [item]
    target = artifacts.part_dir(tmp_path, "flink") / item.file_name
    target.parent.mkdir(parents=True)
    target.write_bytes(b"tampered")
    assert artifacts.missing(tmp_path, lock) == [item]
    target.write_bytes(b"good")
    assert artifacts.missing(tmp_path, lock) == []


def test_maven_listing_lines_parse(tmp_path: Path) -> None:
    jar = tmp_path / "x.jar"
    jar.write_bytes(b"jar")
    line = (
        f"   org.apache.kafka:kafka-clients:jar:4.3.1:compile:{jar} -- module kafka.clients (auto)"
    )
    parsed = artifacts._parse_list_line(line)
    assert parsed is not None
    assert parsed[0].coordinate == "org.apache.kafka:kafka-clients:4.3.1"
    classified = artifacts._parse_list_line(f"io.apicurio:app:tar.gz:all:2.6:compile:{jar}")
    assert classified is not None
    assert classified[0].file_name == "app-2.6-all.tar.gz"


def test_fetch_batches_never_hold_two_versions_of_one_artifact() -> None:
    """A fresh cache needs slf4j-api 2.0.17 (kafka) and 2.0.13 (zookeeper): one pom keeps one."""

    def art(name: str, version: str) -> artifacts.Artifact:
        return artifacts.Artifact("g", name, version, "jar", "", "0")

    todo = [art("a", "1"), art("b", "1"), art("a", "2"), art("a", "1"), art("a", "3")]
    batches = artifacts.fetch_batches(todo)
    assert [[(a.artifact, a.version) for a in b] for b in batches] == [
        [("a", "1"), ("b", "1")],
        [("a", "2")],
        [("a", "3")],
    ]
    lock = artifacts.read_lock()
    every = [a for items in lock.values() for a in items]
    for batch in artifacts.fetch_batches(every):
        keys = [(a.group, a.artifact, a.type, a.classifier) for a in batch]
        assert len(keys) == len(set(keys))
    assert {a for b in artifacts.fetch_batches(every) for a in b} == set(every)
