"""Compiling a feature job (views over one source) to Flink SQL.

The same text runs streaming (``featurestream run``) and over bounded history
(``featurestream offline``): only the source's bounds and the sinks differ, so offline rows are
what the stream produced. Shape of a job (see ``docs/design/feature-jobs.md``)::

    source_events (Kafka, featurestream-avro: one decode, bad bytes flagged, native watermark)
      └─ classified: reject_reason = decode error | late | null_key | invalid_value | NULL
           ├─ rejected rows ─────────────────────────────► dead_letters (dlq.<job>)
           └─ per view: inputs_<view> → fs_window_<view>_v<N> (one-pass window function)
                └─ window_<view>: feature rows and reject rows (late_after_restore)
                     ├─ reject rows ──────────────────────► dead_letters (dlq.<job>)
                     └─ features_<view>: ids, time, features, derived ─► feature topic, Redis

Identifiers are backquoted throughout (``sequence`` and friends are reserved words).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta

from common import topics
from common.features import read_time
from common.features.columns import feature_kind, source_columns
from common.features.definitions import (
    DefinitionError,
    Derived,
    FeatureView,
    Source,
)
from common.features.output_schema import output_schema_text
from common.features.spec import input_columns, window_spec_json
from common.schemas import DEAD_LETTER_SCHEMA, schema_text

LATE = "late"
FUTURE_EVENT_TIME = "future_event_time"
KEY_TOO_LONG = "key_too_long"
LATE_AFTER_RESTORE = "late_after_restore"
NULL_KEY = "null_key"
INVALID_VALUE = "invalid_value"
"""Dead-letter reasons decided in SQL and in the window function (decode reasons come from the
format)."""
POSITION_COLUMNS = ("src_partition", "src_offset")
"""Source position columns every window function reads (its reject rows carry them)."""


@dataclass(frozen=True)
class FeatureJob:
    """A feature job: views of one source, deployed and scaled together.

    Attributes:
        name: snake_case job name (``payment_features``); topics and ids derive from it.
        views: The feature views, all over the same ``Source``.
    """

    name: str
    views: tuple[FeatureView, ...]

    def __post_init__(self) -> None:
        if not self.views:
            raise DefinitionError(f"job {self.name!r}: no views")
        sources = {v.source for v in self.views}
        if len(sources) != 1:
            raise DefinitionError(f"job {self.name!r}: views read different sources")
        qualified = [v.qualified_name for v in self.views]
        if len(set(qualified)) != len(qualified):
            raise DefinitionError(f"job {self.name!r}: a view version appears twice")

    @property
    def source(self) -> Source:
        """The one source all views read."""
        return self.views[0].source

    @property
    def dashed(self) -> str:
        """``featurestream-<job>`` with dashes: consumer group and transactional-id prefix."""
        return "featurestream-" + self.name.replace("_", "-")


@dataclass(frozen=True)
class JobSettings:
    """Where a compiled job reads and writes, and how.

    Attributes:
        bootstrap_servers: Kafka bootstrap servers.
        registry_url: Confluent-compatible schema registry URL.
        redis_url: Online store; None leaves the Redis sinks out (offline runs).
        source_topic: Overrides the source's topic (tests, offline replays).
        topic_suffix: Appended to every output topic (tests, offline runs).
        startup: ``earliest``, ``latest`` or ``group`` (committed offsets, else earliest).
        bounded: Stop at the offsets that are the latest when the job starts. The watermark
            then waits for the end of the input (nothing is late; decision 51) unless
            ``streaming_watermark``.
        streaming_watermark: With ``bounded``, keep the streaming watermark (late rows are
            dead letters, as in streaming): for benchmarks of streaming behaviour.
        group_id: Consumer group; default ``featurestream-<job>``.
        kafka_properties: Extra Kafka client properties for every Kafka table (SASL, TLS),
            without the ``properties.`` prefix; see ``common.credentials``.
        registry_user_info: ``<user>:<password>`` for the registry's basic auth, or None.
        sink_guarantee: ``exactly-once`` (every product output) or ``at-least-once``, which
            only the fault tests use, to show that their duplicate check catches it.
    """

    bootstrap_servers: str
    registry_url: str
    redis_url: str | None = None
    source_topic: str | None = None
    topic_suffix: str = ""
    startup: str = "group"
    bounded: bool = False
    streaming_watermark: bool = False
    group_id: str | None = None
    kafka_properties: dict[str, str] = field(default_factory=dict)
    registry_user_info: str | None = None
    sink_guarantee: str = "exactly-once"


@dataclass
class CompiledJob:
    """The SQL of one job: functions to register, statements to run, inserts to submit."""

    window_functions: dict[str, str] = field(default_factory=dict)
    """function name → window spec JSON (one ``WindowFeatures`` instance each)."""
    statements: list[str] = field(default_factory=list)
    inserts: list[str] = field(default_factory=list)
    feature_topics: dict[str, str] = field(default_factory=dict)
    """qualified view name → its feature topic."""
    dead_letter_topic: str = ""
    sink_schemas: dict[str, str] = field(default_factory=dict)
    """output topic → the Avro schema text its sink writes with."""
    registry_url: str = ""

    def text(self) -> str:
        """Everything as one SQL script (golden files, ``--explain``)."""
        header = [
            f"-- window function {name}: dev.featurestream.flink.WindowFeatures('{spec}')"
            for name, spec in self.window_functions.items()
        ]
        return "\n".join(header) + "\n\n" + ";\n\n".join(self.statements + self.inserts) + ";\n"


def quote(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _interval(delta: timedelta) -> str:
    """A day-to-second interval literal (exact to the millisecond, any length)."""
    millis = round(delta.total_seconds() * 1000)
    days, rest = divmod(millis, 86_400_000)
    hours, rest = divmod(rest, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, ms = divmod(rest, 1000)
    return f"INTERVAL '{days} {hours:02}:{minutes:02}:{seconds:02}.{ms:03}' DAY TO SECOND(3)"


def _duration_text(delta: timedelta) -> str:
    """``5 min``, ``30 s``, ``1500 ms``: a duration for messages."""
    millis = round(delta.total_seconds() * 1000)
    for unit, size in (("h", 3_600_000), ("min", 60_000), ("s", 1000)):
        if millis % size == 0:
            return f"{millis // size} {unit}"
    return f"{millis} ms"


def with_options(options: dict[str, str]) -> str:
    """A ``WITH (...)`` clause of connector options."""
    body = ",\n".join(f"  {quote(k)} = {quote(v)}" for k, v in options.items())
    return f"WITH (\n{body}\n)"


def kafka_table_options(options: dict[str, str], settings: JobSettings) -> dict[str, str]:
    """A Kafka table's WITH options plus the deployment's client properties and registry auth.

    Every Kafka table goes through here, so credentials reach the source and all sinks alike.
    The option keys are the ones Flink masks in its logs and errors (``jaas.config``,
    ``basic-auth``).
    """
    merged = dict(options)
    for key, value in settings.kafka_properties.items():
        merged[f"properties.{key}"] = value
    if settings.registry_user_info:
        value_format = options["value.format"]
        if value_format == "avro-confluent":
            merged["value.avro-confluent.basic-auth.credentials-source"] = "USER_INFO"
        merged[f"value.{value_format}.basic-auth.user-info"] = settings.registry_user_info
    return merged


def startup_options(settings: JobSettings) -> dict[str, str]:
    """Kafka source options for ``settings.startup`` and ``settings.bounded``."""
    if settings.startup == "group":
        options = {
            "scan.startup.mode": "group-offsets",
            "properties.auto.offset.reset": "earliest",
        }
    elif settings.startup in ("earliest", "latest"):
        options = {"scan.startup.mode": f"{settings.startup}-offset"}
    else:
        raise ValueError(f"startup {settings.startup!r}: use earliest, latest or group")
    if settings.bounded:
        options["scan.bounded.mode"] = "latest-offset"
    return options


SINK_PRODUCER_PROPERTIES = {
    "properties.linger.ms": "20",
    "properties.batch.size": "131072",
}
"""Kafka producer settings of every featurestream sink: 20 ms linger and 128 KB batches took a
pass-through job from 51k to 64k events/s here (``bench/io_ceiling.py``); lz4 gained nothing on
top (decision 61)."""


def exactly_once_sink_options(
    settings: JobSettings,
    topic: str,
    transactional_id_prefix: str,
    schema: str,
    key_field: str | None = None,
) -> dict[str, str]:
    """An exactly-once Kafka sink writing Confluent wire-format Avro values with the schema
    text ``schema`` (and the raw ``key_field`` as key): the options every featurestream output
    has.

    Values go through the ``featurestream-avro`` format, which looks the schema id up once per
    task (Flink's ``avro-confluent`` asks its registry client for it on every record: a fifth
    of a pass-through job's CPU, decision 61); the bytes are the same. Producers batch as
    ``SINK_PRODUCER_PROPERTIES`` says: records become visible at the checkpoint's commit anyway.
    Transactions commit with each checkpoint; consumers read ``read_committed``.
    ``settings.sink_guarantee`` ``at-least-once`` (fault tests only) drops the transactions.
    """
    if settings.sink_guarantee not in ("exactly-once", "at-least-once"):
        raise ValueError(f"sink guarantee {settings.sink_guarantee!r}")
    options = {
        "connector": "kafka",
        "topic": topic,
        "properties.bootstrap.servers": settings.bootstrap_servers,
        "sink.delivery-guarantee": settings.sink_guarantee,
    }
    if settings.sink_guarantee == "exactly-once":
        options["properties.transaction.timeout.ms"] = "900000"
        options["sink.transactional-id-prefix"] = transactional_id_prefix
    if key_field:
        options.update({"key.format": "raw", "key.fields": key_field})
    options.update(SINK_PRODUCER_PROPERTIES)
    options.update(
        {
            "value.format": "featurestream-avro",
            "value.featurestream-avro.url": settings.registry_url,
            "value.featurestream-avro.schema": schema,
            "value.featurestream-avro.subject": f"{topic}-value",
        }
    )
    if key_field:
        options["value.fields-include"] = "ALL"
    return options


def kafka_table(name: str, columns: str, options: dict[str, str], settings: JobSettings) -> str:
    """``CREATE TABLE`` of a Kafka table, credentials added (``kafka_table_options``)."""
    return (
        f"CREATE TABLE `{name}` (\n  {columns}\n) "
        f"{with_options(kafka_table_options(options, settings))}"
    )


@dataclass(frozen=True)
class Names:
    """SQL names of one pipeline (source → dead letters, views) within a job.

    A job with several pipelines (the inference job: one per model) gives each a ``prefix``;
    a feature job has one pipeline and no prefix. The prefix also keeps window-function uids
    (which key their state in savepoints) apart.
    """

    prefix: str = ""

    @property
    def source(self) -> str:
        """The Kafka source table."""
        return f"{self.prefix}source_events"

    @property
    def classified(self) -> str:
        """The source rows with their reject reason."""
        return f"{self.prefix}classified"

    @property
    def dead_letters(self) -> str:
        """The dead-letter sink table."""
        return f"{self.prefix}dead_letters"

    @property
    def window_dead_letters(self) -> str:
        """The dead-letter sink of the window functions' reject rows."""
        return f"{self.prefix}window_dead_letters"

    @property
    def dashed(self) -> str:
        """The prefix in transactional ids: ``payment-fraud-v1-`` (empty without prefix)."""
        return self.prefix.strip("_").replace("_", "-") + "-" if self.prefix else ""

    def inputs(self, view: FeatureView) -> str:
        """The rows a view's window function reads."""
        return f"{self.prefix}inputs_{view.name}_v{view.version}"

    def window(self, view: FeatureView) -> str:
        """A view's window-function output: feature rows and reject rows."""
        return f"{self.prefix}window_{view.name}_v{view.version}"

    def features(self, view: FeatureView) -> str:
        """A view's per-event feature rows: ``features_<view>_v<N>``."""
        return f"{self.prefix}features_{view.name}_v{view.version}"

    def function(self, view: FeatureView) -> str:
        """A view's window function: ``fs_window_<view>_v<N>``."""
        return f"fs_window_{self.prefix}{view.name}_v{view.version}"

    def uid(self, view: FeatureView) -> str:
        """The window function call's uid (its state in savepoints): ``<view>_v<N>``."""
        return f"{self.prefix}{view.name}_v{view.version}"


def function_name(view: FeatureView) -> str:
    """The window function of a view in a feature job: ``fs_window_<view>_v<N>``."""
    return Names().function(view)


def feature_table(view: FeatureView) -> str:
    """The SQL name of a view's feature rows in a feature job: ``features_<view>_v<N>``."""
    return Names().features(view)


@dataclass(frozen=True)
class Carried:
    """A source expression carried through a view's window function to its feature rows."""

    column: str
    expression: str


def output_columns(view: FeatureView) -> list[tuple[str, str]]:
    """(name, SQL type) of a view's output rows, in order (matches ``output_schema``)."""
    key = view.entity.key
    columns = [
        ("event_id", "STRING NOT NULL"),
        (key, "STRING NOT NULL"),
        ("event_time", "TIMESTAMP(3) NOT NULL"),
    ]
    columns += [(f.name, feature_kind(view, f)) for f in view.output_features]
    columns += [("feature_view", "STRING NOT NULL"), ("feature_view_version", "INT NOT NULL")]
    return columns


def watermark_clause(source: Source, bounded: bool) -> str:
    """The source's watermark: max event time minus the allowed out-of-orderness, streaming.

    A bounded run's watermark stays unset until the end of its input, when the source emits
    the final watermark: every event is folded, in event-time order, whatever the input order
    (decision 51).
    """
    t = f"`{source.event_time}`"
    if bounded:
        return f"WATERMARK FOR {t} AS CAST(NULL AS TIMESTAMP(3))"
    # An event too far in the future leaves the watermark where it is (a null watermark is no
    # watermark); the classification sends it to the dead letters.
    return (
        f"WATERMARK FOR {t} AS CASE WHEN {_future(source)} THEN CAST(NULL AS TIMESTAMP(3)) "
        f"ELSE {t} - {_interval(source.max_out_of_orderness)} END"
    )


def _future(source: Source) -> str:
    """The condition of an event time too far ahead of the wall clock (``max_future_skew``)."""
    return f"`{source.event_time}` > LOCALTIMESTAMP + {_interval(source.max_future_skew)}"


def source_ddl(job: FeatureJob, settings: JobSettings, names: Names = Names()) -> str:
    """The Kafka source table of ``job`` (featurestream-avro: bad values flagged, not thrown)."""
    source = job.source
    columns = source_columns(source.schema)
    column_names = [c.name for c in columns]
    for required in (source.event_time, source.id_column, *(v.entity.key for v in job.views)):
        if required not in column_names:
            raise DefinitionError(
                f"job {job.name!r}: column {required!r} is not in schema {source.schema!r}"
            )
    lines = ["`raw_key` BYTES"]
    lines += [c.ddl for c in columns]
    lines += [
        "`decode_error` STRING",
        "`raw_value` BYTES",
        "`src_topic` STRING METADATA FROM 'topic' VIRTUAL",
        "`src_partition` INT METADATA FROM 'partition' VIRTUAL",
        "`src_offset` BIGINT METADATA FROM 'offset' VIRTUAL",
        "`src_timestamp` TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL",
        watermark_clause(source, settings.bounded and not settings.streaming_watermark),
    ]
    options = {
        "connector": "kafka",
        "topic": settings.source_topic or source.topic,
        "properties.bootstrap.servers": settings.bootstrap_servers,
        "properties.group.id": settings.group_id or job.dashed,
        "properties.isolation.level": "read_committed",
        "key.format": "raw",
        "key.fields": "raw_key",
        "value.format": "featurestream-avro",
        "value.featurestream-avro.schema": schema_text(source.schema),
        "value.featurestream-avro.url": settings.registry_url,
        "value.fields-include": "EXCEPT_KEY",
    }
    if source.idle_timeout is not None:
        options["scan.watermark.idle-timeout"] = (
            f"{round(source.idle_timeout.total_seconds() * 1000)} ms"
        )
        # An idle source subtask that wakes up behind the others would see rows through the
        # late split that the window functions' (merged) watermark has passed, and Flink drops
        # those silently. One source subtask gives every window function its watermark in
        # order with its rows (decision 51).
        options["scan.parallelism"] = "1"
    options.update(startup_options(settings))
    return kafka_table(names.source, ",\n  ".join(lines), options, settings)


def classified_view(job: FeatureJob, names: Names = Names()) -> str:
    """Every source row with its reject reason (NULL for good rows)."""
    source = job.source
    t = f"`{source.event_time}`"
    keys = list(dict.fromkeys(v.entity.key for v in job.views))
    null_key = " OR ".join(f"`{k}` IS NULL OR CHAR_LENGTH(TRIM(`{k}`)) = 0" for k in keys)
    too_long = " OR ".join(
        f"CHAR_LENGTH(`{k}`) > {source.max_key_length}"
        for k in dict.fromkeys([*keys, source.id_column])
    )
    checks = " OR ".join(f"({check}) IS NOT TRUE" for check in source.checks) or "FALSE"
    reason = (
        "CASE\n"
        "    WHEN `decode_error` IS NOT NULL THEN `decode_error`\n"
        f"    WHEN {_future(source)} THEN '{FUTURE_EVENT_TIME}'\n"
        f"    WHEN {t} <= CURRENT_WATERMARK({t}) THEN '{LATE}'\n"
        f"    WHEN {null_key} THEN '{NULL_KEY}'\n"
        f"    WHEN {too_long} THEN '{KEY_TOO_LONG}'\n"
        f"    WHEN {checks} THEN '{INVALID_VALUE}'\n"
        "  END"
    )
    return (
        f"CREATE TEMPORARY VIEW `{names.classified}` AS\n"
        f"SELECT *, {reason} AS `reject_reason`\nFROM `{names.source}`"
    )


def dead_letter_ddl(
    job: FeatureJob,
    settings: JobSettings,
    topic: str,
    names: Names = Names(),
    windows: bool = False,
) -> str:
    """A dead-letter sink (exactly-once, ``dead_letter.avsc``): the job's, or with ``windows``
    the one its window functions' reject rows go to.

    Both write ``topic``, with their own transactional ids. The window functions' rejects have
    a sink of their own so that the job's plan keeps the node ids (and thereby the operator
    uids savepoints are keyed by) it had before they existed.
    """
    table = names.window_dead_letters if windows else names.dead_letters
    prefix = f"{job.dashed}-{names.dashed}dlq" + ("-windows" if windows else "")
    options = exactly_once_sink_options(settings, topic, prefix, schema_text(DEAD_LETTER_SCHEMA))
    return (
        f"CREATE TABLE `{table}` (\n"
        "  `source_topic` STRING NOT NULL,\n"
        "  `source_partition` INT NOT NULL,\n"
        "  `source_offset` BIGINT NOT NULL,\n"
        "  `job` STRING NOT NULL,\n"
        "  `reason` STRING NOT NULL,\n"
        "  `message` STRING NOT NULL,\n"
        "  `raw_key` BYTES,\n"
        "  `raw_value` BYTES,\n"
        "  `source_timestamp` TIMESTAMP(3),\n"
        "  `dead_letter_time` TIMESTAMP(3) NOT NULL,\n"
        "  `feature_view` STRING\n"
        f") {with_options(kafka_table_options(options, settings))}"
    )


def dead_letter_insert(job: FeatureJob, names: Names = Names()) -> str:
    """Rows the job rejected (decode, late, key, checks), with reason and message, into the
    dead-letter sink (and counted)."""
    t = f"`{job.source.event_time}`"
    message = (
        "CASE `reject_reason`\n"
        f"    WHEN '{LATE}' THEN 'event time ' || CAST({t} AS STRING) || "
        f"' is not after the watermark ' || COALESCE(CAST(CURRENT_WATERMARK({t}) AS STRING), '')\n"
        f"    WHEN '{FUTURE_EVENT_TIME}' THEN 'event time ' || CAST({t} AS STRING) || "
        f"' is more than {_duration_text(job.source.max_future_skew)} after the wall clock "
        "when read (' || CAST(LOCALTIMESTAMP AS STRING) || ')'\n"
        f"    WHEN '{NULL_KEY}' THEN 'an entity key is null or empty'\n"
        f"    WHEN '{KEY_TOO_LONG}' THEN 'an entity key or the event id is longer than "
        f"{job.source.max_key_length} characters'\n"
        f"    WHEN '{INVALID_VALUE}' THEN 'a value check failed: "
        + "; ".join(c.replace("'", "''") for c in job.source.checks)
        + "'\n"
        "    ELSE 'value could not be decoded: ' || `reject_reason`\n"
        "  END"
    )
    return (
        f"INSERT INTO `{names.dead_letters}`\n"
        "SELECT `src_topic`, `src_partition`, `src_offset`, "
        f"{quote(job.name)}, fs_count_dead_letter(`reject_reason`), {message},\n"
        "  `raw_key`, `raw_value`, CAST(`src_timestamp` AS TIMESTAMP(3)), "
        "CAST(LOCALTIMESTAMP AS TIMESTAMP(3)), CAST(NULL AS STRING)\n"
        f"FROM `{names.classified}` WHERE `reject_reason` IS NOT NULL"
    )


def window_dead_letter_insert(job: FeatureJob, source_topic: str, names: Names = Names()) -> str:
    """Rows the views' window functions returned unfolded (``late_after_restore``) into their
    own dead-letter sink (``window_dead_letter_ddl``), one INSERT for all views.

    ``source_topic``: the topic the job reads (reject rows carry partition and offset only).
    """
    selects = [
        f"SELECT {quote(source_topic)}, `reject_partition`, `reject_offset`, "
        f"{quote(job.name)}, fs_count_dead_letter(`reject_reason`), `reject_message`,\n"
        "  CAST(NULL AS BYTES), CAST(NULL AS BYTES), CAST(NULL AS TIMESTAMP(3)), "
        f"CAST(LOCALTIMESTAMP AS TIMESTAMP(3)), {quote(view.qualified_name)}\n"
        f"FROM `{names.window(view)}` WHERE `reject_reason` IS NOT NULL"
        for view in job.views
    ]
    return f"INSERT INTO `{names.window_dead_letters}`\n" + "\nUNION ALL\n".join(selects)


def view_statements(
    view: FeatureView,
    names: Names = Names(),
    carry: tuple[Carried, ...] = (),
    emit_inputs: bool = False,
) -> list[str]:
    """The window-function input, its output and the feature rows of ``view`` (with ``carry``
    at the end, then, with ``emit_inputs``, the event's ``in_<n>`` values for the online
    store's event log)."""
    source = view.source
    key = view.entity.key
    carried = {c.column for c in carry}
    inputs = ", ".join(
        [f"{c.expression} AS `{c.column}`" for c in input_columns(view)]
        + [f"{c.expression} AS `{c.column}`" for c in carry]
        + [f"`{column}`" for column in POSITION_COLUMNS if column not in carried]
    )
    inputs_view = (
        f"CREATE TEMPORARY VIEW `{names.inputs(view)}` AS\n"
        f"SELECT `{key}`, `{source.id_column}`, `{source.event_time}`, {inputs}"
        f"\nFROM `{names.classified}` WHERE `reject_reason` IS NULL"
    )
    window_view = (
        f"CREATE TEMPORARY VIEW `{names.window(view)}` AS\n"
        f"SELECT * FROM {names.function(view)}(\n"
        f"  input => TABLE `{names.inputs(view)}` PARTITION BY `{key}`,\n"
        f"  on_time => DESCRIPTOR(`{source.event_time}`),\n"
        f"  uid => {quote(names.uid(view))})"
    )
    selected = []
    for feature in view.output_features:
        if isinstance(feature, Derived):
            selected.append(f"CAST({feature.expression} AS DOUBLE) AS `{feature.name}`")
        else:
            selected.append(f"`{feature.name}`")
    selected += [f"`{c.column}`" for c in carry]
    logged = [f"`{c.column}`" for c in input_columns(view)] if emit_inputs else []
    features_view = (
        f"CREATE TEMPORARY VIEW `{names.features(view)}` AS\n"
        f"SELECT `{source.id_column}` AS `event_id`, `{key}`, `rowtime` AS `event_time`,\n  "
        + ",\n  ".join(selected)
        + f",\n  {quote(view.name)} AS `feature_view`, {view.version} AS `feature_view_version`"
        + "".join(f", {column}" for column in logged)
        + f"\nFROM `{names.window(view)}` WHERE `reject_reason` IS NULL"
    )
    return [inputs_view, window_view, features_view]


def _feature_sink_ddl(job: FeatureJob, view: FeatureView, settings: JobSettings, topic: str) -> str:
    columns = ",\n  ".join(f"`{name}` {sql}" for name, sql in output_columns(view))
    prefix = f"{job.dashed}-{view.name.replace('_', '-')}-v{view.version}"
    options = exactly_once_sink_options(
        settings, topic, prefix, output_schema_text(view), key_field=view.entity.key
    )
    return kafka_table(f"sink_{feature_table(view)}", columns, options, settings)


def _logged(view: FeatureView) -> list[str]:
    """The ``in_<n>`` columns the online store logs per event: those of read-time views."""
    return [c.column for c in input_columns(view)] if view.read_time else []


def _online_columns(view: FeatureView) -> list[tuple[str, str]]:
    """The online sink's columns: the vector's, then the event-log inputs."""
    kinds = {c.column: c.kind for c in input_columns(view)}
    return [
        (name, sql)
        for name, sql in output_columns(view)
        if name not in ("feature_view", "feature_view_version")
    ] + [(column, kinds[column]) for column in _logged(view)]


def _online_sink_ddl(view: FeatureView, redis_url: str) -> str:
    columns = ",\n  ".join(f"`{name}` {sql}" for name, sql in _online_columns(view))
    logged = _logged(view)
    options = {
        "connector": "featurestream-redis",
        "url": redis_url,
        "view": view.name,
        "version": str(view.version),
        "key-column": view.entity.key,
        "event-id-column": "event_id",
        "event-time-column": "event_time",
        "ttl": f"{round(view.state_retention.total_seconds() * 1000)} ms",
    }
    if logged:
        options["history-columns"] = ",".join(logged)
        options["history-keep"] = f"{read_time.keep_ms(view)} ms"
        options["history-ttl"] = f"{read_time.log_ttl_ms(view)} ms"
        tile = read_time.tile_ms(view)
        if tile is not None:
            spec = read_time.read_time_spec(view)
            options["history-tile"] = f"{tile} ms"
            options["history-parts"] = ",".join(spec["tiles"]["parts"])
    return f"CREATE TABLE `online_{feature_table(view)}` (\n  {columns}\n) {with_options(options)}"


def compile_job(job: FeatureJob, settings: JobSettings) -> CompiledJob:
    """The whole job as SQL for ``settings``."""
    compiled = CompiledJob()
    compiled.dead_letter_topic = topics.dead_letter_topic(job.name) + settings.topic_suffix
    compiled.registry_url = settings.registry_url
    compiled.sink_schemas[compiled.dead_letter_topic] = schema_text(DEAD_LETTER_SCHEMA)
    compiled.statements.append(source_ddl(job, settings))
    compiled.statements.append(classified_view(job))
    compiled.statements.append(dead_letter_ddl(job, settings, compiled.dead_letter_topic))
    compiled.inserts.append(dead_letter_insert(job))
    for view in job.views:
        emit = bool(_logged(view))
        compiled.window_functions[function_name(view)] = window_spec_json(view, emit_inputs=emit)
        compiled.statements += view_statements(view, emit_inputs=emit)
        topic = topics.feature_topic(view.name, view.version) + settings.topic_suffix
        compiled.feature_topics[view.qualified_name] = topic
        compiled.sink_schemas[topic] = output_schema_text(view)
        compiled.statements.append(_feature_sink_ddl(job, view, settings, topic))
        published = ", ".join(f"`{n}`" for n, _ in output_columns(view))
        compiled.inserts.append(
            f"INSERT INTO `sink_{feature_table(view)}` "
            f"SELECT {published} FROM `{feature_table(view)}`"
        )
        if settings.redis_url:
            compiled.statements.append(_online_sink_ddl(view, settings.redis_url))
            names = ", ".join(f"`{n}`" for n, _ in _online_columns(view))
            compiled.inserts.append(
                f"INSERT INTO `online_{feature_table(view)}` "
                f"SELECT {names} FROM `{feature_table(view)}`"
            )
    # Last: statements added after the others leave the node ids of the others as they were.
    compiled.statements.append(
        dead_letter_ddl(job, settings, compiled.dead_letter_topic, windows=True)
    )
    compiled.inserts.append(
        window_dead_letter_insert(job, settings.source_topic or job.source.topic)
    )
    return compiled


def spec_summary(job: FeatureJob) -> str:
    """One line per view: name, key, features (for ``--explain`` and logs)."""
    return "\n".join(
        f"{v.qualified_name}: key {v.entity.key}, "
        + json.dumps([f.name for f in v.output_features])
        for v in job.views
    )
