"""Running a compiled feature job: the PyFlink driver behind ``jobs/<job>/job.py``.

``python -m jobs.payment_features.job --help`` (or ``flink run -pym jobs.payment_features.job``)
builds the job from its views and submits it. All per-record work runs in the JVM: the
``featurestream-avro`` format, SQL, the ``WindowFeatures`` function, the Kafka and Redis sinks.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import credentials, registry
from common.config import StackConfig, load_stack_config
from common.features import handoff
from common.features.sql import CompiledJob, FeatureJob, JobSettings, compile_job

DEFAULT_CHECKPOINT_INTERVAL = "1 s"
STATE_BACKENDS = ("heap", "rocksdb")
DEFAULT_WATERMARK_INTERVAL = "200 ms"
MAX_PARALLELISM = 128


def add_kafka_job_arguments(
    parser: argparse.ArgumentParser,
    config: StackConfig,
    source_topic: str,
    group_id: str,
    checkpoint_interval: str = DEFAULT_CHECKPOINT_INTERVAL,
) -> None:
    """The options every Kafka-in, Kafka-out job shares (feature, inference, scoring jobs).

    Defaults come from ``config`` (the local stack's configuration).
    """
    parser.add_argument("--bootstrap-servers", default=config.bootstrap_servers)
    parser.add_argument("--registry-url", default=config.registry_url)
    parser.add_argument("--source-topic", help=f"default: {source_topic}")
    parser.add_argument("--topic-suffix", default="", help="appended to every output topic")
    parser.add_argument("--startup", choices=("group", "earliest", "latest"), default="group")
    parser.add_argument("--bounded", action="store_true", help="stop at today's end offsets")
    parser.add_argument(
        "--streaming-watermark",
        action="store_true",
        help="with --bounded: keep the streaming watermark instead of holding it until the end "
        "of the input (benchmarks of streaming behaviour; late rows are then dead letters)",
    )
    parser.add_argument("--group-id", help=f"default: {group_id}")
    parser.add_argument("--checkpoint-interval", default=checkpoint_interval)
    parser.add_argument(
        "--watermark-interval",
        default=DEFAULT_WATERMARK_INTERVAL,
        help="how often sources emit watermarks (pipeline.auto-watermark-interval)",
    )
    parser.add_argument(
        "--wait",
        action="store_true",
        help="block until the job ends (needed when run in-process on a mini cluster)",
    )
    parser.add_argument("--explain", action="store_true", help="print the SQL and exit")
    parser.add_argument(
        "--sink-guarantee",
        choices=("exactly-once", "at-least-once"),
        default="exactly-once",
        help="Kafka sinks' delivery guarantee; at-least-once exists for the fault tests, which "
        "must see it produce duplicates",
    )


def base_arg_parser(
    job_name: str, description: str, source_topic: str, checkpoint_interval: str
) -> argparse.ArgumentParser:
    """A view-computing job's command line (feature and inference jobs)."""
    config = load_stack_config()
    parser = argparse.ArgumentParser(prog=f"jobs.{job_name}.job", description=description)
    group_id = f"featurestream-{job_name.replace('_', '-')}"
    add_kafka_job_arguments(parser, config, source_topic, group_id, checkpoint_interval)
    parser.add_argument("--redis-url", default=config.redis_url)
    parser.add_argument("--no-online-store", action="store_true", help="leave Redis out")
    parser.add_argument(
        "--state-backend",
        choices=STATE_BACKENDS,
        default="heap",
        help="heap (local default) or rocksdb (state on disk, incremental checkpoints: what "
        "the chart deploys)",
    )
    parser.add_argument(
        "--flink-conf",
        action="append",
        default=[],
        type=flink_conf_pair,
        metavar="KEY=VALUE",
        help="one more Flink setting for this job, after featurestream's own (repeatable; for "
        "experiments and benchmarks: deployments set flinkConfiguration in the chart's values)",
    )
    parser.add_argument(
        "--await-start",
        type=Path,
        metavar="FILE",
        help="plan the job, write FILE.ready, then wait for FILE to say which savepoint to "
        "start from (featurestream upgrade/restore: the old job stops once this one is planned)",
    )
    return parser


def flink_conf_pair(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` as a pair (an argparse ``type``: a clear error for anything else)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected KEY=VALUE, e.g. state.backend.type=forst"
        )
    return key.strip(), value.strip()


def build_arg_parser(job: FeatureJob) -> argparse.ArgumentParser:
    """A feature job's command line."""
    return base_arg_parser(
        job.name,
        f"Feature job {job.name}: views " + ", ".join(v.qualified_name for v in job.views),
        job.source.topic,
        DEFAULT_CHECKPOINT_INTERVAL,
    )


def settings_from_args(
    args: argparse.Namespace, creds: credentials.Credentials | None = None
) -> JobSettings:
    """JobSettings from parsed arguments and the credentials of the environment."""
    creds = creds or credentials.Credentials()
    return JobSettings(
        bootstrap_servers=args.bootstrap_servers,
        registry_url=args.registry_url,
        redis_url=None if args.no_online_store else args.redis_url,
        source_topic=args.source_topic,
        topic_suffix=args.topic_suffix,
        startup=args.startup,
        bounded=args.bounded,
        streaming_watermark=args.streaming_watermark,
        group_id=args.group_id,
        kafka_properties=creds.kafka_properties,
        registry_user_info=creds.registry_user_info,
        sink_guarantee=args.sink_guarantee,
    )


def register_sink_schemas(
    compiled: CompiledJob, jvm: Any, registry_user_info: str | None = None
) -> None:
    """Register each sink's schema exactly as the sinks' ``featurestream-avro`` encoder will.

    The encoder looks up (else registers) ``Schema.toString()`` of the schema it is given when
    its task opens. If that text is new to the registry, every parallel writer registers it at
    the same moment and the registry refuses all but one (the job fails and restarts).
    Registering the very same text first, made by the encoder's own code, makes their calls
    lookups. (Flink's ``avro-confluent`` registers the identical text: checked for every
    ``schemas/*.avsc`` when the format changed, so no subject got a new version.)
    """
    from confluent_kafka.schema_registry import SchemaRegistryClient

    registered_text = (
        jvm.dev.featurestream.flink.FeaturestreamAvroSerializationSchema.registeredText
    )
    conf = {"url": compiled.registry_url}
    if registry_user_info:
        conf["basic.auth.user.info"] = registry_user_info
    client = SchemaRegistryClient(conf)
    for topic, text in compiled.sink_schemas.items():
        canonical = str(registered_text(text))
        registry.ensure_registered_text(client, topic, canonical)


def table_environment(
    pipeline_name: str,
    checkpoint_interval: str,
    watermark_interval: str = DEFAULT_WATERMARK_INTERVAL,
    state_backend: str | None = None,
    flink_conf: Sequence[tuple[str, str]] = (),
) -> Any:
    """A streaming TableEnvironment with featurestream's job settings (exactly-once, UTC).

    ``pipeline_name`` is the Flink job name (``featurestream-<job>``): the CLI finds running
    jobs by it. ``state_backend`` ``heap`` or ``rocksdb`` sets the job's state backend; None
    leaves the cluster's. ``flink_conf`` pairs are set last, over all of these.
    """
    from pyflink.table import EnvironmentSettings, TableEnvironment

    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    config = env.get_config()
    config.set("table.local-time-zone", "UTC")
    config.set("pipeline.name", pipeline_name)
    config.set("pipeline.auto-watermark-interval", watermark_interval)
    config.set("execution.checkpointing.interval", checkpoint_interval)
    config.set("execution.checkpointing.mode", "EXACTLY_ONCE")
    # A cancelled job keeps its last checkpoint: `run --from-savepoint <it>` resumes from it.
    config.set(
        "execution.checkpointing.externalized-checkpoint-retention", "RETAIN_ON_CANCELLATION"
    )
    # Keyed state is split into this many key groups for good: a savepoint restores at any
    # parallelism up to it, and changing it later breaks every restore.
    config.set("pipeline.max-parallelism", str(MAX_PARALLELISM))
    # Operator uids from the plan, so an unchanged job restores from its savepoints.
    config.set("table.exec.uid.generation", "ALWAYS")
    # Chained operators hand rows on without a copy each (a quarter of the window function's
    # time went to copying; the SQL runtime and WindowFeatures never hold on to an input row).
    config.set("pipeline.object-reuse", "true")
    if state_backend == "rocksdb":
        # As the chart deploys it (templates/flinkdeployment.yaml): decision 59.
        config.set("state.backend.type", "rocksdb")
        config.set("execution.checkpointing.incremental", "true")
        config.set("state.backend.rocksdb.use-bloom-filter", "true")
    elif state_backend == "heap":
        config.set("state.backend.type", "hashmap")
    elif state_backend is not None:
        raise ValueError(f"state backend {state_backend!r}: use one of {STATE_BACKENDS}")
    for key, value in flink_conf:
        config.set(key, value)
    return env


def execute(
    env: Any,
    compiled: CompiledJob,
    wait: bool = False,
    registry_user_info: str | None = None,
    await_start: Path | None = None,
) -> str | None:
    """Register the sink schemas, run the statements, submit the inserts; the job id if known.

    With ``await_start`` the job is planned first, then submitted when the launcher says so
    (``common.features.handoff``), from the savepoint it names; None if it says abort.
    """
    from pyflink.java_gateway import get_gateway

    register_sink_schemas(compiled, get_gateway().jvm, registry_user_info)
    for statement in compiled.statements:
        env.execute_sql(statement)
    statements = env.create_statement_set()
    for insert in compiled.inserts:
        statements.add_insert_sql(insert)
    if await_start is not None:
        # Parsed and validated; optimising waits for execute(). (A warm-up explain() would move
        # the plan's node ids, and with them the operator uids: state would not restore.)
        handoff.say_ready(await_start)
        order = handoff.await_order(await_start)
        if order.abort:
            return None
        if order.savepoint:
            config = env.get_config()
            config.set("execution.savepoint.path", order.savepoint)
            config.set(
                "execution.savepoint.ignore-unclaimed-state",
                str(order.allow_non_restored_state).lower(),
            )
    result = statements.execute()
    client = result.get_job_client()
    job_id = str(client.get_job_id()) if client is not None else None
    if wait:
        result.wait()
    return job_id


def submit(
    pipeline_name: str,
    compiled: CompiledJob,
    checkpoint_interval: str,
    wait: bool = False,
    watermark_interval: str = DEFAULT_WATERMARK_INTERVAL,
    registry_user_info: str | None = None,
    await_start: Path | None = None,
    state_backend: str | None = None,
    flink_conf: Sequence[tuple[str, str]] = (),
) -> str | None:
    """Plan a view-computing job (its window functions registered) and execute it.

    ``await_start``: see ``execute``; ``state_backend``, ``flink_conf``: see
    ``table_environment``.
    """
    from pyflink.java_gateway import get_gateway

    env = table_environment(
        pipeline_name, checkpoint_interval, watermark_interval, state_backend, flink_conf
    )
    env.execute_sql(
        "CREATE TEMPORARY SYSTEM FUNCTION fs_count_dead_letter "
        "AS 'dev.featurestream.flink.CountDeadLetter' LANGUAGE JAVA"
    )
    jvm = get_gateway().jvm
    # A function instance carrying its spec can only be registered through the Java API.
    j_env = env._j_tenv
    for name, spec in compiled.window_functions.items():
        j_env.createTemporarySystemFunction(name, jvm.dev.featurestream.flink.WindowFeatures(spec))
    return execute(env, compiled, wait, registry_user_info, await_start)


def driver_credentials(job_name: str) -> credentials.Credentials:
    """The environment's credentials, or exit with the reason (it never holds a secret)."""
    try:
        return credentials.from_env()
    except credentials.CredentialsError as exc:
        sys.exit(f"{job_name}: {exc}")


def run_driver(
    pipeline_name: str,
    compiled: CompiledJob,
    args: argparse.Namespace,
    creds: credentials.Credentials,
) -> None:
    """The end of every view-computing driver: print the SQL (``--explain``) or submit it."""
    if args.explain:
        # The SQL carries the credentials; what is printed never does.
        sys.stdout.write(creds.redact(compiled.text()))
        return
    job_id = submit(
        pipeline_name,
        compiled,
        args.checkpoint_interval,
        wait=args.wait,
        watermark_interval=args.watermark_interval,
        registry_user_info=creds.registry_user_info,
        await_start=args.await_start,
        state_backend=args.state_backend,
        flink_conf=args.flink_conf,
    )
    if job_id is None and args.await_start is not None:
        print(f"{pipeline_name}: told not to start", flush=True)
        return
    print(f"submitted {pipeline_name} as job {job_id}", flush=True)


def main(job: FeatureJob, argv: Sequence[str] | None = None) -> None:
    """Command-line entry point of a feature job module."""
    args = build_arg_parser(job).parse_args(argv)
    creds = driver_credentials(job.name)
    run_driver(job.dashed, compile_job(job, settings_from_args(args, creds)), args, creds)
