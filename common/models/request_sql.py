"""Compiling the inference-request job: per model, its views' features joined per event.

Each model is one pipeline in the job, from its trigger topic to its request topic,
built from the same pieces as a feature job (``common.features.sql``), so request features are
exactly what the feature views define for the event (decision 20)::

    source_events ─ classified ─┬─ rejected ──────────────────────────────► dlq.<job>
                                ├─ inputs_<view 1> → window fn (+ event columns, offsets carried)
                                └─ inputs_<view 2> → window fn
    features of view 1 ⋈ features of view 2  ON event id, same event time ─► request sink

A view's rows for an event leave its window function when the watermark passes the event, before
the watermark itself travels on, so the zero-width interval join always finds both sides.
"""

from __future__ import annotations

from dataclasses import dataclass

from common import topics
from common.features.columns import source_columns
from common.features.spec import window_spec_json
from common.features.sql import (
    Carried,
    CompiledJob,
    FeatureJob,
    JobSettings,
    Names,
    classified_view,
    dead_letter_ddl,
    dead_letter_insert,
    exactly_once_sink_options,
    kafka_table,
    quote,
    source_ddl,
    view_statements,
    window_dead_letter_insert,
)
from common.models.contract import EVENT, Input, ModelContract
from common.models.request_schema import request_schema_text, view_time_field
from common.schemas import DEAD_LETTER_SCHEMA, schema_text

_SQL = {"long": "BIGINT", "double": "DOUBLE", "string": "STRING", "boolean": "BOOLEAN"}
LINEAGE_CARRY = (
    Carried("src_topic", "`src_topic`"),
    Carried("src_partition", "`src_partition`"),
    Carried("src_offset", "`src_offset`"),
)


@dataclass(frozen=True)
class InferenceJob:
    """A job that turns every triggering event of each model into one inference request.

    Attributes:
        name: snake_case job name (``inference_requests``).
        models: The model contracts it serves; each is an independent pipeline.
    """

    name: str
    models: tuple[ModelContract, ...]

    @property
    def dashed(self) -> str:
        """``featurestream-<job>`` with dashes: consumer group and transactional-id prefix."""
        return "featurestream-" + self.name.replace("_", "-")

    def select(self, names: tuple[str, ...] | list[str]) -> tuple[ModelContract, ...]:
        """The models called ``names`` (``payment_fraud`` or ``payment_fraud.v1``); all if none."""
        if not names:
            return self.models
        chosen = []
        for wanted in names:
            found = [m for m in self.models if wanted in (m.name, m.qualified_name)]
            if not found:
                known = ", ".join(m.qualified_name for m in self.models)
                raise ValueError(f"job {self.name}: no model {wanted!r}; known: {known}")
            chosen += found
        return tuple(dict.fromkeys(chosen))

    def input_topics(
        self, models: tuple[ModelContract, ...], override: str | None = None
    ) -> dict[str, str]:
        """Trigger topic → its schema name, for the chosen models."""
        if override:
            return {override: models[0].trigger.schema}
        return {m.trigger.topic: m.trigger.schema for m in models}

    def output_topics(self, models: tuple[ModelContract, ...], suffix: str = "") -> dict[str, str]:
        """Every output topic of the chosen models → the schema text of its values."""
        result = {topics.dead_letter_topic(self.name) + suffix: schema_text(DEAD_LETTER_SCHEMA)}
        for model in models:
            result[model.request_topic + suffix] = request_schema_text(model)
        return result


def names_of(model: ModelContract) -> Names:
    """The SQL names of a model's pipeline: prefix ``<model>_v<N>__``."""
    return Names(prefix=f"{model.name}_v{model.version}__")


def _event_column(item: Input) -> str:
    return f"ev_{item.name}"


def _event_carry(model: ModelContract) -> tuple[Carried, ...]:
    columns = {c.name: c for c in source_columns(model.trigger.schema)}
    carried = []
    for item in model.inputs:
        if item.source_name != EVENT:
            continue
        column = columns[item.name]
        expression = f"`{column.name}`"
        if column.sql_type.startswith("DECIMAL") or column.sql_type != _SQL[item.type]:
            expression = f"CAST({expression} AS {_SQL[item.type]})"
        carried.append(Carried(_event_column(item), expression))
    return tuple(carried)


def _row_type(fields: list[tuple[str, str]]) -> str:
    return "ROW<" + ", ".join(f"`{name}` {sql}" for name, sql in fields) + ">"


def request_columns(model: ModelContract) -> list[tuple[str, str]]:
    """(name, SQL type) of the request sink's columns, matching ``request_schema``."""
    ts = "TIMESTAMP(3) NOT NULL"
    keys = [(key, "STRING NOT NULL") for key in model.entity_keys]
    features = [(item.name, _SQL[item.type]) for item in model.inputs]
    times = [(view_time_field(v.name, v.version), ts) for v in model.views]
    lineage = [
        ("source_topic", "STRING NOT NULL"),
        ("source_partition", "INT NOT NULL"),
        ("source_offset", "BIGINT NOT NULL"),
        ("feature_views", "ARRAY<STRING NOT NULL> NOT NULL"),
        ("job", "STRING NOT NULL"),
        ("job_version", "STRING NOT NULL"),
    ]
    return [
        ("request_id", "STRING NOT NULL"),
        ("model_name", "STRING NOT NULL"),
        ("model_version", "INT NOT NULL"),
        ("event_id", "STRING NOT NULL"),
        ("event_time", ts),
        ("entity_keys", _row_type(keys) + " NOT NULL"),
        ("features", _row_type(features) + " NOT NULL"),
        ("feature_times", _row_type(times) + " NOT NULL"),
        ("lineage", _row_type(lineage) + " NOT NULL"),
        ("request_time", ts),
    ]


