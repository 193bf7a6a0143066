"""Offline training rows: the streaming job's own SQL over bounded history, written to Parquet.

``featurestream offline <job> --input <avro file | topic> --output <path>`` runs the very job that
streams (same source DDL, watermarks, window function) over a bounded input on the local
cluster, then writes each view's rows to Parquet. Rows are therefore what the stream produced
for the same events, not a re-implementation (decision 14). An Avro container file is first
loaded into a run-private topic so that the job reads exactly as it does in production.
"""

from __future__ import annotations

import contextlib
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fastavro
import pyarrow as pa
import pyarrow.parquet as pq
from confluent_kafka.admin import AdminClient

from common import registry, serde
from common.config import StackConfig
from common.features.launch import RunOptions, output_topics, submit, wait_finished
from common.features.sql import FeatureJob, output_columns
from common.generate.sinks import KafkaSink, ensure_topic
from common.kafka import end_offsets, read_topic

_ARROW = {
    "STRING NOT NULL": pa.string(),
    "TIMESTAMP(3) NOT NULL": pa.timestamp("ms", tz="UTC"),
    "INT NOT NULL": pa.int32(),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "STRING": pa.string(),
    "BOOLEAN": pa.bool_(),
}


@dataclass
class OfflineSummary:
    """What an offline run read and wrote."""

    input_records: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    """qualified view name → rows written."""
    files: dict[str, Path] = field(default_factory=dict)
    dead_letters: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0


def load_file(config: StackConfig, job: FeatureJob, path: Path, topic: str) -> int:
    """Produce the records of an Avro container file to ``topic``, Confluent-framed."""
    ensure_topic(config, topic)
    reg = registry.ensure_registered(registry.client(config), topic, job.source.schema)
    encoder = serde.Encoder(reg.schema_id, serde.load_schema(job.source.schema))
    sink = KafkaSink(config, topic)
    count = 0
    with path.open("rb") as handle:
        for record in fastavro.reader(handle):
            assert isinstance(record, dict)
            key = str(record.get(job.source.id_column, "")).encode()
            sink.send(key, encoder.encode(record))
            count += 1
    failures = sink.close()
    if failures:
        raise RuntimeError(f"{failures} records of {path} could not be written to {topic}")
    return count


def parquet_schema(job: FeatureJob, qualified: str) -> pa.Schema:
    """The Arrow schema of one view's rows (the output record's columns)."""
    view = next(v for v in job.views if v.qualified_name == qualified)
    return pa.schema(
        [
            pa.field(name, _ARROW[sql], nullable="NOT NULL" not in sql)
            for name, sql in output_columns(view)
        ]
    )


def write_parquet(path: Path, schema: pa.Schema, rows: list[dict[str, Any]]) -> None:
    """Rows in event-time order (ties by event id) to one Parquet file."""
    rows.sort(key=lambda r: (r["event_time"], r["event_id"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)


def output_paths(job: FeatureJob, output: Path, views: list[str]) -> dict[str, Path]:
    """One file per view: ``output`` itself for a single view named ``*.parquet``, else
    ``output/<view>.v<N>.parquet``."""
    if len(views) == 1 and output.suffix == ".parquet":
        return {views[0]: output}
    return {v: output / f"{v}.parquet" for v in views}


def run_offline(
    config: StackConfig,
    job: FeatureJob,
    source: str,
    output: Path,
    *,
    views: list[str] | None = None,
    parallelism: int | None = None,
    keep_topics: bool = False,
    on_progress: Callable[[str], None] = lambda _: None,
) -> OfflineSummary:
    """Compute ``job``'s views over ``source`` (an Avro file or a topic) into Parquet."""
    known = [v.qualified_name for v in job.views]
    chosen = views or known
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise ValueError(f"job {job.name} has no views {unknown}; it has {known}")
    run_id = uuid.uuid4().hex[:8]
    summary = OfflineSummary()
    temporary: list[str] = []
    path = Path(source)
    if path.is_file():
        topic = f"offline.{job.name}.{run_id}"
        on_progress(f"loading {path} into topic {topic}")
        summary.input_records = load_file(config, job, path, topic)
        temporary.append(topic)
    else:
        topic = source
        summary.input_records = sum(end_offsets(config, topic).values())
    suffix = f".offline-{run_id}"
    options = RunOptions(
        parallelism=parallelism,
        source_topic=topic,
        topic_suffix=suffix,
        startup="earliest",
        bounded=True,
        online_store=False,
        group_id=f"featurestream-offline-{run_id}",
    )
    outputs = list(output_topics(job, suffix))
    temporary += outputs
    try:
        job_id = submit(config, job, options, on_progress)
        on_progress(f"job {job_id} running over {topic} (bounded)")
        summary.seconds = wait_finished(config, job_id)
        writer_schemas = registry.writer_schemas(registry.client(config))
        dlq_topic, *_ = outputs
        for record in read_topic(config, dlq_topic):
            if record.value is None:
                continue
            summary.dead_letters[serde.decode(record.value, writer_schemas)["reason"]] += 1
        paths = output_paths(job, output, chosen)
        for view in job.views:
            if view.qualified_name not in chosen:
                continue
            name = view.qualified_name
            topic_name = next(t for t in outputs if t.startswith(f"features.{name}"))
            rows = [
                serde.decode(r.value, writer_schemas)
                for r in read_topic(config, topic_name)
                if r.value is not None
            ]
            write_parquet(paths[name], parquet_schema(job, name), rows)
            summary.rows[name] = len(rows)
            summary.files[name] = paths[name]
            on_progress(f"wrote {len(rows):,} rows of {name} to {paths[name]}")
    finally:
        if not keep_topics:
            _delete_topics(config, temporary)
    return summary


def _delete_topics(config: StackConfig, names: list[str]) -> None:
    admin = AdminClient({"bootstrap.servers": config.bootstrap_servers})
    for future in admin.delete_topics(names, operation_timeout=30).values():
        # Cleanup is best effort: the run's result stands either way.
        with contextlib.suppress(Exception):
            future.result(timeout=30)
