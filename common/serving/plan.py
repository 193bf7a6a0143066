"""The serving plan: model contracts and feature views as the feature server reads them.

The server (``common/featureserver``, Go) holds no definitions of its own: ``featurestream
serve`` compiles this plan from the contracts (``jobs/inference_requests/models.py``) and the
feature jobs' views and hands it over as JSON, so names, contract order and types come from
the same Python definitions as the jobs that write the store (decision 70).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from common.features.columns import feature_kind
from common.features.definitions import FeatureView
from common.features.read_time import read_time_spec
from common.models import catalog as models
from common.models.contract import EVENT, ModelContract
from common.models.serving import avro_type_of_kind
from common.runtime import catalog as jobs


def _model(contract: ModelContract) -> dict[str, Any]:
    return {
        "model": contract.name,
        "version": contract.version,
        "description": contract.description,
        "trigger": contract.trigger.topic,
        "entity_keys": list(contract.entity_keys),
        "views": [
            {
                "name": v.name,
                "version": v.version,
                "key": v.entity.key,
                "qualified": v.qualified_name,
            }
            for v in contract.views
        ],
        "inputs": [
            {
                "name": i.name,
                "type": i.type,
                "view": "" if i.source_name == EVENT else i.source_name,
                "ref": i.ref,
            }
            for i in contract.inputs
        ],
        "request_topic": contract.request_topic,
        "result_topic": contract.result_topic,
    }


def _view(view: FeatureView) -> dict[str, Any]:
    return {
        "name": view.name,
        "version": view.version,
        "key": view.entity.key,
        "features": [
            {"name": f.name, "type": avro_type_of_kind(feature_kind(view, f))}
            for f in view.output_features
        ],
        **({"read_time": read_time_spec(view)} if view.read_time else {}),
    }


def serving_plan() -> dict[str, Any]:
    """Every contract and every feature view of this repository, as the server's JSON plan."""
    views: dict[str, FeatureView] = {}
    for name in jobs.job_names():
        for view in jobs.load_job(name).views:
            views[view.qualified_name] = view
    for contract in models.contracts():
        for view in contract.views:
            views.setdefault(view.qualified_name, view)
    return {
        "models": [_model(c) for c in models.contracts()],
        "views": [_view(v) for _, v in sorted(views.items())],
    }


def write_plan(directory: Path | None = None) -> Path:
    """Write the plan as JSON (a temporary directory unless given); its path."""
    data = json.dumps(serving_plan(), indent=1, sort_keys=True).encode()
    digest = hashlib.sha256(data).hexdigest()[:12]
    target = (directory or Path(tempfile.gettempdir())) / f"featurestream-plan-{digest}.json"
    if not target.is_file():
        partial = target.with_suffix(f".{os.getpid()}.partial")
        partial.write_bytes(data)
        partial.replace(target)
    return target
