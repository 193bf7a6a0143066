"""Talking to the schema registry through its Confluent-compatible API.

The client is ``confluent_kafka``'s own ``SchemaRegistryClient``: the same code a producer in
production uses, pointed at whichever registry serves the Confluent API.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import fastavro
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from common import schemas
from common.config import StackConfig
from common.serde import ParsedSchema

COMPATIBILITY = "BACKWARD"


def client(config: StackConfig) -> SchemaRegistryClient:
    """A registry client for the stack in ``config``."""
    return SchemaRegistryClient({"url": config.registry_url})


@dataclass(frozen=True)
class Registration:
    """One topic's value schema as registered."""

    topic: str
    subject: str
    schema_name: str
    schema_id: int


def ensure_registered(
    registry: SchemaRegistryClient, topic: str, schema_name: str | None = None
) -> Registration:
    """Register ``topic``'s value schema under ``<topic>-value`` (idempotent) and return its id.

    The subject's compatibility is set to BACKWARD first, so that the registry itself refuses an
    incompatible change as well as ``featurestream schemas check`` does.
    """
    name = schema_name or schemas.INPUT_TOPIC_SCHEMAS.get(topic)
    if name is None:
        raise schemas.SchemaError(
            f"no schema is known for topic {topic!r}; pass schema_name or add it to "
            "common.schemas.INPUT_TOPIC_SCHEMAS"
        )
    subject = schemas.subject_for(topic)
    registry.set_compatibility(subject_name=subject, level=COMPATIBILITY)
    schema_id = registry.register_schema(subject, Schema(schemas.schema_text(name), "AVRO"))
    return Registration(topic=topic, subject=subject, schema_name=name, schema_id=schema_id)


def ensure_registered_text(
    registry: SchemaRegistryClient, topic: str, schema_text: str
) -> Registration:
    """Like ``ensure_registered`` for a schema given as text (generated feature schemas)."""
    subject = schemas.subject_for(topic)
    registry.set_compatibility(subject_name=subject, level=COMPATIBILITY)
    schema_id = registry.register_schema(subject, Schema(schema_text, "AVRO"))
    name = json.loads(schema_text).get("name", "?")
    return Registration(topic=topic, subject=subject, schema_name=name, schema_id=schema_id)


def writer_schemas(registry: SchemaRegistryClient) -> Callable[[int], ParsedSchema | None]:
    """A schema-id lookup for ``serde.decode``: the registry's schema, parsed once per id.

    An id the registry does not know gives None (the record's fault: ``unknown_schema_id``);
    any other registry error propagates (an outage is not the record's fault).
    """

    @cache
    def lookup(schema_id: int) -> ParsedSchema | None:
        try:
            registered = registry.get_schema(schema_id)
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:
                return None
            raise
        return fastavro.parse_schema(json.loads(registered.schema_str or "null"))

    return lookup
