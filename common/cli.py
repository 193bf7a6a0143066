"""The ``featurestream`` command line. Verbs follow ``../shared/DESIGN.md``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import click

from common import registry, schemas
from common.config import StackConfig, load_stack_config
from common.deploy.cli import COMMANDS as DEPLOY_COMMANDS
from common.features import output_schema
from common.features.definitions import DefinitionError, FeatureView, parse_window
from common.features.job import STATE_BACKENDS
from common.features.sql import FeatureJob
from common.generate.cli import generate
from common.local import artifacts, flink_client, parts, stack
from common.local.processes import read as read_pid
from common.models import ContractError, request_schema
from common.models import catalog as model_catalog
from common.models.contract import ModelContract
from common.models.server import DEFAULT_HOST, DEFAULT_PORT, make_server
from common.runtime import catalog, launch
from common.runtime.launch import RunOptions
from common.runtime.offline import run_offline

F = TypeVar("F", bound=Callable[..., Any])


def _config() -> StackConfig:
    return load_stack_config()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """featurestream: real-time ML features from trades and payments, on Apache Flink."""


# --- local ---------------------------------------------------------------------------------------


@main.group()
def local() -> None:
    """The embedded local stack: Kafka (KRaft), schema registry, Redis, Flink session cluster."""


@local.command("setup")
def local_setup() -> None:
    """Fetch the pinned jars and distributions and install Redis if missing (idempotent)."""
    try:
        stack.setup(_config())
    except stack.StackError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("setup complete")


@local.command("up")
@click.option(
    "--only",
    multiple=True,
    type=click.Choice([p.name for p in parts.PARTS]),
    help="Start only these parts (repeatable).",
)
def local_up(only: tuple[str, ...]) -> None:
    """Start the stack (what is already running is left alone) and wait until it is healthy."""
    config = _config()
    started = time.monotonic()
    try:
        stack.up(config, list(only) or None)
    except stack.StackError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"stack up in {time.monotonic() - started:.1f}s (data: {config.data_dir})")
    _print_status(config)


@local.command("down")
def local_down() -> None:
    """Stop exactly the processes `up` started."""
    stopped = stack.down(_config())
    click.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


def _print_status(config: StackConfig) -> bool:
    rows = stack.status(config)
    for row in rows:
        pids = ",".join(map(str, row.pids)) or "-"
        detail = f"  ({row.detail})" if row.detail and row.state != "stopped" else ""
        click.echo(f"{row.name:<9} {row.state:<9} {row.address:<44} pid {pids}{detail}")
    return all(row.state == "healthy" for row in rows)


@local.command("status")
def local_status() -> None:
    """Each part's health, address and pid; exit code 1 unless all are healthy."""
    if not _print_status(_config()):
        sys.exit(1)


@local.command("logs")
@click.argument("part", required=False, type=click.Choice([p.name for p in parts.PARTS]))
@click.option("-n", "--lines", default=40, show_default=True, help="Lines per log file.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines (tail -F).")
def local_logs(part: str | None, lines: int, follow: bool) -> None:
    """Show the log files of one part, or of all."""
    config = _config()
    names = (
        parts.PROCESS_NAMES[part]
        if part
        else [n for p in parts.PARTS for n in parts.PROCESS_NAMES[p.name]]
    )
    files = [stack.log_file(config, n) for n in names]
    if follow:
        subprocess.run(["tail", "-n", str(lines), "-F", *map(str, files)], check=False)
        return
    for path in files:
        click.echo(f"==> {path} <==")
        click.echo(stack.tail(path, lines), nl=False)


@local.command("lock")
def local_lock() -> None:
    """Re-resolve deploy/local/maven/*.pom.xml and rewrite the lock file (maintainers)."""
    result = artifacts.lock()
    click.echo(
        f"wrote {artifacts.LOCK_FILE}: "
        + ", ".join(f"{part} {len(items)} files" for part, items in result.items())
    )