def _alias(index: int) -> str:
    return f"v{index}"


def _request_select(job: InferenceJob, model: ModelContract, job_version: str) -> str:
    names = names_of(model)
    views = list(model.views)
    alias = {v.name: _alias(i) for i, v in enumerate(views)}
    first = _alias(0)
    features = []
    for item in model.inputs:
        if item.source_name == EVENT:
            features.append(f"{first}.`{_event_column(item)}`")
        else:
            features.append(f"{alias[item.source_name]}.`{item.name}`")
    keys = [f"{alias[v.name]}.`{v.entity.key}`" for v in views]
    times = [f"{alias[v.name]}.`event_time`" for v in views]
    feature_views = ", ".join(quote(v.qualified_name) for v in views)
    lineage = (
        f"{first}.`src_topic`, CAST({first}.`src_partition` AS INT), {first}.`src_offset`, "
        f"ARRAY[{feature_views}], {quote(job.name)}, {quote(job_version)}"
    )
    joins = "".join(
        f"\nJOIN `{names.features(v)}` {_alias(i)}\n"
        f"  ON {_alias(i)}.`event_id` = {first}.`event_id`"
        f" AND {_alias(i)}.`event_time` BETWEEN {first}.`event_time` AND {first}.`event_time`"
        for i, v in enumerate(views)
        if i > 0
    )
    id_prefix = quote(f"{model.name}:v{model.version}:")
    return (
        f"SELECT\n  SUBSTR(SHA256({id_prefix} || {first}.`event_id`), 1, 32) AS `request_id`,\n"
        f"  {quote(model.name)} AS `model_name`, {model.version} AS `model_version`,\n"
        f"  {first}.`event_id`, {first}.`event_time`,\n"
        f"  ROW({', '.join(keys)}) AS `entity_keys`,\n"
        f"  ROW({', '.join(features)}) AS `features`,\n"
        f"  ROW({', '.join(times)}) AS `feature_times`,\n"
        f"  ROW({lineage}) AS `lineage`,\n"
        "  CAST(LOCALTIMESTAMP AS TIMESTAMP(3)) AS `request_time`\n"
        f"FROM `{names.features(views[0])}` {first}{joins}"
    )


def _request_sink_ddl(
    job: InferenceJob, model: ModelContract, settings: JobSettings, topic: str
) -> str:
    columns = ",\n  ".join(f"`{name}` {sql}" for name, sql in request_columns(model))
    options = exactly_once_sink_options(
        settings,
        topic,
        f"{job.dashed}-{names_of(model).dashed}requests",
        request_schema_text(model),
        key_field="request_id",
    )
    return kafka_table(f"{names_of(model).prefix}request_sink", columns, options, settings)


def compile_requests(
    job: InferenceJob,
    settings: JobSettings,
    job_version: str,
    models: tuple[ModelContract, ...] | None = None,
) -> CompiledJob:
    """The SQL of the job for ``models`` (default: all of them).

    Raises:
        ValueError: ``settings.source_topic`` is set while more than one model is chosen.
    """
    chosen = models or job.models
    if settings.source_topic and len(chosen) > 1:
        raise ValueError("a source topic override needs exactly one model (--model)")
    compiled = CompiledJob()
    compiled.registry_url = settings.registry_url
    compiled.dead_letter_topic = topics.dead_letter_topic(job.name) + settings.topic_suffix
    compiled.sink_schemas[compiled.dead_letter_topic] = schema_text(DEAD_LETTER_SCHEMA)
    for model in chosen:
        names = names_of(model)
        pipeline = FeatureJob(job.name, model.views)
        compiled.statements.append(source_ddl(pipeline, settings, names))
        compiled.statements.append(classified_view(pipeline, names))
        compiled.statements.append(
            dead_letter_ddl(pipeline, settings, compiled.dead_letter_topic, names)
        )
        compiled.inserts.append(dead_letter_insert(pipeline, names))
        for index, view in enumerate(model.views):
            carry = LINEAGE_CARRY + _event_carry(model) if index == 0 else ()
            compiled.window_functions[names.function(view)] = window_spec_json(
                view, tuple(c.column for c in carry)
            )
            compiled.statements += view_statements(view, names, carry)
        topic = model.request_topic + settings.topic_suffix
        compiled.sink_schemas[topic] = request_schema_text(model)
        compiled.feature_topics[model.qualified_name] = topic
        compiled.statements.append(_request_sink_ddl(job, model, settings, topic))
        compiled.inserts.append(
            f"INSERT INTO `{names.prefix}request_sink`\n" + _request_select(job, model, job_version)
        )
    # Last, so that the plan's earlier node ids (operator uids) stay what they were.
    for model in chosen:
        names = names_of(model)
        pipeline = FeatureJob(job.name, model.views)
        compiled.statements.append(
            dead_letter_ddl(pipeline, settings, compiled.dead_letter_topic, names, windows=True)
        )
        compiled.inserts.append(
            window_dead_letter_insert(pipeline, settings.source_topic or model.trigger.topic, names)
        )
    return compiled
