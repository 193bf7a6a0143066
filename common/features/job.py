"""Running a compiled feature job: the PyFlink driver behind ``jobs/<job>/job.py``.

``python -m jobs.payment_features.job --help`` (or ``flink run -pym jobs.payment_features.job``)
builds the job from its views and submits it. All per-record work runs in the JVM: the
``featurestream-avro`` format, SQL, the ``WindowFeatures`` function, the Kafka and Redis sinks.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from common import registry
from common.config import StackConfig, load_stack_config
from common.features.sql import CompiledJob, FeatureJob, JobSettings, compile_job

DEFAULT_CHECKPOINT_INTERVAL = "1 s"


def add_kafka_job_arguments(
    parser: argparse.ArgumentParser, config: StackConfig, source_topic: str, group_id: str
) -> None:
    """The options every Kafka-in, Kafka-out job shares (feature jobs, model scoring).

    Defaults come from ``config`` (the local stack's configuration).
    """
    parser.add_argument("--bootstrap-servers", default=config.bootstrap_servers)
    parser.add_argument("--registry-url", default=config.registry_url)
    parser.add_argument("--source-topic", help=f"default: {source_topic}")
    parser.add_argument("--topic-suffix", default="", help="appended to every output topic")
    parser.add_argument("--startup", choices=("group", "earliest", "latest"), default="group")
    parser.add_argument("--bounded", action="store_true", help="stop at today's end offsets")
    parser.add_argument("--group-id", help=f"default: {group_id}")
    parser.add_argument("--checkpoint-interval", default=DEFAULT_CHECKPOINT_INTERVAL)
    parser.add_argument(
        "--wait",
        action="store_true",
        help="block until the job ends (needed when run in-process on a mini cluster)",
    )
    parser.add_argument("--explain", action="store_true", help="print the SQL and exit")


def build_arg_parser(job: FeatureJob) -> argparse.ArgumentParser:
    """The job's command line; defaults come from the local stack's configuration."""
    parser = argparse.ArgumentParser(
        prog=f"jobs.{job.name}.job",
        description=f"Feature job {job.name}: views "
        + ", ".join(v.qualified_name for v in job.views),
    )
    config = load_stack_config()
    add_kafka_job_arguments(parser, config, job.source.topic, job.dashed)
    parser.add_argument("--redis-url", default=config.redis_url)
    parser.add_argument("--no-online-store", action="store_true", help="leave Redis out")
    return parser


def settings_from_args(args: argparse.Namespace) -> JobSettings:
    """JobSettings from parsed arguments."""
    return JobSettings(
        bootstrap_servers=args.bootstrap_servers,
        registry_url=args.registry_url,
        redis_url=None if args.no_online_store else args.redis_url,
        source_topic=args.source_topic,
        topic_suffix=args.topic_suffix,
        startup=args.startup,
        bounded=args.bounded,
        group_id=args.group_id,
    )


def register_sink_schemas(compiled: CompiledJob, jvm: Any) -> None:
    """Register each sink's schema exactly as Flink's avro-confluent serializer will.

    The serializer registers ``Schema.toString()`` of the schema it is given when it writes its
    first record. If that text is new to the registry, every parallel writer registers it at the
    same moment and the registry refuses all but one (the job fails and restarts). Registering
    the very same text first, with the same Avro library, makes the writers' calls lookups.
    """
    from confluent_kafka.schema_registry import SchemaRegistryClient

    parser_class = jvm.org.apache.flink.avro.shaded.org.apache.avro.Schema.Parser
    client = SchemaRegistryClient({"url": compiled.registry_url})
    for topic, text in compiled.sink_schemas.items():
        canonical = str(parser_class().parse(text).toString())
        registry.ensure_registered_text(client, topic, canonical)


def table_environment(pipeline_name: str, checkpoint_interval: str) -> Any:
    """A streaming TableEnvironment with featurestream's job settings (exactly-once, UTC)."""
    from pyflink.table import EnvironmentSettings, TableEnvironment

    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    config = env.get_config()
    config.set("table.local-time-zone", "UTC")
    config.set("pipeline.name", pipeline_name)
    config.set("execution.checkpointing.interval", checkpoint_interval)
    config.set("execution.checkpointing.mode", "EXACTLY_ONCE")
    # A cancelled job keeps its last checkpoint: `run --from-savepoint <it>` resumes from it.
    config.set(
        "execution.checkpointing.externalized-checkpoint-retention", "RETAIN_ON_CANCELLATION"
    )
    # Operator uids from the plan, so an unchanged job restores from its savepoints.
    config.set("table.exec.uid.generation", "ALWAYS")
    return env


def execute(env: Any, compiled: CompiledJob, wait: bool = False) -> str | None:
    """Register the sink schemas, run the statements, submit the inserts; the job id if known."""
    from pyflink.java_gateway import get_gateway

    register_sink_schemas(compiled, get_gateway().jvm)
    for statement in compiled.statements:
        env.execute_sql(statement)
    statements = env.create_statement_set()
    for insert in compiled.inserts:
        statements.add_insert_sql(insert)
    result = statements.execute()
    client = result.get_job_client()
    job_id = str(client.get_job_id()) if client is not None else None
    if wait:
        result.wait()
    return job_id


def submit(
    job: FeatureJob, compiled: CompiledJob, checkpoint_interval: str, wait: bool = False
) -> str | None:
    """Plan ``compiled`` in a PyFlink TableEnvironment and execute it; the job id if known."""
    from pyflink.java_gateway import get_gateway

    env = table_environment(job.dashed, checkpoint_interval)
    env.execute_sql(
        "CREATE TEMPORARY SYSTEM FUNCTION fs_count_dead_letter "
        "AS 'dev.featurestream.flink.CountDeadLetter' LANGUAGE JAVA"
    )
    jvm = get_gateway().jvm
    # A function instance carrying its spec can only be registered through the Java API.
    j_env = env._j_tenv
    for name, spec in compiled.window_functions.items():
        j_env.createTemporarySystemFunction(name, jvm.dev.featurestream.flink.WindowFeatures(spec))
    return execute(env, compiled, wait)


def main(job: FeatureJob, argv: Sequence[str] | None = None) -> None:
    """Command-line entry point of a feature job module."""
    args = build_arg_parser(job).parse_args(argv)
    compiled = compile_job(job, settings_from_args(args))
    if args.explain:
        sys.stdout.write(compiled.text())
        return
    job_id = submit(job, compiled, args.checkpoint_interval, wait=args.wait)
    print(f"submitted {job.dashed} as job {job_id}", flush=True)