@local.command("pids", hidden=True)
def local_pids() -> None:
    """Pids of the stack's processes (for tests and scripts)."""
    config = _config()
    for names in parts.PROCESS_NAMES.values():
        for name in names:
            tracked = read_pid(parts.run_dir(config), name)
            if tracked and tracked.process():
                click.echo(f"{name} {tracked.pid}")


# --- schemas -------------------------------------------------------------------------------------


@main.group("schemas")
def schemas_group() -> None:
    """The shared Avro schemas in schemas/."""


def _all_views() -> list[FeatureView]:
    return [view for name in catalog.job_names() for view in _load_job(name).views]


@schemas_group.command("check")
def schemas_check() -> None:
    """Every schema parses and is BACKWARD-compatible with each committed version of itself;
    feature schemas match their views' definitions."""
    stale = output_schema.stale_schema_files(_all_views())
    stale += request_schema.stale_schema_files(model_catalog.contracts())
    if stale:
        raise click.ClickException(
            f"generated schemas out of date with their definitions: {', '.join(stale)}; "
            "run `featurestream schemas generate` and commit the result"
        )
    try:
        results = schemas.check_all()
    except schemas.SchemaError as exc:
        raise click.ClickException(str(exc)) from exc
    for result in results:
        click.echo(f"ok  {result.name:<36} ({result.versions_checked} earlier versions checked)")


@schemas_group.command("generate")
def schemas_generate() -> None:
    """Write schemas/feature_<view>_v<N>.avsc and inference_request_<model>_v<N>.avsc from the
    feature views and model contracts (commit the result)."""
    changed = output_schema.write_schema_files(_all_views())
    changed += request_schema.write_schema_files(model_catalog.contracts())
    for path in changed:
        click.echo(f"wrote {path}")
    if not changed:
        click.echo("feature schemas up to date")


@schemas_group.command("register")
@click.option(
    "--job",
    "jobs",
    multiple=True,
    help="Also register the job's outputs: dlq.<job>, its feature topics (repeatable).",
)
def schemas_register(jobs: tuple[str, ...]) -> None:
    """Register each topic's value schema under <topic>-value (BACKWARD compatibility)."""
    client = registry.client(_config())
    wanted = schemas.topic_schemas(jobs)
    for job in jobs:
        wanted |= output_schema.topic_schemas(_load_job(job).views)
    for topic, name in wanted.items():
        try:
            reg = registry.ensure_registered(client, topic, name)
        except Exception as exc:  # the registry's own refusal carries the useful message
            raise click.ClickException(f"registering {topic}: {exc}") from exc
        click.echo(
            f"{reg.subject:<34} id {reg.schema_id:<4} {Path(schemas.schema_path(name)).name}"
        )


main.add_command(generate)
# deploy, render, savepoint, savepoints, restore, upgrade (common/deploy/cli.py)
for _command in DEPLOY_COMMANDS:
    main.add_command(_command)


# --- feature jobs --------------------------------------------------------------------------------


def _load_job(name: str) -> FeatureJob:
    try:
        return catalog.load_job(name)
    except DefinitionError as exc:
        raise click.ClickException(str(exc)) from exc


