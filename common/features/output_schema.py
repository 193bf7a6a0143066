"""The Avro schema of a feature view's output records (topic ``features.<view>.v<N>``).

Generated from the definition and committed as ``schemas/feature_<view>_v<N>.avsc``, so it is
checked (``featurestream schemas check``: file equals definition, BACKWARD-compatible with every
committed version) and registered like the shared schemas. Features are nullable with a null
default, so adding one is a compatible change.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from common import topics
from common.features.columns import feature_kind
from common.features.definitions import FeatureView
from common.schemas import schema_path

NAMESPACE = "dev.featurestream.features"
_AVRO = {"BIGINT": "long", "DOUBLE": "double", "STRING": "string", "BOOLEAN": "boolean"}


def schema_name(view: FeatureView) -> str:
    """``feature_<view>_v<N>``: the file stem under ``schemas/``."""
    return f"feature_{view.name}_v{view.version}"


def output_schema(view: FeatureView) -> dict[str, Any]:
    """The record schema as a JSON object."""
    record = "".join(p.capitalize() for p in view.name.split("_")) + f"V{view.version}"
    fields: list[dict[str, Any]] = [
        {"name": "event_id", "type": "string", "doc": "Id of the source event."},
        {"name": view.entity.key, "type": "string", "doc": "Entity key."},
        {
            "name": "event_time",
            "type": {"type": "long", "logicalType": "timestamp-millis"},
            "doc": "Event time of the source event: the features are as of this instant.",
        },
    ]
    for feature in view.output_features:
        fields.append(
            {
                "name": feature.name,
                "type": ["null", _AVRO[feature_kind(view, feature)]],
                "default": None,
            }
        )
    fields += [
        {"name": "feature_view", "type": "string"},
        {"name": "feature_view_version", "type": "int"},
    ]
    return {
        "type": "record",
        "name": record,
        "namespace": NAMESPACE,
        "doc": f"Per-event features of view {view.qualified_name}. {view.description}".strip(),
        "fields": fields,
    }


def output_schema_text(view: FeatureView) -> str:
    """The schema as the committed file's text (stable formatting)."""
    return json.dumps(output_schema(view), indent=2) + "\n"


def topic_schemas(views: Iterable[FeatureView]) -> dict[str, str]:
    """Each view's feature topic mapped to its committed schema's name (for registering)."""
    return {topics.feature_topic(v.name, v.version): schema_name(v) for v in views}


def committed_path(view: FeatureView) -> Path:
    """``schemas/feature_<view>_v<N>.avsc``."""
    return schema_path(schema_name(view))


def stale_schema_files(views: Iterable[FeatureView]) -> list[str]:
    """Views whose committed schema file is missing or differs from the definition."""
    return [
        committed_path(v).name
        for v in views
        if not committed_path(v).is_file()
        or committed_path(v).read_text(encoding="utf-8") != output_schema_text(v)
    ]


def write_schema_files(views: Iterable[FeatureView]) -> list[Path]:
    """(Re)write the committed schema file of each view; the paths that changed."""
    changed = []
    for view in views:
        path = committed_path(view)
        text = output_schema_text(view)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed
