"""The scoring job as Flink SQL: requests in, one ``InferenceResult`` per request out.

::

    requests (Kafka inference.requests.<model>.v<N>, avro-confluent, read_committed)
      └─ fs_score(features.<input>, ... in contract order)     pandas UDF, artefact per worker
           └─ results (Kafka inference.results.<model>.v<N>, avro-confluent, exactly-once,
                       keyed by request_id)

Every request gives exactly one result: scored, or with ``score`` null and ``error`` set.
"""

from __future__ import annotations

from common.features.columns import source_columns
from common.features.sql import (
    CompiledJob,
    JobSettings,
    exactly_once_sink_options,
    kafka_table,
    startup_options,
)
from common.models.contract import ModelContract
from common.models.request_schema import RESULT_SCHEMA, schema_name
from common.schemas import schema_text

JOB_NAME = "model_scoring"
SCORE_FUNCTION = "fs_score"


def dashed(contract: ModelContract) -> str:
    """``featurestream-model-scoring-<model>``: the consumer group and pipeline name."""
    return "featurestream-model-scoring-" + contract.name.replace("_", "-")


def pipeline_name(contract: ModelContract) -> str:
    """The Flink job name: ``featurestream-model-scoring-<model>-v<N>``."""
    return f"{dashed(contract)}-v{contract.version}"


def transactional_id_prefix(contract: ModelContract, topic_suffix: str = "") -> str:
    """Per model version and output topic, so that two scoring jobs never fence each other."""
    return pipeline_name(contract) + topic_suffix


def _columns(schema: str) -> str:
    return ",\n  ".join(c.ddl for c in source_columns(schema))


def _source_ddl(contract: ModelContract, settings: JobSettings) -> str:
    options = {
        "connector": "kafka",
        "topic": settings.source_topic or contract.request_topic,
        "properties.bootstrap.servers": settings.bootstrap_servers,
        "properties.group.id": settings.group_id or dashed(contract),
        "properties.isolation.level": "read_committed",
        **startup_options(settings),
        "value.format": "avro-confluent",
        "value.avro-confluent.url": settings.registry_url,
        # The committed schema as reader schema: the rows' types are exactly its fields'.
        "value.avro-confluent.schema": schema_text(schema_name(contract)),
    }
    return kafka_table("requests", _columns(schema_name(contract)), options, settings)


def _sink_ddl(contract: ModelContract, settings: JobSettings, topic: str) -> str:
    options = exactly_once_sink_options(
        settings,
        topic,
        transactional_id_prefix(contract, settings.topic_suffix),
        schema_text(RESULT_SCHEMA),
        key_field="request_id",
    )
    return kafka_table("results", _columns(RESULT_SCHEMA), options, settings)


def _insert(contract: ModelContract) -> str:
    inputs = ", ".join(f"`features`.`{name}`" for name in contract.input_names)
    return (
        "INSERT INTO `results`\n"
        "SELECT `request_id`, `model_name`, `model_version`, `event_id`,\n"
        "  `s`.`score`, `s`.`error`, `s`.`model_artifact`, `event_time`, `request_time`,\n"
        "  CAST(TO_TIMESTAMP_LTZ(`s`.`scored_ms`, 3) AS TIMESTAMP(3))\n"
        f"FROM (SELECT *, {SCORE_FUNCTION}({inputs}) AS `s` FROM `requests`)"
    )


def compile_scoring(contract: ModelContract, settings: JobSettings) -> CompiledJob:
    """The scoring job of ``contract`` as SQL (``fs_score`` is registered by the driver)."""
    compiled = CompiledJob(registry_url=settings.registry_url)
    topic = contract.result_topic + settings.topic_suffix
    compiled.sink_schemas[topic] = schema_text(RESULT_SCHEMA)
    compiled.statements += [_source_ddl(contract, settings), _sink_ddl(contract, settings, topic)]
    compiled.inserts.append(_insert(contract))
    return compiled
