"""Offline training rows: the streaming job's own SQL over bounded history, written to Parquet.

``featurestream offline <job> --input <avro file | topic> --output <path>`` runs the very job that
streams (same source DDL, watermarks, window function) over a bounded input on the local
cluster, then writes each view's rows to Parquet. Rows are therefore what the stream produced
for the same events, not a re-implementation (decision 17). An Avro container file is first
loaded into a run-private topic so that the job reads exactly as it does in production.

For ``inference_requests`` the output is one file per model of its requests, flattened to one
column per model input (training rows with exactly the model's inputs): ``request_id``,
``model_name``, ``model_version``, ``event_id``, ``event_time``, the entity keys, the inputs in
contract order.
"""

from __future__ import annotations

import contextlib
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import fastavro
import pyarrow as pa
import pyarrow.parquet as pq
from confluent_kafka.admin import AdminClient

from common import registry, serde
from common.config import StackConfig
from common.features.definitions import Source
from common.features.sql import FeatureJob, output_columns
from common.generate.sinks import KafkaSink, ensure_topic, topic_exists
from common.kafka import end_offsets, read_topic
from common.models.contract import ModelContract
from common.models.request_sql import InferenceJob
from common.runtime.launch import Job, RunOptions, output_topics, submit, wait_finished

_ARROW_OF_AVRO = {
    "long": pa.int64(),
    "double": pa.float64(),
    "string": pa.string(),
    "boolean": pa.bool_(),
}
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
    """qualified view (or model) name → rows written."""
    files: dict[str, Path] = field(default_factory=dict)
    dead_letters: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0


def load_file(
    config: StackConfig,
    source: Source,
    path: Path,
    topic: str,
    until: datetime | None = None,
    since: datetime | None = None,
) -> int:
    """Produce the records of an Avro container file to ``topic``, Confluent-framed (only those
    with event time before ``until`` / at or after ``since``, when given); how many were
    written."""
    ensure_topic(config, topic)
    reg = registry.ensure_registered(registry.client(config), topic, source.schema)
    encoder = serde.Encoder(reg.schema_id, serde.load_schema(source.schema))
    sink = KafkaSink(config, topic)
    count = 0
    with path.open("rb") as handle:
        for record in fastavro.reader(handle):
            assert isinstance(record, dict)
            at = record[source.event_time]
            if (until is not None and not at < until) or (since is not None and at < since):
                continue
            key = str(record.get(source.id_column, "")).encode()
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


def request_parquet_schema(model: ModelContract) -> pa.Schema:
    """The Arrow schema of a model's flattened requests (training rows)."""
    fields = [
        pa.field("request_id", pa.string(), nullable=False),
        pa.field("model_name", pa.string(), nullable=False),
        pa.field("model_version", pa.int32(), nullable=False),
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("event_time", pa.timestamp("ms", tz="UTC"), nullable=False),
    ]
    fields += [pa.field(key, pa.string(), nullable=False) for key in model.entity_keys]
    fields += [pa.field(i.name, _ARROW_OF_AVRO[i.type]) for i in model.inputs]
    return pa.schema(fields)


def flatten_request(request: dict[str, Any]) -> dict[str, Any]:
    """A decoded request as a training row: ids, time, entity keys, then the inputs."""
    row = {
        name: request[name]
        for name in ("request_id", "model_name", "model_version", "event_id", "event_time")
    }
    row.update(request["entity_keys"])
    row.update(request["features"])
    return row


@dataclass(frozen=True)
class _Output:
    """One Parquet file of an offline run: from which topic, in which shape."""

    topic: str
    schema: pa.Schema
    flatten: Callable[[dict[str, Any]], dict[str, Any]]


def _outputs(job: Job, chosen: list[str], suffix: str) -> dict[str, _Output]:
    if isinstance(job, InferenceJob):
        return {
            m.qualified_name: _Output(
                m.request_topic + suffix, request_parquet_schema(m), flatten_request
            )
            for m in job.select(chosen)
        }
    return {
        name: _Output(f"features.{name}{suffix}", parquet_schema(job, name), lambda row: row)
        for name in chosen
    }


def _known(job: Job) -> list[str]:
    if isinstance(job, InferenceJob):
        return [m.qualified_name for m in job.models]
    return [v.qualified_name for v in job.views]


