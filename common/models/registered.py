"""Checking a model contract against the feature schemas in the registry, before a job starts.

The definitions are checked when a contract is built; this check catches what only the
registry knows: a feature view whose output was never registered, or was registered (by a
running feature job) with a feature missing or of another type. It runs before the job is
submitted, so a broken contract fails with a message, never after records were read.
"""

from __future__ import annotations

import json
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from common import schemas, topics
from common.models.contract import ContractError, ModelContract


def _field_type(field_type: Any) -> str:
    """``["null", "long"]`` → ``long``; a plain type as is; anything else as JSON."""
    if isinstance(field_type, list):
        branches = [b for b in field_type if b != "null"]
        if len(branches) == 1:
            return _field_type(branches[0])
    if isinstance(field_type, dict) and "logicalType" not in field_type:
        return _field_type(field_type.get("type"))
    return field_type if isinstance(field_type, str) else json.dumps(field_type)


def registered_fields(registry: SchemaRegistryClient, topic: str) -> dict[str, str] | None:
    """Field name → Avro type of the latest value schema of ``topic``, or None if unregistered."""
    try:
        latest = registry.get_latest_version(schemas.subject_for(topic))
    except SchemaRegistryError as exc:
        if exc.http_status_code == 404:
            return None
        raise
    parsed = json.loads(latest.schema.schema_str or "{}")
    return {f["name"]: _field_type(f["type"]) for f in parsed.get("fields", [])}


def check_registered(contract: ModelContract, registry: SchemaRegistryClient) -> None:
    """Every view input of ``contract`` exists in its view's registered schema with its type.

    Raises:
        ContractError: listing every missing view schema, missing feature and type mismatch,
            with the command that registers the feature schemas.
    """
    problems: list[str] = []
    for view in contract.views:
        topic = topics.feature_topic(view.name, view.version)
        fields = registered_fields(registry, topic)
        if fields is None:
            problems.append(f"feature view {view.qualified_name}: no schema under {topic}-value")
            continue
        for item in contract.inputs:
            if item.source_name != view.name:
                continue
            actual = fields.get(item.name)
            if actual is None:
                problems.append(f"{item.ref}: not in the registered schema of {topic}")
            elif actual != item.type:
                problems.append(
                    f"{item.ref}: registered as {actual}, the contract expects {item.type}"
                )
    if problems:
        raise ContractError(
            f"model {contract.qualified_name} does not match the registered feature schemas: "
            + "; ".join(problems)
            + " (register them with `featurestream schemas register --job <feature job>`)"
        )
