"""Ground-truth labels of generated payments: ``--labels FILE.parquet``.

The generator knows which payments it made in a fraud-like burst (``GeneratedEvent.burst_id``);
the schema does not carry it, as no real payment stream would. ``Labels`` records it for every
payment the generator emits and writes one Parquet row per payment::

    payment_id  string  the payment's id (joins the training rows' event_id)
    is_fraud    bool    burst_id is not null
    burst_id    int64   the burst's number, or null

The same seed and start give the same file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from common.generate.events import GeneratedEvent

SCHEMA = pa.schema(
    [
        pa.field("payment_id", pa.string(), nullable=False),
        pa.field("is_fraud", pa.bool_(), nullable=False),
        pa.field("burst_id", pa.int64()),
    ]
)


class Labels:
    """Collects the label of every payment that passes through ``track``."""

    def __init__(self) -> None:
        self._payment_ids: list[str] = []
        self._burst_ids: list[int | None] = []

    def track(self, events: Iterable[GeneratedEvent]) -> Iterator[GeneratedEvent]:
        """Yield ``events`` unchanged, remembering each one's payment id and burst."""
        payment_ids = self._payment_ids.append
        burst_ids = self._burst_ids.append
        for event in events:
            payment_ids(event.record["payment_id"])
            burst_ids(event.burst_id)
            yield event

    def __len__(self) -> int:
        return len(self._payment_ids)

    @property
    def positives(self) -> int:
        """Payments made in a burst."""
        return sum(b is not None for b in self._burst_ids)

    def write(self, path: Path) -> int:
        """Write the labels collected so far to ``path`` (Parquet); returns the row count."""
        table = pa.table(
            {
                "payment_id": pa.array(self._payment_ids, pa.string()),
                "is_fraud": pa.array([b is not None for b in self._burst_ids], pa.bool_()),
                "burst_id": pa.array(self._burst_ids, pa.int64()),
            },
            schema=SCHEMA,
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)
        return int(table.num_rows)
