"""Avro schemas of inference requests (one per model version) and of scored results.

``schemas/inference_request_<model>_v<N>.avsc`` is generated from the contract and committed, so
``featurestream schemas check`` proves it matches the contract and stays BACKWARD-compatible;
``schemas/inference_result.avsc`` is shared by every model. Layout of a request::

    request_id      deterministic: request_id(model, version, event_id) (replays are idempotent)
    model_name, model_version, event_id, event_time
    entity_keys     {<key of each view>: string}
    features        {<input name>: [null, type]}, in contract order (nulls explicit)
    feature_times   {<view>_v<N>: timestamp}: the instant each view's features are as of
    lineage         {source_topic, source_partition, source_offset, feature_views, job, job_version}
    request_time    when the job built the request (wall clock)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from common.models.contract import ModelContract
from common.schemas import schema_path

NAMESPACE = "dev.featurestream.inference"
RESULT_SCHEMA = "inference_result"
_TIMESTAMP = {"type": "long", "logicalType": "timestamp-millis"}


def request_id(model: str, version: int, event_id: str) -> str:
    """The request id of an event for a model version: 32 hex chars of SHA-256.

    The job computes the same in SQL: ``SUBSTR(SHA256('<model>:v<N>:' || event_id), 1, 32)``.
    """
    return hashlib.sha256(f"{model}:v{version}:{event_id}".encode()).hexdigest()[:32]


def schema_name(contract: ModelContract) -> str:
    """``inference_request_<model>_v<N>``: the file stem under ``schemas/``."""
    return f"inference_request_{contract.name}_v{contract.version}"


def _record_prefix(contract: ModelContract) -> str:
    return "".join(p.capitalize() for p in contract.name.split("_")) + f"V{contract.version}"


def view_time_field(view_name: str, version: int) -> str:
    """The ``feature_times`` field of a view: ``<view>_v<N>``."""
    return f"{view_name}_v{version}"


def request_schema(contract: ModelContract) -> dict[str, Any]:
    """The request record schema of ``contract`` as a JSON object."""
    prefix = _record_prefix(contract)
    entity_keys = {
        "type": "record",
        "name": f"{prefix}EntityKeys",
        "fields": [{"name": key, "type": "string"} for key in contract.entity_keys],
    }
    features = {
        "type": "record",
        "name": f"{prefix}Features",
        "doc": "The model inputs, in model order; null where a feature has no value.",
        "fields": [
            {"name": item.name, "type": ["null", item.type], "default": None, "doc": item.ref}
            for item in contract.inputs
        ],
    }
    feature_times = {
        "type": "record",
        "name": f"{prefix}FeatureTimes",
        "doc": "The instant each feature view's values are as of (the event time: point in time).",
        "fields": [
            {"name": view_time_field(v.name, v.version), "type": _TIMESTAMP} for v in contract.views
        ],
    }
    lineage = {
        "type": "record",
        "name": f"{prefix}Lineage",
        "fields": [
            {"name": "source_topic", "type": "string"},
            {"name": "source_partition", "type": "int"},
            {"name": "source_offset", "type": "long"},
            {
                "name": "feature_views",
                "type": {"type": "array", "items": "string"},
                "doc": "Qualified feature views the features come from (payment_card.v1).",
            },
            {"name": "job", "type": "string", "doc": "The job that built the request."},
            {"name": "job_version", "type": "string", "doc": "Code version of that job."},
        ],
    }
    return {
        "type": "record",
        "name": f"{prefix}Request",
        "namespace": NAMESPACE,
        "doc": f"Inference request of {contract.qualified_name}. {contract.description}".strip(),
        "fields": [
            {"name": "request_id", "type": "string", "doc": "Deterministic per event and model."},
            {"name": "model_name", "type": "string"},
            {"name": "model_version", "type": "int"},
            {"name": "event_id", "type": "string", "doc": "Id of the triggering event."},
            {"name": "event_time", "type": _TIMESTAMP},
            {"name": "entity_keys", "type": entity_keys},
            {"name": "features", "type": features},
            {"name": "feature_times", "type": feature_times},
            {"name": "lineage", "type": lineage},
            {"name": "request_time", "type": _TIMESTAMP, "doc": "When the request was built."},
        ],
    }


def request_schema_text(contract: ModelContract) -> str:
    """The request schema as the committed file's text (stable formatting)."""
    return json.dumps(request_schema(contract), indent=2) + "\n"


def committed_path(contract: ModelContract) -> Path:
    """``schemas/inference_request_<model>_v<N>.avsc``."""
    return schema_path(schema_name(contract))


def stale_schema_files(contracts: Iterable[ModelContract]) -> list[str]:
    """Contracts whose committed request schema is missing or differs from the contract."""
    return [
        committed_path(c).name
        for c in contracts
        if not committed_path(c).is_file()
        or committed_path(c).read_text(encoding="utf-8") != request_schema_text(c)
    ]


def write_schema_files(contracts: Iterable[ModelContract]) -> list[Path]:
    """(Re)write each contract's committed request schema; the paths that changed."""
    changed = []
    for contract in contracts:
        path = committed_path(contract)
        text = request_schema_text(contract)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed
