"""The chart's values, typed: the source of ``values.schema.json``.

``deploy/helm/featurestream-job/values.yaml`` holds the defaults (each key documented there).
Layering, later wins (decision 64): defaults < ``deploy/helm/env/<env>.yaml`` (the
environment's defaults) < ``jobs/<job>/values.yaml`` (the job's own tuning) <
``deploy/helm/env/<env>.force.yaml`` (what the environment imposes, optional) < ``--set`` flags.
Every layer is checked against this model (``extra="forbid"``: a misspelt key is an error, not
a silently ignored setting), by Helm itself through the generated ``values.schema.json`` and by
``featurestream deploy`` before it calls Helm.

Credentials are never values: the model only names Kubernetes Secrets, and URLs may not carry a
``user:password@`` part.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

CHART_DIR = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "featurestream-job"
SCHEMA_FILE = CHART_DIR / "values.schema.json"

# The operator refuses these in flinkConfiguration; it sets them itself.
FORBIDDEN_FLINK_KEYS = (
    "kubernetes.namespace",
    "kubernetes.cluster-id",
    "high-availability.cluster-id",
)

Duration = Annotated[
    str,
    Field(pattern=r"^[0-9]+ ?(ms|s|min|h|d)$", examples=["30 s", "10 min"]),
]
MemorySize = Annotated[str, Field(pattern=r"^[0-9]+(m|g|mb|gb)$", examples=["2048m", "4g"])]
SecretName = Annotated[str, Field(pattern=r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$", max_length=253)]
SecretKey = Annotated[str, Field(pattern=r"^[-._a-zA-Z0-9]+$")]
NO_USERINFO = r"[^@\s]+"  # a URL without user:password@: credentials come from Secrets


class _Values(BaseModel):
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True
    )


class Image(_Values):
    """The job image (``deploy/docker/Dockerfile``)."""

    repository: str = Field(min_length=1, description="Registry and repository of the job image.")
    tag: str = Field(min_length=1, description="Image tag: the featurestream release inside.")
    digest: str = Field(
        default="",
        pattern=r"^(sha256:[0-9a-f]{64})?$",
        description="sha256 digest; when set the image is pulled by digest.",
    )
    pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        default="IfNotPresent", description="Kubernetes imagePullPolicy."
    )
    require_digest: bool = Field(
        default=False,
        description="Refuse to render without a digest (prod: the release pipeline pins it).",
    )
    per_commit_tag: bool = Field(
        default=False,
        description="The image is pushed for every commit: `featurestream deploy` and `render` "
        "set the tag to sha-<commit> (dev).",
    )

    @model_validator(mode="after")
    def _digest_when_required(self) -> Image:
        if self.require_digest and not self.digest:
            raise ValueError(
                "image.requireDigest: this environment deploys by digest; pass "
                "--set image.digest=sha256:<64 hex> (the release pipeline's pinned digest)"
            )
        return self


class Job(_Values):
    """The feature job (``jobs/<name>``) and how the operator runs it."""

    name: str = Field(
        pattern=r"^[a-z][a-z0-9_]{0,30}$",
        description="Folder under jobs/ (snake_case, at most 31 characters, so that "
        "featurestream-<job-with-dashes> fits the operator's 45).",
    )
    parallelism: int = Field(default=2, ge=1, description="Task parallelism.")
    max_parallelism: int = Field(
        default=128,
        ge=1,
        le=32768,
        description="pipeline.max-parallelism (key groups). Fixed for the life of the job's "
        "state: a savepoint restores only into the same value.",
    )
    upgrade_mode: Literal["savepoint", "last-state", "stateless"] = Field(
        default="savepoint", description="How the operator carries state across a spec change."
    )
    state: Literal["running", "suspended"] = Field(
        default="running", description="suspended takes a savepoint and stops the job."
    )
    initial_savepoint_path: str = Field(
        default="", description="Savepoint to start from (first deploy, or with a new nonce)."
    )
    savepoint_redeploy_nonce: int | None = Field(
        default=None,
        ge=1,
        description="Change to redeploy from initialSavepointPath; null leaves it out.",
    )
    allow_non_restored_state: bool = Field(
        default=False, description="Start even if the savepoint has state no operator claims."
    )
    checkpoint_interval: Duration = Field(
        default="30 s", description="--checkpoint-interval: how often exactly-once output commits."
    )
    startup: Literal["group", "earliest", "latest"] = Field(
        default="group", description="--startup: where a job without state starts reading."
    )
    source_topic: str = Field(
        default="", description="--source-topic; empty reads the source's topic."
    )
    topic_suffix: str = Field(
        default="", description="--topic-suffix appended to every output topic."
    )
    group_id: str = Field(
        default="", description="--group-id; empty: featurestream-<job-with-dashes>."
    )
    bounded: bool = Field(
        default=False, description="--bounded: stop at the end offsets (backfills)."
    )
    args: list[str] = Field(
        default_factory=list,
        description="More driver arguments, appended as they are (the scoring job's --model and "
        "--model-path). Never a credential: those come from Secrets.",
    )


class KafkaCredentials(_Values):
    """A Secret with the SASL username and password."""

    name: SecretName = Field(default="", description="Secret name; empty: no SASL credentials.")
    username_key: SecretKey = Field(default="username", description="Key of the SASL username.")
    password_key: SecretKey = Field(default="password", description="Key of the SASL password.")


class Kafka(_Values):
    """The Kafka cluster the job reads and writes."""

    bootstrap_servers: str = Field(
        min_length=1, pattern=rf"^{NO_USERINFO}$", description="host:port[,host:port...]."
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="security.protocol."
    )
    sasl_mechanism: Literal["", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        default="", description="sasl.mechanism; empty without SASL."
    )
    credentials_secret: KafkaCredentials = Field(
        default_factory=KafkaCredentials, description="SASL credentials."
    )

    @model_validator(mode="after")
    def _sasl_consistent(self) -> Kafka:
        # The chart's templates refuse the same combinations (helm has no Python).
        sasl = self.security_protocol.startswith("SASL_")
        if sasl != bool(self.sasl_mechanism):
            raise ValueError("a SASL_ securityProtocol and a saslMechanism go together")
        if self.sasl_mechanism and not self.credentials_secret.name:
            raise ValueError("saslMechanism needs credentialsSecret.name")
        return self


class RegistryCredentials(_Values):
    """A Secret with the registry's basic-auth user info."""

    name: SecretName = Field(default="", description="Secret name; empty: no basic auth.")
    user_info_key: SecretKey = Field(
        default="user-info", description="Key holding <user>:<password>."
    )


class Registry(_Values):
    """The Confluent-compatible schema registry."""

    url: str = Field(pattern=rf"^https?://{NO_USERINFO}$", description="Registry API base URL.")
    credentials_secret: RegistryCredentials = Field(
        default_factory=RegistryCredentials, description="Basic auth."
    )


class OnlineStore(_Values):
    """The Redis online store."""

    enabled: bool = Field(default=True, description="Write the newest vector per entity to Redis.")
    url: str = Field(default="", pattern=rf"^(rediss?://{NO_USERINFO})?$", description="Redis URL.")


class Storage(_Values):
    """Durable storage for checkpoints, savepoints and HA metadata."""

    base_uri: str = Field(
        pattern=r"^[a-z][a-z0-9+.-]*://\S+[^/]$",
        description="Under it: <release>/checkpoints, <release>/savepoints, <release>/ha.",
    )


class Checkpoints(_Values):
    """Checkpointing beyond the interval."""

    retained: int = Field(default=3, ge=1, description="execution.checkpointing.num-retained.")
    timeout: Duration = Field(default="10 min", description="execution.checkpointing.timeout.")
    min_pause: Duration = Field(default="5 s", description="execution.checkpointing.min-pause.")
    savepoint_format: Literal["CANONICAL", "NATIVE"] = Field(
        default="CANONICAL", description="Format of the savepoints the operator takes."
    )


class RocksDB(_Values):
    """RocksDB's share of memory and its tuning profile (decision 62)."""

    managed_fraction: float = Field(
        default=0.4, gt=0.0, lt=1.0, description="taskmanager.memory.managed.fraction."
    )
    write_buffer_ratio: float = Field(
        default=0.5,
        gt=0.0,
        lt=1.0,
        description="state.backend.rocksdb.memory.write-buffer-ratio (the rest: block cache).",
    )
    predefined_options: Literal[
        "DEFAULT",
        "SPINNING_DISK_OPTIMIZED",
        "SPINNING_DISK_OPTIMIZED_HIGH_MEM",
        "FLASH_SSD_OPTIMIZED",
    ] = Field(default="DEFAULT", description="state.backend.rocksdb.predefined-options.")


class RestartStrategy(_Values):
    """Flink's exponential-delay restart strategy."""

    initial_backoff: Duration = Field(default="1 s", description="First restart delay.")
    max_backoff: Duration = Field(default="2 min", description="Longest restart delay.")
    backoff_multiplier: float = Field(default=2.0, ge=1.0, description="Delay growth per failure.")
    reset_backoff_threshold: Duration = Field(
        default="10 min", description="Running this long resets the delay."
    )
    jitter_factor: float = Field(
        default=0.1, ge=0.0, le=1.0, description="Random share of each delay."
    )