def _submit_options(command: F) -> F:
    """The options of every command that submits a Kafka job to the local cluster."""
    options = [
        click.option("-p", "--parallelism", type=click.IntRange(min=1), help="Task parallelism."),
        click.option(
            "--from-savepoint", help="Restore from this savepoint or retained checkpoint."
        ),
        click.option("--source-topic", help="Read this topic instead of the default one."),
        click.option("--topic-suffix", default="", help="Appended to every output topic."),
        click.option(
            "--startup",
            type=click.Choice(["group", "earliest", "latest"]),
            default="group",
            show_default=True,
            help="Where to start without state: committed group offsets (else earliest), or "
            "an end.",
        ),
        click.option(
            "--bounded", is_flag=True, help="Stop at the end offsets of the start moment."
        ),
        click.option(
            "--wait", "wait_s", type=float, help="Wait this many seconds for the job to end."
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _report_submitted(config: StackConfig, name: str, job_id: str, wait_s: float | None) -> None:
    click.echo(f"{name}: job {job_id}  ({config.flink_rest_url}/#/job/running/{job_id})")
    if wait_s:
        details = flink_client.wait_for_terminal(config, job_id, timeout_s=wait_s)
        click.echo(f"{name}: {details['state']}")


@main.command("run")
@click.argument("job_name", metavar="JOB")
@_submit_options
@click.option("--no-online-store", is_flag=True, help="Leave the Redis online store out.")
@click.option(
    "--model",
    "models",
    multiple=True,
    help="inference_requests only: serve just this model (repeatable; default all).",
)
@click.option(
    "--state-backend",
    type=click.Choice(STATE_BACKENDS),
    default="heap",
    show_default=True,
    help="heap: fast, in the TaskManager's memory. rocksdb: on disk with incremental "
    "checkpoints, as the chart deploys (use it to see production's state behaviour).",
)
def run(
    job_name: str,
    no_online_store: bool,
    models: tuple[str, ...],
    wait_s: float | None,
    **options: Any,
) -> None:
    """Run a job (jobs/<JOB>: a feature job or inference_requests) on the local Flink cluster."""
    config = _config()
    try:
        job = catalog.load_runnable(job_name)
    except DefinitionError as exc:
        raise click.ClickException(str(exc)) from exc
    run_options = RunOptions(**options, online_store=not no_online_store, models=models)
    needed = ["kafka", "registry", "flink"] + ([] if no_online_store else ["redis"])
    try:
        stack.require(config, needed)
    except stack.StackError as exc:
        raise click.ClickException(f"run {job_name}: {exc}") from exc
    try:
        job_id = launch.submit(config, job, run_options, on_progress=click.echo)
    except (flink_client.FlinkJobError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    _report_submitted(config, job.dashed, job_id, wait_s)


@main.command("offline")
@click.argument("job_name", metavar="JOB")
@click.option("--input", "source", required=True, help="An Avro container file, or a topic.")
@click.option(
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    help="A .parquet file (one view) or a directory (a file per view).",
)
@click.option("--view", "views", multiple=True, help="Only this view, e.g. payment_card.v1.")
@click.option(
    "--model", "models", multiple=True, help="inference_requests: the model, e.g. payment_fraud."
)
@click.option("-p", "--parallelism", type=click.IntRange(min=1))
@click.option("--keep-topics", is_flag=True, help="Keep the run's intermediate topics.")
@click.option(
    "--state-backend",
    type=click.Choice(STATE_BACKENDS),
    default="heap",
    show_default=True,
    help="Every input row waits in state until the end of the input: rocksdb keeps it on "
    "disk, for history larger than the TaskManager's memory. Both give the same rows.",
)
def offline(
    job_name: str,
    source: str,
    output: Path,
    views: tuple[str, ...],
    models: tuple[str, ...],
    parallelism: int | None,
    keep_topics: bool,
    state_backend: str,
) -> None:
    """Training rows: JOB's views (or one model's requests, flattened) over bounded history,
    exactly as the stream computes them."""
    try:
        job = catalog.load_runnable(job_name)
    except DefinitionError as exc:
        raise click.ClickException(str(exc)) from exc
    config = _config()
    try:
        stack.require(config, ["kafka", "registry", "flink"])
    except stack.StackError as exc:
        raise click.ClickException(f"offline {job_name}: {exc}") from exc
    try:
        summary = run_offline(
            config,
            job,
            source,
            output,
            views=list(views + models) or None,
            parallelism=parallelism,
            keep_topics=keep_topics,
            on_progress=click.echo,
            state_backend=state_backend,
        )
    except (ValueError, flink_client.FlinkJobError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc
    rejected = sum(summary.dead_letters.values())
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(summary.dead_letters.items())) or "none"
    click.echo(
        f"{summary.input_records:,} input records → "
        + ", ".join(f"{v} {n:,} rows" for v, n in summary.rows.items())
        + f"; dead letters {rejected:,} ({reasons}); job ran {summary.seconds:.1f} s"
    )


def _max_ages(items: tuple[str, ...]) -> dict[str, timedelta | None]:
    """``--max-age [VIEW=]DURATION|none`` flags: per view, or ``*`` for every view."""
    ages: dict[str, timedelta | None] = {}
    for item in items:
        view, sep, text = item.rpartition("=")
        try:
            ages[view if sep else "*"] = None if text == "none" else parse_window(text)
        except DefinitionError as exc:
            raise click.UsageError(f"--max-age {item!r}: {exc} (or 'none')") from exc
    return ages


@main.command("training-set")
@click.option(
    "--labels",
    "labels_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Parquet: the views' entity keys, a time column, labels, anything else (kept).",
)
@click.option(
    "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Parquet."
)
@click.option("--model", help="Take the features of this model's contract, in its order.")
@click.option("--version", type=int, help="The model's contract version (default: the highest).")
@click.option("--view", "views", multiple=True, help="Or these views, e.g. payment_card.v1.")
@click.option("--input", "source", help="History (an Avro file or a topic), computed as offline.")
@click.option(
    "--features",
    "features_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Or an earlier `offline JOB --output DIR`.",
)
@click.option("--time-column", default="label_time", show_default=True, help="Label time.")
@click.option("--id-column", help="Label id (default: the model's trigger id column, if present).")
@click.option(
    "--max-age",
    "max_ages",
    multiple=True,
    metavar="[VIEW=]DURATION",
    help="Oldest usable vector, e.g. 24h or payment_card.v1=2h, or none (default: the view's "
    "largest window).",
)
@click.option("-p", "--parallelism", type=click.IntRange(min=1))
@click.option(
    "--state-backend", type=click.Choice(STATE_BACKENDS), default="heap", show_default=True
)
def training_set_command(
    labels_path: Path,
    output: Path,
    model: str | None,
    version: int | None,
    views: tuple[str, ...],
    source: str | None,
    features_dir: Path | None,
    time_column: str,
    id_column: str | None,
    max_ages: tuple[str, ...],
    parallelism: int | None,
    state_backend: str,
) -> None:
    """Training rows for a label table: each view's features as of each label's time.

    For each label row, each view's vector of the row's entity key at the key's newest event at
    or before the label time (DuckDB ASOF JOIN over the offline rows of the history), null when
    there is none or it is older than the maximum age (both counted). Output: event_id,
    event_time, keys, the model's inputs in contract order (or the views' features), then the
    other label columns; `featurestream train` takes it as is.
    """
    from common.runtime import training_set

    config = _config()
    try:
        contract = _contract(model, version) if model else None
        chosen = training_set.views_by_name(views) if views else []
        if source is not None:
            stack.require(config, ["kafka", "registry", "flink"])
        summary = training_set.build(
            config,
            labels_path,
            output,
            model=contract,
            views=chosen,
            source=source,
            features_dir=features_dir,
            time_column=time_column,
            id_column=id_column,
            max_age=_max_ages(max_ages),
            parallelism=parallelism,
            state_backend=state_backend,
            on_progress=click.echo,
        )
    except (
        training_set.TrainingSetError,
        stack.StackError,
        ValueError,
        flink_client.FlinkJobError,
        RuntimeError,
    ) as exc:
        raise click.ClickException(f"training-set: {exc}") from exc
    click.echo(
        f"wrote {summary.labels:,} rows x {len(summary.columns)} columns to {summary.output} "
        f"in {summary.seconds:.1f} s"
    )


def _utc(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.UsageError(
            f"--until {value!r}: use ISO 8601, e.g. 2026-03-01T12:00:00Z"
        ) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@main.command("backfill")
@click.argument("job_name", metavar="JOB")
@click.option("--input", "source", required=True, help="History: an Avro file or a topic.")
@click.option("--until", help="File input: only events before this time (ISO 8601, UTC if naive).")
@click.option("--to-topics", is_flag=True, help="Also write the feature topics (not only Redis).")
@click.option(
    "--then-live",
    is_flag=True,
    help="Then run the job live from the backfill's state, reading the live topic from its start.",
)
@click.option("--live-topic", help="With --then-live: the live topic (default: the job's source).")
@click.option("--group-id", help="With --then-live: the live job's consumer group.")
@click.option("--no-online-store", is_flag=True, help="Leave Redis out.")
@click.option("-p", "--parallelism", type=click.IntRange(min=1))
@click.option(
    "--state-backend",
    type=click.Choice(STATE_BACKENDS),
    default="heap",
    show_default=True,
    help="rocksdb: state on disk with incremental checkpoints, as the chart deploys; the live "
    "job keeps it.",
)
def backfill_command(
    job_name: str,
    source: str,
    until: str | None,
    to_topics: bool,
    then_live: bool,
    live_topic: str | None,
    group_id: str | None,
    no_online_store: bool,
    parallelism: int | None,
    state_backend: str,
) -> None:
    """Run JOB over history into the online store (and feature topics); optionally go live.

    Without --then-live the job reads the history bounded and stops: every key's newest vector
    is in Redis (newer-wins: safe while a live job writes). With --then-live it streams the
    history, stops with a savepoint once every history event is checkpointed, drops the history
    source's offsets from a copy of the savepoint and restarts from it on the live topic: windows
    warm from the first live event, each event counted once if history ends where live starts.
    """
    from common.deploy.backfill import BackfillError, run_backfill

    config = _config()
    if (live_topic or group_id) and not then_live:
        raise click.UsageError("--live-topic and --group-id go with --then-live")
    try:
        job = catalog.load_job(job_name)
        stack.require(
            config, ["kafka", "registry", "flink"] + ([] if no_online_store else ["redis"])
        )
        summary = run_backfill(
            config,
            job,
            source,
            until=_utc(until),
            to_topics=to_topics,
            then_live=then_live,
            live_topic=live_topic,
            group_id=group_id,
            online_store=not no_online_store,
            parallelism=parallelism,
            state_backend=state_backend,
            on_progress=click.echo,
        )
    except (DefinitionError, stack.StackError, BackfillError) as exc:
        raise click.ClickException(f"backfill {job_name}: {exc}") from exc
    click.echo(
        f"backfilled {summary.history_records:,} events of history in {summary.seconds:.1f} s"
    )
    if summary.live_job_id:
        click.echo(
            f"live: job {summary.live_job_id} from {summary.live_savepoint} "
            f"(hand-over {summary.handover_s:.1f} s; backfill savepoint {summary.savepoint})"
        )


@main.group("new")
def new_group() -> None:
    """Scaffold a feature job or a view that passes lint and its own test unchanged."""


@new_group.command("job")
@click.argument("name")
@click.option("--source", "source_topic", required=True, help="Source topic, e.g. payments.")
@click.option("--entity", required=True, help="Entity key column of the source, e.g. card_id.")
@click.option("--view", help="Name of its first view (default: the job's name).")
def new_job_command(name: str, source_topic: str, entity: str, view: str | None) -> None:
    """Write jobs/NAME/ (features.py with one example view, job.py, values.yaml, README.md),
    tests/integration/test_job_NAME.py, and its schema, state lock and chart goldens."""
    from common import scaffold

    try:
        scaffold.new_job(name, source_topic, entity, view=view, on_progress=click.echo)
    except scaffold.ScaffoldError as exc:
        raise click.ClickException(f"new job {name}: {exc}") from exc
    click.echo(
        f"next: edit jobs/{name}/features.py; after each change `featurestream schemas generate`, "
        f"`featurestream check-upgrade {name} --update` and `make golden`; test with "
        f"`.venv/bin/pytest tests/integration/test_job_{name}.py`"
    )


@new_group.command("view")
@click.argument("name")
@click.option("--job", "job_name", required=True, help="The feature job to add it to.")
@click.option("--entity", required=True, help="Entity key column of the job's source.")
def new_view_command(name: str, job_name: str, entity: str) -> None:
    """Add view NAME (one example feature) to jobs/JOB/features.py; regenerate its schema,
    the job's state lock and the chart goldens."""
    from common import scaffold

    try:
        scaffold.new_view(name, job_name, entity, on_progress=click.echo)
    except scaffold.ScaffoldError as exc:
        raise click.ClickException(f"new view {name}: {exc}") from exc


# --- models --------------------------------------------------------------------------------------


def _contract(model: str, version: int | None = None) -> ModelContract:
    try:
        return model_catalog.contract(model, version)
    except ContractError as exc:
        raise click.ClickException(str(exc)) from exc


@main.command("train")
@click.argument("model")
@click.option(
    "--input",
    "input_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Training rows (Parquet): event_id, event_time, one column per contract input.",
)
@click.option(
    "--labels",
    "labels_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Labels (Parquet): the trigger's id column and the label. Without: an IsolationForest.",
)
@click.option(
    "--output", required=True, type=click.Path(file_okay=False, path_type=Path), help="Directory."
)
@click.option("--version", type=int, help="Contract version (default: the highest).")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the estimator.")
@click.option(
    "--test-fraction",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.25,
    show_default=True,
    help="Share of rows held out: the latest by event time.",
)
@click.option("--label-column", default="is_fraud", show_default=True, help="Label in --labels.")
def train(
    model: str,
    input_path: Path,
    labels_path: Path | None,
    output: Path,
    version: int | None,
    seed: int,
    test_fraction: float,
    label_column: str,
) -> None:
    """Train MODEL's reference model; write model.skops, contract.json, metrics.json to OUTPUT."""
    # scikit-learn takes seconds to import: only the commands that need it do.
    from common.models import training
    from common.models.artifact import ArtifactError

    contract = _contract(model, version)
    try:
        metrics = training.train_files(
            contract,
            input_path,
            labels_path,
            output,
            seed=seed,
            test_fraction=test_fraction,
            label_column=label_column,
        )
    except (training.TrainingError, ArtifactError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(training.summary_line(metrics))
    click.echo(f"wrote {output}/model.skops, contract.json, metrics.json, profile.json")


@main.command("quality")
@click.argument("model")
@click.option(
    "--model-path",
    required=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="The trained artefact's directory (its profile.json is the baseline).",
)
@click.option("--version", type=int, help="Contract version (default: the highest).")
@click.option(
    "--sample", type=click.IntRange(1), default=10_000, show_default=True, help="Vectors per view."
)
@click.option("--psi-threshold", type=click.FloatRange(0), default=0.25, show_default=True)
@click.option(
    "--null-rise",
    type=click.FloatRange(0, 1),
    default=0.1,
    show_default=True,
    help="A breach when a feature's null rate exceeds the training one by more than this.",
)
@click.option("--redis-url", help="The online store (default: the local stack's Redis).")
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of the table.")
def quality(
    model: str,
    model_path: Path,
    version: int | None,
    redis_url: str | None,
    sample: int,
    psi_threshold: float,
    null_rise: float,
    as_json: bool,
) -> None:
    """MODEL's stored features now against the rows it was trained on: null rate and PSI per
    feature (common/models/profile.py). Exit 2 when a feature breaches a threshold."""
    from dataclasses import asdict

    import redis

    from common.models import quality as checks
    from common.online_store import OnlineStore

    contract = _contract(model, version)
    url = redis_url or _config().redis_url
    try:
        drifts, sampled = checks.check(
            OnlineStore(redis.Redis.from_url(url, decode_responses=True)),
            contract,
            model_path,
            limit=sample,
            psi_threshold=psi_threshold,
            null_rise=null_rise,
        )
    except checks.QualityError as exc:
        raise click.ClickException(str(exc)) from exc
    breached = [d for d in drifts if d.breaches]
    if as_json:
        document = {"sampled": sampled, "features": [asdict(d) for d in drifts]}
        click.echo(json.dumps(document, indent=2))
    else:
        views = ", ".join(f"{view} {count:,}" for view, count in sampled.items())
        click.echo(f"{contract.qualified_name}: vectors sampled per view: {views}")
        click.echo(f"{'feature':<32} {'nulls (train)':>15} {'nulls':>7} {'PSI':>7}  verdict")

        def rate(value: float | None) -> str:
            return "-" if value is None else f"{value:.1%}"

        for d in drifts:
            value = "-" if d.psi is None else f"{d.psi:.3f}"
            verdict = "; ".join(d.breaches) or "ok"
            click.echo(
                f"{d.feature:<32} {rate(d.baseline_null_rate):>15} {rate(d.null_rate):>7} "
                f"{value:>7}  {verdict}"
            )
    if breached:
        names = ", ".join(d.feature for d in breached)
        click.echo(f"drift in {len(breached)} feature(s): {names}", err=True)
        raise SystemExit(2)


@main.command("score")
@click.argument("model")
@click.option(
    "--model-path",
    required=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="The artefact directory (featurestream train --output), readable by the TaskManagers.",
)
@click.option("--version", type=int, help="Contract version (default: the highest).")
@_submit_options
def score(
    model: str, model_path: Path, version: int | None, wait_s: float | None, **options: Any
) -> None:
    """Score MODEL's inference requests on the local Flink cluster (jobs/model_scoring)."""
    from common.models.artifact import ArtifactError
    from jobs.model_scoring import launch as scoring_launch
    from jobs.model_scoring.scoring import dashed

    config = _config()
    contract = _contract(model, version)
    try:
        job_id = scoring_launch.submit(
            config, contract, model_path, RunOptions(**options), on_progress=click.echo
        )
    except (ArtifactError, flink_client.FlinkJobError) as exc:
        raise click.ClickException(str(exc)) from exc
    _report_submitted(config, dashed(contract), job_id, wait_s)


# --- online lookup -------------------------------------------------------------------------------


@main.group("features")
def features_group() -> None:
    """The online store: the latest feature vector per entity (Redis)."""


@features_group.command("get")
@click.argument("view_name", metavar="VIEW")
@click.argument("key")
@click.option("--version", type=int, help="View version (default: the highest defined).")
@click.option(
    "--as-of",
    "as_of",
    default=None,
    metavar="TIME",
    help="Read time: ISO-8601 (2026-12-02T10:00:00Z) or epoch millis, not later than now "
    "(default: now).",
)
@click.option(
    "--at",
    "at",
    type=click.Choice(["read-time", "last-event"]),
    default="read-time",
    show_default=True,
    help="read-time: the features for a virtual event at the read time; last-event: the "
    "stored vector, as of the key's last event.",
)
def features_get(view_name: str, key: str, version: int | None, as_of: str | None, at: str) -> None:
    """Print KEY's features in VIEW as JSON, typed by the definitions: by default as of now
    (every window ends at the read time), or as of --as-of."""
    from common.models.serving import (
        BadRequest,
        check_as_of,
        parse_time,
        read_at,
        stored_vector_json,
        view_vector_json,
    )
    from common.online_store import OnlineStore, redis_key

    views = [v for v in _all_views() if v.name == view_name]
    if version is not None:
        views = [v for v in views if v.version == version]
    if not views:
        known = ", ".join(sorted({v.qualified_name for v in _all_views()}))
        raise click.ClickException(f"no feature view {view_name}; known: {known}")
    view = max(views, key=lambda v: v.version)
    store = OnlineStore.connect(_config())
    if at == "last-event":
        if as_of is not None:
            raise click.UsageError("--as-of applies to --at read-time only")
        vector = store.get(view.name, view.version, key)
        if vector is None:
            raise click.ClickException(
                f"no vector stored for {key!r} in {view.qualified_name} "
                f"(Redis key {redis_key(view.name, view.version, key)}): no event of it yet, or "
                "its TTL passed"
            )
        click.echo(json.dumps(stored_vector_json(view, vector), indent=2))
        return
    now_ms = time.time_ns() // 1_000_000
    try:
        at_ms = check_as_of(None if as_of is None else parse_time(as_of), now_ms)
    except BadRequest as exc:
        raise click.BadParameter(str(exc), param_hint="--as-of") from exc
    (read,) = read_at(store, [(view, key)], at_ms)
    click.echo(json.dumps(view_vector_json(view, key, read, now_ms), indent=2))


@main.command("serve")
@click.option("--host", default=DEFAULT_HOST, show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True)
@click.option(
    "--engine",
    type=click.Choice(["go", "stdlib"]),
    default="go",
    show_default=True,
    help="go: the production feature server (common/featureserver); stdlib: the Python "
    "reference server (GET /healthz, /models, /models/<model>/features only).",
)
@click.option(
    "--redis-url",
    default=None,
    help="The online store (default: the local stack's Redis; the chart passes onlineStore.url).",
)
@click.option("--redis-pool", type=click.IntRange(1), default=32, show_default=True)
@click.option(
    "--timeout-ms",
    type=click.IntRange(1),
    default=250,
    show_default=True,
    help="Redis deadline per request; past it the request gets 504.",
)
@click.option("--access-log/--no-access-log", default=True, show_default=True)
@click.option(
    "--drain-seconds",
    type=click.FloatRange(0),
    default=0.0,
    show_default=True,
    help="On SIGTERM, answer /readyz 503 this long before closing the listener.",
)
@click.option("--grace-seconds", type=click.FloatRange(0), default=10.0, show_default=True)
@click.option(
    "--cpuprofile",
    type=click.Path(dir_okay=False),
    default=None,
    hidden=True,
    help="Diagnostics: write the Go server's CPU profile here until it shuts down.",
)
def serve(
    host: str,
    port: int,
    engine: str,
    redis_url: str | None,
    redis_pool: int,
    timeout_ms: int,
    access_log: bool,
    drain_seconds: float,
    grace_seconds: float,
    cpuprofile: str | None,
) -> None:
    """Serve model and view feature vectors from the online store over HTTP.

    \b
    GET  /models/<model>/features?<entity keys>[&<event inputs>][&version=N]
    POST /models/<model>/features   {"rows": [{<entity keys>, <event inputs>}, ...]}  (<= 100)
    GET  /views/<view>/features?<entity key>=K[&version=N]
    POST /views/<view>/features     {"keys": ["K1", ...]}                              (<= 100)
    GET  /models, /healthz, /readyz, /metrics
    """
    config = _config()
    redis_url = redis_url or config.redis_url
    if engine == "stdlib":
        import redis

        from common.online_store import OnlineStore

        client = redis.Redis.from_url(redis_url, decode_responses=True)
        server = make_server(OnlineStore(client), host, port)
        click.echo(
            f"serving on http://{host}:{server.server_address[1]} (Redis {redis_url})",
            err=True,
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
        return
    from common.features.definitions import DefinitionError
    from common.local import feature_server
    from common.serving.plan import write_plan

    try:
        binary = feature_server.binary(config.cache_dir)
    except feature_server.BuildError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        plan = write_plan()
    except DefinitionError as exc:
        raise click.ClickException(f"cannot serve: {exc}") from exc
    args = [
        str(binary),
        f"-plan={plan}",
        f"-listen={host}:{port}",
        f"-redis-url={redis_url}",
        f"-redis-pool={redis_pool}",
        f"-timeout={timeout_ms}ms",
        f"-access-log={str(access_log).lower()}",
        f"-drain={drain_seconds}s",
        f"-grace={grace_seconds}s",
        *([f"-cpuprofile={cpuprofile}"] if cpuprofile else []),
    ]
    # exec: the server gets the container's signals (SIGTERM: drain, then shut down) directly.
    os.execv(args[0], args)


if __name__ == "__main__":
    main()
