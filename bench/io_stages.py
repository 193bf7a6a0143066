"""The I/O ceiling's stages: Kafka in → Flink → Kafka out, one cost added per stage.

Each stage reads one source topic and writes one record per view per event (the feature job's
fan-out: two views, two sinks), with no windows:

- ``raw``: the value bytes as they are (``raw`` format in and out, the sinks' producer
  settings), at-least-once;
- ``decode``: the feature job's own source (``featurestream-avro``: decode, checks' columns,
  watermark), writing the raw value bytes back, at-least-once;
- ``encode``: plus each view's output record (ids, time, zero features) in the feature job's
  sink format (``featurestream-avro``), at-least-once;
- ``exactly-once``: the same with the feature job's exactly-once sinks (transactions per
  checkpoint);
- ``keyed``: the feature job itself, compiled by ``common.features.sql.compile_job`` with each
  view's features cut to one ``SecondsSincePrev`` (no Redis): the keyed exchange, the window
  function's state, timers and rows, the late split and dead letters, without window arithmetic.
  What the job costs beyond it is the windows' own work.

All run with the feature jobs' environment (``common.features.job.table_environment``: object
reuse, 1 s checkpoints, 200 ms watermarks). ``bench/io_ceiling.py`` submits them; run by hand as
a PyFlink script on the session cluster::

    flink run -d -p 1 -py bench/io_stages.py payment_features encode --source-topic T \\
        --topic-suffix .io --bounded
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script by ``flink run -py``: the repository root holds ``common`` and ``jobs``.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import topics
from common.config import load_stack_config
from common.features import SecondsSincePrev
from common.features import job as feature_job
from common.features.output_schema import output_schema_text
from common.features.sql import (
    SINK_PRODUCER_PROPERTIES,
    CompiledJob,
    FeatureJob,
    JobSettings,
    compile_job,
    exactly_once_sink_options,
    kafka_table,
    output_columns,
    quote,
    source_ddl,
    startup_options,
)
from common.runtime import catalog

STAGES = ("raw", "decode", "encode", "exactly-once", "keyed")
LEGACY_SINK = "legacy-sink"
"""Modifier of the ``exactly-once`` stage: the sinks as they were before decision 61 (Flink's
``avro-confluent``, Kafka client producer defaults), for an A/B in the same run."""


def _raw_sink(name: str, topic: str, settings: JobSettings, extra: dict[str, str]) -> str:
    options = (
        SINK_PRODUCER_PROPERTIES
        | extra
        | {
            "connector": "kafka",
            "topic": topic,
            "properties.bootstrap.servers": settings.bootstrap_servers,
            "sink.delivery-guarantee": "at-least-once",
            "key.format": "raw",
            "key.fields": "k",
            "value.format": "raw",
            "value.fields-include": "EXCEPT_KEY",
        }
    )
    return kafka_table(name, "`k` BYTES,\n  `v` BYTES", options, settings)


def _raw_source(settings: JobSettings) -> str:
    options = {
        "connector": "kafka",
        "topic": settings.source_topic or "",
        "properties.bootstrap.servers": settings.bootstrap_servers,
        "properties.group.id": settings.group_id or "bench-io",
        "properties.isolation.level": "read_committed",
        "key.format": "raw",
        "key.fields": "raw_key",
        "value.format": "raw",
        "value.fields-include": "EXCEPT_KEY",
    } | startup_options(settings)
    return kafka_table("source_events", "`raw_key` BYTES,\n  `raw_value` BYTES", options, settings)


def _legacy(options: dict[str, str]) -> dict[str, str]:
    """Sink options as before decision 61: ``avro-confluent``, producer defaults."""
    legacy = {
        k: v
        for k, v in options.items()
        if not k.startswith("value.featurestream-avro.") and k not in SINK_PRODUCER_PROPERTIES
    }
    legacy["value.format"] = "avro-confluent"
    legacy["value.avro-confluent.url"] = options["value.featurestream-avro.url"]
    legacy["value.avro-confluent.schema"] = options["value.featurestream-avro.schema"]
    return legacy


def keyed_only(job: FeatureJob) -> FeatureJob:
    """``job`` with each view's features cut to one ``SecondsSincePrev`` (no window kept)."""
    views = tuple(
        dataclasses.replace(view, features=(SecondsSincePrev(f"{view.name}_seconds_since_prev"),))
        for view in job.views
    )
    return dataclasses.replace(job, views=views)