class HighAvailability(_Values):
    """Kubernetes HA of the JobManager (decision 64)."""

    enabled: bool = Field(
        default=True,
        description="Kubernetes HA; off only for throwaway clusters (no standby JobManagers, "
        "no last-state upgrades).",
    )


class JobManager(_Values):
    """The JobManager pods."""

    replicas: int = Field(default=1, ge=1, description="More than 1: standbys (Kubernetes HA).")
    cpu: float = Field(default=1.0, gt=0, description="CPU cores.")
    memory: MemorySize = Field(default="2048m", description="Process memory.")
    driver_memory_mb: int = Field(
        default=256,
        ge=0,
        le=8192,
        description="Memory kept outside Flink's budget for the PyFlink driver's Python process "
        "(rendered into jobmanager.memory.jvm-overhead.min/max on top of Flink's 192 MB).",
    )


class TaskManager(_Values):
    """The TaskManager pods."""

    cpu: float = Field(default=2.0, gt=0, description="CPU cores.")
    memory: MemorySize = Field(default="4096m", description="Process memory.")
    slots: int = Field(default=2, ge=1, description="taskmanager.numberOfTaskSlots.")


class PodMonitor(_Values):
    """The Prometheus Operator PodMonitor."""

    enabled: bool = Field(default=True, description="Render a PodMonitor.")
    interval: str = Field(
        default="30s", pattern=r"^[0-9]+(ms|s|m|h)$", description="Scrape interval."
    )
    labels: dict[str, str] = Field(default_factory=dict, description="Extra labels.")


class Metrics(_Values):
    """The Prometheus metrics reporter."""

    port: int = Field(default=9249, ge=1024, le=65535, description="metrics.reporter.prom.port.")
    pod_monitor: PodMonitor = Field(default_factory=PodMonitor, description="Scraping.")


PromDuration = Annotated[str, Field(pattern=r"^[0-9]+(s|m|h)$", examples=["5m", "1h"])]
RUNBOOK_URL = "https://git.featurestream.invalid/featurestream/blob/main/README.md"


class Freshness(_Values):
    """Freshness: p99 event-time lag of emitted feature rows (``featureEmitLagMsHistogram``)."""

    enabled: bool = Field(
        default=True,
        description="Alert on freshness: jobs whose views run WindowFeatures (feature and "
        "request jobs), not model_scoring.",
    )
    p99_seconds: float = Field(
        default=30.0, gt=0, description="Objective: p99 emit lag of the worst subtask and view."
    )
    for_: PromDuration = Field(
        default="5m", alias="for", description="How long the p99 must exceed it to alert."
    )


class DeadLetters(_Values):
    """Dead-letter ratio: dead letters over records read (multi-window burn-rate alerts)."""

    enabled: bool = Field(default=True, description="Alert on the dead-letter budget.")
    max_percent: float = Field(
        default=0.1,
        gt=0,
        lt=100,
        description="Objective: dead letters at most this percentage of records read over 30 days.",
    )


class CheckpointSlo(_Values):
    """Checkpoint success and duration."""

    max_failed_per_hour: int = Field(
        default=1, ge=0, description="Alert when more checkpoints failed in the last hour."
    )
    max_duration_seconds: float = Field(
        default=60.0, gt=0, description="Alert when the last checkpoint took longer for 15m."
    )


class RestartSlo(_Values):
    """Job restarts."""

    max_per_hour: int = Field(
        default=2, ge=0, description="Alert when the job restarted more often in the last hour."
    )


class Drift(_Values):
    """Feature drift in the scoring job: PSI and null-rate rise of each input against the
    model's training profile (``common.models.profile``), over its last scored rows."""

    enabled: bool = Field(
        default=False,
        description="Alert on drift: model_scoring only (it sees every request's inputs).",
    )
    max_psi: float = Field(default=0.25, gt=0, description="Objective: PSI of each input at most.")
    max_null_rise: float = Field(
        default=0.1,
        gt=0,
        le=1,
        description="Objective: each input's null rate at most this much above training.",
    )
    for_: PromDuration = Field(
        default="30m", alias="for", description="How long a breach must last to alert."
    )


class Dashboard(_Values):
    """The Grafana dashboard ConfigMap."""

    enabled: bool = Field(default=True, description="Render the dashboard ConfigMap.")
    labels: dict[str, str] = Field(
        default_factory=dict, description='Extra labels (grafana_dashboard: "1" is always set).'
    )


