"""Starting a job on the local cluster: schemas registered, topics created, submitted.

Used by ``featurestream run`` and ``featurestream offline`` and by the tests, so every path
starts jobs the same way. Jobs are feature jobs (``FeatureJob``) and the inference-request job
(``InferenceJob``, which also takes ``RunOptions.models``).
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from common import registry, topics
from common.config import StackConfig
from common.features import handoff
from common.features.output_schema import output_schema_text
from common.features.sql import FeatureJob
from common.generate.sinks import ensure_topic
from common.local import flink_client
from common.models.request_sql import InferenceJob
from common.runtime import runs
from common.schemas import DEAD_LETTER_SCHEMA, schema_text

Job = FeatureJob | InferenceJob

REPO_ROOT = Path(__file__).resolve().parents[2]
PLANNING_NICENESS = 10


@dataclass(frozen=True)
class RunOptions:
    """How to run a job (the ``featurestream run`` options).

    Attributes:
        parallelism: Task parallelism; None takes the cluster default.
        from_savepoint: Savepoint or retained checkpoint path to restore from.
        source_topic: Read this topic instead of the source's.
        topic_suffix: Appended to every output topic.
        startup: ``group`` (committed offsets, else earliest), ``earliest`` or ``latest``.
        bounded: Stop at the end offsets of the moment the job starts.
        online_store: Keep the Redis online store.
        group_id: Consumer group (default ``featurestream-<job>``).
        checkpoint_interval: Flink duration; exactly-once output is published per checkpoint;
            None takes the job's own default.
        models: Inference job only: serve just these models (default all).
        allow_non_restored_state: With ``from_savepoint``: skip state of removed operators.
        extra_args: Passed to the job driver as they are (``--watermark-interval 50 ms``).
        module: The driver module; default ``jobs.<job>.job`` (tests run changed versions).
        state_backend: ``heap`` (the local default: fast, state in the TaskManager's heap) or
            ``rocksdb`` (what the chart deploys: state on disk, incremental checkpoints).
    """

    parallelism: int | None = None
    from_savepoint: str | None = None
    source_topic: str | None = None
    topic_suffix: str = ""
    startup: str = "group"
    bounded: bool = False
    online_store: bool = True
    group_id: str | None = None
    checkpoint_interval: str | None = None
    models: tuple[str, ...] = ()
    allow_non_restored_state: bool = False
    extra_args: tuple[str, ...] = ()
    module: str | None = None
    state_backend: str = "heap"

    def kafka_job_args(self, config: StackConfig) -> list[str]:
        """Arguments every Kafka job module takes (``job.add_kafka_job_arguments``)."""
        args = [
            "--bootstrap-servers",
            config.bootstrap_servers,
            "--registry-url",
            config.registry_url,
            "--topic-suffix",
            self.topic_suffix,
            "--startup",
            self.startup,
        ]
        if self.checkpoint_interval:
            args += ["--checkpoint-interval", self.checkpoint_interval]
        if self.source_topic:
            args += ["--source-topic", self.source_topic]
        if self.bounded:
            args.append("--bounded")
        if self.group_id:
            args += ["--group-id", self.group_id]
        return args + list(self.extra_args)

    def job_args(self, config: StackConfig) -> list[str]:
        """Arguments for ``jobs/<job>/job.py`` of a feature job or the inference job."""
        args = [*self.kafka_job_args(config), "--redis-url", config.redis_url]
        args += ["--state-backend", self.state_backend]
        for model in self.models:
            args += ["--model", model]
        if not self.online_store:
            args.append("--no-online-store")
        return args


def output_topics(job: Job, suffix: str = "", models: tuple[str, ...] = ()) -> dict[str, str]:
    """Every output topic of ``job`` → the schema text of its values."""
    if isinstance(job, InferenceJob):
        return job.output_topics(job.select(models), suffix)
    if models:
        raise ValueError(f"{job.name} is a feature job: it has no models to choose")
    result = {topics.dead_letter_topic(job.name) + suffix: schema_text(DEAD_LETTER_SCHEMA)}
    for view in job.views:
        result[topics.feature_topic(view.name, view.version) + suffix] = output_schema_text(view)
    return result


def input_topics(job: Job, options: RunOptions) -> dict[str, str]:
    """Every topic ``job`` reads → its schema name."""
    if isinstance(job, InferenceJob):
        return job.input_topics(job.select(options.models), options.source_topic)
    return {options.source_topic or job.source.topic: job.source.schema}


def prepare(config: StackConfig, job: Job, options: RunOptions) -> None:
    """Register the sources' schemas and create the output topics (idempotent).

    The outputs' schemas are registered by the job itself before it starts
    (``common.features.job.register_sink_schemas``): an incompatible change is refused then,
    never in the middle of a run.
    """
    client = registry.client(config)
    for topic, schema in input_topics(job, options).items():
        # A missing input topic would fail the Kafka source over and over: create it empty.
        ensure_topic(config, topic)
        registry.ensure_registered(client, topic, schema)
    for topic in output_topics(job, options.topic_suffix, options.models):
        ensure_topic(config, topic)


def driver_module(job: Job, options: RunOptions) -> str:
    """The module ``flink run -pym`` runs for ``job``: ``options.module`` or ``jobs.<job>.job``."""
    return options.module or f"jobs.{job.name}.job"


def submit_module(
    config: StackConfig,
    module: str,
    args: list[str],
    options: RunOptions,
    ship_code: bool = False,
) -> str:
    """Submit the job module ``module`` (``jobs.<job>.job``) detached; its Flink job id.

    The driver runs here, importing the repository from its working directory; task managers
    import featurestream from the cluster's Python (the venv, which installs this checkout), so
    by default no code is shipped (``ship_code``: ``-pyfs``, which zips the whole checkout).
    """
    return flink_client.submit_python(
        config,
        module=module,
        args=args,
        parallelism=options.parallelism,
        from_savepoint=options.from_savepoint,
        allow_non_restored_state=options.allow_non_restored_state,
        cwd=REPO_ROOT,
        ship_cwd=ship_code,
    )


def submit(
    config: StackConfig,
    job: Job,
    options: RunOptions,
    on_progress: Callable[[str], None] = lambda _: None,
) -> str:
    """Prepare and submit ``job``; returns the Flink job id (the job runs detached)."""
    on_progress(f"registering schemas and creating topics for {job.name}")
    prepare(config, job, options)
    on_progress(f"submitting {job.name} to {config.flink_rest_url}")
    job_id = submit_module(config, driver_module(job, options), options.job_args(config), options)
    # How it was started, for the savepoint verbs (restart the same way) and listings.
    runs.record(config, job, job_id, options)
    return job_id


@dataclass
class PreparedStart:
    """A job driver that has planned its job and waits to be told to submit it (``handoff``)."""

    config: StackConfig
    job: Job
    options: RunOptions
    order: Path
    client: flink_client.PendingSubmission

    def start(self, savepoint: str | None, allow_non_restored_state: bool = False) -> str:
        """Submit now, from ``savepoint`` if given; the Flink job id."""
        handoff.order_start(self.order, savepoint, allow_non_restored_state)
        try:
            job_id = self.client.job_id(timeout_s=300)
        finally:
            self._clean()
        started = replace(
            self.options,
            from_savepoint=savepoint,
            allow_non_restored_state=allow_non_restored_state,
        )
        runs.record(self.config, self.job, job_id, started)
        return job_id

    def abort(self) -> None:
        """Tell the driver to exit without submitting (and make sure it does)."""
        handoff.order_abort(self.order)
        try:
            self.client.job_id(timeout_s=60)
        except flink_client.FlinkJobError:
            pass  # it printed no job id: what an aborted driver does
        finally:
            self.client.kill()
            self._clean()

    def _clean(self) -> None:
        for path in (self.order, handoff.ready_marker(self.order)):
            path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.order.parent.rmdir()


def prepare_start(
    config: StackConfig,
    job: Job,
    options: RunOptions,
    on_progress: Callable[[str], None] = lambda _: None,
    timeout_s: float = 300.0,
) -> PreparedStart:
    """Start ``job``'s driver and wait until it has planned the job, without submitting it.

    ``options.from_savepoint`` is ignored: the savepoint is given to ``PreparedStart.start``.

    Raises:
        flink_client.FlinkJobError: the driver failed (its output says why) or was not ready
            within ``timeout_s``.
    """
    on_progress(f"registering schemas and creating topics for {job.name}")
    prepare(config, job, options)
    on_progress(f"planning {job.name} (it is submitted once told)")
    order = Path(tempfile.mkdtemp(prefix="featurestream-start-")) / "order.json"
    client = flink_client.start_python(
        config,
        module=driver_module(job, options),
        args=[*options.job_args(config), "--await-start", str(order)],
        parallelism=options.parallelism,
        cwd=REPO_ROOT,
        ship_cwd=False,
        # The job it replaces still runs on the same cores: planning must not starve it.
        niceness=PLANNING_NICENESS,
    )
    try:
        handoff.await_ready(order, client.exited, timeout_s)
    except handoff.HandoffError as exc:
        text = client.output()
        client.kill()
        raise flink_client.FlinkJobError(f"{job.name}: {exc}\n{text[-4000:]}") from exc
    return PreparedStart(config, job, options, order, client)


def wait_finished(config: StackConfig, job_id: str, timeout_s: float = 600.0) -> float:
    """Wait for a bounded job to finish; its run time in seconds."""
    started = time.monotonic()
    flink_client.wait_for_state(config, job_id, "FINISHED", timeout_s=timeout_s)
    return time.monotonic() - started