def compile_stage(
    job: FeatureJob,
    stage: str,
    settings: JobSettings,
    sink_properties: dict[str, str] | None = None,
    legacy_sink: bool = False,
) -> CompiledJob:
    """The SQL of ``stage`` (one of ``STAGES``) over ``job``'s source and views.

    ``sink_properties`` are Kafka producer properties added to every sink; ``legacy_sink``
    writes the views as before decision 61 (see ``LEGACY_SINK``).
    """
    extra = {f"properties.{k}": v for k, v in (sink_properties or {}).items()}
    if stage not in STAGES:
        raise ValueError(f"stage {stage!r}: use one of {STAGES}")
    if stage == "keyed":
        return compile_job(keyed_only(job), settings)
    compiled = CompiledJob(registry_url=settings.registry_url)
    compiled.statements.append(
        _raw_source(settings) if stage == "raw" else source_ddl(job, settings)
    )
    for view in job.views:
        topic = topics.feature_topic(view.name, view.version) + settings.topic_suffix
        table = f"sink_{view.name}"
        if stage in ("raw", "decode"):
            compiled.statements.append(_raw_sink(table, topic, settings, extra))
            compiled.inserts.append(
                f"INSERT INTO `{table}` SELECT `raw_key`, `raw_value` FROM `source_events`"
            )
            continue
        schema = output_schema_text(view)
        compiled.sink_schemas[topic] = schema
        columns = output_columns(view)
        options = exactly_once_sink_options(
            settings, topic, f"bench-io-{view.name}{settings.topic_suffix}", schema, view.entity.key
        )
        options |= extra
        if legacy_sink:
            options = _legacy(options)
        ddl = ",\n  ".join(f"`{name}` {sql}" for name, sql in columns)
        compiled.statements.append(kafka_table(table, ddl, options, settings))
        fixed = {
            "event_id": f"`{job.source.id_column}`",
            view.entity.key: f"`{view.entity.key}`",
            "event_time": f"`{job.source.event_time}`",
            "feature_view": quote(view.name),
            "feature_view_version": str(view.version),
        }
        values = [
            fixed.get(name, f"CAST(0 AS {sql.removesuffix(' NOT NULL')})") for name, sql in columns
        ]
        compiled.inserts.append(
            f"INSERT INTO `{table}`\nSELECT {', '.join(values)}\nFROM `source_events`\n"
            "WHERE `decode_error` IS NULL"
        )
    return compiled


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: compile a stage and submit it (or print it)."""
    config = load_stack_config()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Positional: ``flink run`` would take ``--job`` for its own ``--jobmanager``.
    parser.add_argument("job", choices=catalog.job_names())
    parser.add_argument("stage", choices=STAGES)
    parser.add_argument("--source-topic", required=True)
    parser.add_argument("--topic-suffix", default=".io")
    parser.add_argument("--group-id", default="bench-io")
    parser.add_argument("--bounded", action="store_true")
    parser.add_argument("--checkpoint-interval", default=feature_job.DEFAULT_CHECKPOINT_INTERVAL)
    parser.add_argument(
        "--flink-conf",
        action="append",
        default=[],
        type=feature_job.flink_conf_pair,
        metavar="KEY=VALUE",
    )
    parser.add_argument(
        "--sink-property",
        action="append",
        default=[],
        type=feature_job.flink_conf_pair,
        metavar="KEY=VALUE",
        help="Kafka producer property for every sink (``properties.KEY``)",
    )
    parser.add_argument(
        f"--{LEGACY_SINK}", action="store_true", help="sinks as before decision 61 (A/B)"
    )
    parser.add_argument("--explain", action="store_true", help="print the SQL and exit")
    args = parser.parse_args(argv)
    settings = JobSettings(
        bootstrap_servers=config.bootstrap_servers,
        registry_url=config.registry_url,
        source_topic=args.source_topic,
        topic_suffix=args.topic_suffix,
        startup="earliest",
        bounded=args.bounded,
        streaming_watermark=True,
        group_id=args.group_id,
        sink_guarantee=(
            "exactly-once" if args.stage in ("exactly-once", "keyed") else "at-least-once"
        ),
    )
    compiled = compile_stage(
        catalog.load_job(args.job),
        args.stage,
        settings,
        dict(args.sink_property),
        legacy_sink=args.legacy_sink,
    )
    if args.explain:
        sys.stdout.write(compiled.text())
        return
    name = f"bench-io-{args.stage}"
    if compiled.window_functions:
        # Registers the window functions (and the dead-letter counter) first.
        job_id = feature_job.submit(
            name, compiled, args.checkpoint_interval, flink_conf=args.flink_conf
        )
    else:
        env = feature_job.table_environment(
            name, args.checkpoint_interval, flink_conf=args.flink_conf
        )
        job_id = feature_job.execute(env, compiled)
    print(f"submitted bench-io-{args.stage} as job {job_id}", flush=True)


if __name__ == "__main__":
    main()