class Slo(_Values):
    """Service level objectives: compiled into a PrometheusRule and a Grafana dashboard."""

    enabled: bool = Field(
        default=True, description="Render the PrometheusRule (and the dashboard, if enabled)."
    )
    runbook_url: str = Field(
        default=RUNBOOK_URL,
        pattern=rf"^https?://{NO_USERINFO}$",
        description="README.md's address; alerts link to its 'Operating a job' anchors.",
    )
    rule_labels: dict[str, str] = Field(
        default_factory=dict, description="Extra labels of the PrometheusRule (ruleSelector)."
    )
    freshness: Freshness = Field(default_factory=Freshness)
    dead_letters: DeadLetters = Field(default_factory=DeadLetters)
    checkpoints: CheckpointSlo = Field(default_factory=CheckpointSlo)
    restarts: RestartSlo = Field(default_factory=RestartSlo)
    drift: Drift = Field(default_factory=Drift)
    dashboard: Dashboard = Field(default_factory=Dashboard)


class Snapshot(_Values):
    """A manual savepoint as a FlinkStateSnapshot (``featurestream savepoint``)."""

    enabled: bool = Field(default=False, description="Render the FlinkStateSnapshot.")
    name: str = Field(
        default="",
        pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$",
        max_length=17,
        description="Suffix.",
    )
    format_type: Literal["CANONICAL", "NATIVE"] = Field(default="CANONICAL", description="Format.")
    dispose_on_delete: bool = Field(
        default=False, description="Delete the files with the resource."
    )
    backoff_limit: int = Field(default=1, ge=0, description="Retries of a failed snapshot.")
    annotations: dict[str, str] = Field(default_factory=dict, description="Recorded metadata.")


class ChartValues(_Values):
    """Every value of the featurestream-job chart."""

    environment: str = Field(
        pattern=r"^[a-z][a-z0-9-]{0,19}$", description="Environment name (the overlay's)."
    )
    image: Image
    job: Job
    kafka: Kafka
    registry: Registry
    online_store: OnlineStore = Field(default_factory=OnlineStore)
    storage: Storage
    checkpoints: Checkpoints = Field(default_factory=Checkpoints)
    rocksdb: RocksDB = Field(default_factory=RocksDB)
    restart_strategy: RestartStrategy = Field(default_factory=RestartStrategy)
    high_availability: HighAvailability = Field(default_factory=HighAvailability)
    job_manager: JobManager = Field(default_factory=JobManager)
    task_manager: TaskManager = Field(default_factory=TaskManager)
    service_account: str = Field(
        default="flink",
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="Service account of the Flink pods (created by the operator's chart).",
    )
    metrics: Metrics = Field(default_factory=Metrics)
    slo: Slo = Field(default_factory=Slo)
    snapshot: Snapshot = Field(default_factory=Snapshot)
    state_lock: str = Field(
        default="",
        description="jobs/<job>/state.lock.json, set by featurestream deploy (--set-file); "
        "rendered as an annotation so check-upgrade --target k8s compares with what runs.",
    )
    flink_configuration: dict[str, str] = Field(
        default_factory=dict,
        description="Extra Flink configuration; not a key the chart or the operator sets.",
        json_schema_extra={"propertyNames": {"not": {"enum": list(FORBIDDEN_FLINK_KEYS)}}},
    )

    @model_validator(mode="after")
    def _operator_would_accept_but_flink_refuse(self) -> ChartValues:
        # The chart's templates refuse the same combinations (helm has no Python).
        if self.job.parallelism > self.job.max_parallelism:
            raise ValueError(
                f"job.parallelism {self.job.parallelism} is above job.maxParallelism "
                f"{self.job.max_parallelism}: Flink would refuse the job at submission"
            )
        if not self.high_availability.enabled:
            if self.job.upgrade_mode == "last-state":
                raise ValueError(
                    "job.upgradeMode last-state needs highAvailability.enabled: without HA the "
                    "operator cannot find the latest checkpoint"
                )
            if self.job_manager.replicas > 1:
                raise ValueError(
                    "jobManager.replicas > 1 (standbys) needs highAvailability.enabled"
                )
        return self

    @field_validator("flink_configuration")
    @classmethod
    def _no_forbidden_keys(cls, value: dict[str, str]) -> dict[str, str]:
        forbidden = sorted(set(value) & set(FORBIDDEN_FLINK_KEYS))
        if forbidden:
            raise ValueError(f"the operator sets these itself: {', '.join(forbidden)}")
        return value


def json_schema() -> dict[str, Any]:
    """``values.schema.json``: the model as JSON Schema (draft 2020-12, as Helm 3.18+ reads)."""
    schema = ChartValues.model_json_schema(by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def schema_text() -> str:
    """The text of ``values.schema.json`` (stable: sorted keys, trailing newline)."""
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
