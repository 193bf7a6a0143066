"""A payment_fraud artefact for tests: trained on generated payments' features as the DuckDB
reference computes them (the offline job computes the same; tested elsewhere), so a test that
needs a model does not need a Flink run first."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from common.generate.runner import generate_events
from common.models.training import train_files
from jobs.inference_requests.models import PAYMENT_FRAUD
from tests.feature_reference import reference_rows

START = datetime(2026, 6, 1, tzinfo=UTC)
EVENTS = 12_000
RATE = 4.0  # payments per simulated second: 50 minutes, long enough for bursts to play out


def training_rows() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows shaped like the offline training set, and the generator's labels."""
    generated = list(generate_events("payments", EVENTS, seed=21, start=START, rate=RATE))
    events = [e.record for e in generated]
    frame = pd.DataFrame(events)[["payment_id", "card_id", "merchant_id", "amount_usd_cents"]]
    frame["event_time"] = pd.to_datetime([e["event_time"] for e in events], unit="ms", utc=True)
    for view in PAYMENT_FRAUD.views:
        rows = pd.DataFrame(reference_rows(view, events))
        rows = rows.drop(columns=["event_time", view.entity.key])
        frame = frame.merge(rows, left_on="payment_id", right_on="event_id").drop(
            columns=["event_id"]
        )
    frame = frame.rename(columns={"payment_id": "event_id"})
    labels = pd.DataFrame(
        {
            "payment_id": [e.record["payment_id"] for e in generated],
            "is_fraud": [e.burst_id is not None for e in generated],
        }
    )
    return frame.sort_values("event_time", ignore_index=True), labels


def train_payment_fraud(directory: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Train the artefact into ``directory / "model"``; the training frame and the metrics."""
    frame, labels = training_rows()
    rows_file, labels_file = directory / "rows.parquet", directory / "labels.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), rows_file)
    pq.write_table(pa.Table.from_pandas(labels, preserve_index=False), labels_file)
    metrics = train_files(PAYMENT_FRAUD, rows_file, labels_file, directory / "model")
    return frame, metrics