def write_parquet(path: Path, schema: pa.Schema, rows: list[dict[str, Any]]) -> None:
    """Rows in event-time order (ties by event id) to one Parquet file."""
    rows.sort(key=lambda r: (r["event_time"], r["event_id"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)


def output_paths(output: Path, views: list[str]) -> dict[str, Path]:
    """One file per view (or model): ``output`` itself for a single one named ``*.parquet``,
    else ``output/<view>.v<N>.parquet``."""
    if len(views) == 1 and output.suffix == ".parquet":
        return {views[0]: output}
    return {v: output / f"{v}.parquet" for v in views}


def input_topic(
    config: StackConfig,
    source: Source,
    given: str,
    load_into: str,
    on_progress: Callable[[str], None] = lambda _: None,
    until: datetime | None = None,
) -> tuple[str, int, bool]:
    """The topic to read ``given`` (an Avro file, loaded into topic ``load_into``, or an existing
    topic) from: (topic, records, whether it was created here). ``until``: file input only,
    events before it.

    Raises:
        ValueError: no such file or topic, or ``until`` with a topic.
    """
    path = Path(given)
    if path.is_file():
        on_progress(
            f"loading {path} into topic {load_into}" + (f" (before {until})" if until else "")
        )
        return load_into, load_file(config, source, path, load_into, until), True
    if "/" in given or path.suffix == ".avro":
        raise ValueError(f"no such file: {given}")
    if until is not None:
        raise ValueError("--until needs a file input (a topic is read whole)")
    if not topic_exists(config, given):
        raise ValueError(f"no topic {given!r}: --input takes an Avro file or an existing topic")
    return given, sum(end_offsets(config, given).values()), False


def run_offline(
    config: StackConfig,
    job: Job,
    source: str,
    output: Path,
    *,
    views: list[str] | None = None,
    parallelism: int | None = None,
    keep_topics: bool = False,
    on_progress: Callable[[str], None] = lambda _: None,
    state_backend: str = "heap",
) -> OfflineSummary:
    """Compute ``job``'s views (or, for the inference job, one model's requests) over
    ``source`` (an Avro file or a topic) into Parquet.

    Every row waits in the window functions' state until the end of the input (decision 51):
    ``state_backend="rocksdb"`` keeps it on disk, for history larger than the TaskManager's
    memory.

    Raises:
        ValueError: an unknown view or model; an inference run without exactly one model.
    """
    known = _known(job)
    if isinstance(job, InferenceJob):
        chosen = [m.qualified_name for m in job.select(views or [])]
        if len(chosen) != 1:
            raise ValueError(f"{job.name}: name one model (--model); it serves {known}")
        trigger = job.select(chosen)[0].trigger
    else:
        chosen = views or known
        trigger = job.source
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise ValueError(f"job {job.name} has no views {unknown}; it has {known}")
    run_id = uuid.uuid4().hex[:8]
    summary = OfflineSummary()
    temporary: list[str] = []
    topic, summary.input_records, created = input_topic(
        config, trigger, source, f"offline.{job.name}.{run_id}", on_progress
    )
    if created:
        temporary.append(topic)
    suffix = f".offline-{run_id}"
    options = RunOptions(
        parallelism=parallelism,
        source_topic=topic,
        topic_suffix=suffix,
        startup="earliest",
        bounded=True,
        online_store=False,
        group_id=f"featurestream-offline-{run_id}",
        models=tuple(chosen) if isinstance(job, InferenceJob) else (),
        state_backend=state_backend,
    )
    outputs = list(output_topics(job, suffix, options.models))
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
        paths = output_paths(output, chosen)
        for name, out in _outputs(job, chosen, suffix).items():
            rows = [
                out.flatten(serde.decode(r.value, writer_schemas))
                for r in read_topic(config, out.topic)
                if r.value is not None
            ]
            write_parquet(paths[name], out.schema, rows)
            summary.rows[name] = len(rows)
            summary.files[name] = paths[name]
            on_progress(f"wrote {len(rows):,} rows of {name} to {paths[name]}")
    finally:
        if not keep_topics:
            delete_topics(config, temporary)
    return summary


def delete_topics(config: StackConfig, names: list[str]) -> None:
    admin = AdminClient({"bootstrap.servers": config.bootstrap_servers, "log_level": 4})
    for future in admin.delete_topics(names, operation_timeout=30).values():
        # Cleanup is best effort: the run's result stands either way.
        with contextlib.suppress(Exception):
            future.result(timeout=30)
