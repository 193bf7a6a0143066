"""Labels of generated payments: one row per payment, is_fraud = in a burst, deterministic."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import fastavro
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from common.config import load_stack_config
from common.generate import generate_events, produce
from common.generate.cli import generate

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
COUNT = 20_000


def _cli(tmp_path: Path, name: str, seed: int = 3) -> tuple[Path, Path]:
    events_file, labels_file = tmp_path / f"{name}.avro", tmp_path / f"{name}.labels.parquet"
    result = CliRunner().invoke(
        generate,
        [
            "payments",
            "--count",
            str(COUNT),
            "--seed",
            str(seed),
            "--start",
            "2025-03-01T12:00:00Z",
            "--to-file",
            str(events_file),
            "--labels",
            str(labels_file),
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"labels of {COUNT:,} payments" in result.stdout
    return events_file, labels_file


def test_every_payment_gets_its_label(tmp_path: Path) -> None:
    events_file, labels_file = _cli(tmp_path, "a")

    labels = pq.read_table(labels_file).to_pylist()
    with events_file.open("rb") as file:
        written_ids = [r["payment_id"] for r in fastavro.reader(file)]  # type: ignore[index]
    truth = {
        e.record["payment_id"]: e.burst_id
        for e in generate_events("payments", COUNT, seed=3, start=START)
    }
    assert [row["payment_id"] for row in labels] == written_ids
    assert len({row["payment_id"] for row in labels}) == COUNT
    for row in labels:
        assert row["burst_id"] == truth[row["payment_id"]]
        assert row["is_fraud"] is (row["burst_id"] is not None)
    # 20 simulated seconds: few bursts have begun to play out, but some have.
    assert sum(row["is_fraud"] for row in labels) == sum(b is not None for b in truth.values()) > 0


def test_labels_are_deterministic_for_a_seed(tmp_path: Path) -> None:
    _, first = _cli(tmp_path, "first")
    _, again = _cli(tmp_path, "again")
    _, other = _cli(tmp_path, "other", seed=4)

    assert pq.read_table(first).equals(pq.read_table(again))
    assert not pq.read_table(first).equals(pq.read_table(other))


def test_labels_only_for_payments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="payments only"):
        produce(
            "trades",
            load_stack_config(),
            count=10,
            to_file=tmp_path / "t.avro",
            labels=tmp_path / "l.parquet",
        )
    result = CliRunner().invoke(generate, ["trades", "--labels", str(tmp_path / "l.parquet")])
    assert result.exit_code == 2
    assert not (tmp_path / "l.parquet").exists()
