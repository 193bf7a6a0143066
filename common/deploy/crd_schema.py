"""Strict JSON Schemas from CustomResourceDefinitions, and validating resources against them.

A CRD's ``openAPIV3Schema`` lets unknown fields through unless told otherwise when read as plain
JSON Schema, while the API server prunes (or, with ``--validate=strict``, rejects) them. To catch
a misspelt field before a cluster does, ``strict_schema`` adds ``additionalProperties: false`` to
every object that lists ``properties`` and is not marked ``x-kubernetes-preserve-unknown-fields``
(``flinkConfiguration`` is), and describes the ``apiVersion``/``kind``/``metadata`` the API server
adds to every CRD. The result validates with ``jsonschema`` here and with ``kubeconform -strict``
(``write_kubeconform_schemas``), two independent implementations.

Example::

    schemas = load_schemas()              # the CRDs' and the built-in kinds'
    errors = validate(schemas, resource)   # [] when valid
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CRD_DIRS = (
    REPO_ROOT / "tests" / "data" / "crds" / "operator-1.15.0",
    REPO_ROOT / "tests" / "data" / "crds" / "prometheus-operator-0.87.0",
    REPO_ROOT / "tests" / "data" / "crds" / "prometheus-operator-0.82.2",
)
# What the API server accepts in a resource's metadata when it is created from a manifest.
_METADATA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {
            "type": "string",
            "maxLength": 253,
            "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        },
        "namespace": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}


@dataclass(frozen=True)
class ResourceKind:
    """The identity of a custom resource kind: ``<group>/<version>`` and ``kind``."""

    group: str
    version: str
    kind: str

    @property
    def api_version(self) -> str:
        """``<group>/<version>``, or ``<version>`` for the core group."""
        return f"{self.group}/{self.version}" if self.group else self.version


def strict_schema(node: Any) -> Any:
    """A copy of an OpenAPI v3 schema node where objects with ``properties`` reject others.

    ``x-kubernetes-*`` markers are dropped (JSON Schema does not know them); an object marked
    ``x-kubernetes-preserve-unknown-fields`` stays open, as the API server treats it.
    """
    if isinstance(node, list):
        return [strict_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-"):
            continue
        if key == "properties":
            result[key] = {name: strict_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            result[key] = strict_schema(value)
        elif key in ("anyOf", "oneOf", "allOf"):
            result[key] = [strict_schema(sub) for sub in value]
        else:
            result[key] = value
    if (
        "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        result["additionalProperties"] = False
    return result


def resource_schema(crd: Mapping[str, Any], version: str) -> tuple[ResourceKind, dict[str, Any]]:
    """The strict JSON Schema of one served version of ``crd``, top-level fields included."""
    spec = crd["spec"]
    (served,) = [v for v in spec["versions"] if v["name"] == version]
    kind = ResourceKind(spec["group"], version, spec["names"]["kind"])
    schema = strict_schema(served["schema"]["openAPIV3Schema"])
    properties = schema.setdefault("properties", {})
    properties["apiVersion"] = {"const": kind.api_version}
    properties["kind"] = {"const": kind.kind}
    properties["metadata"] = _METADATA
    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
    schema["additionalProperties"] = False
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    return kind, schema


def load_crd_schemas(directories: Iterable[Path] = CRD_DIRS) -> dict[ResourceKind, dict[str, Any]]:
    """Every served version of every CRD file (``*.yml``, ``*.yaml``) in ``directories``."""
    schemas: dict[ResourceKind, dict[str, Any]] = {}
    for directory in directories:
        for path in sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")]):
            crd = yaml.safe_load(path.read_text(encoding="utf-8"))
            for served in crd["spec"]["versions"]:
                kind, schema = resource_schema(crd, served["name"])
                schemas[kind] = schema
    return schemas


CONFIG_MAP = ResourceKind("", "v1", "ConfigMap")


def core_schemas() -> dict[ResourceKind, dict[str, Any]]:
    """Strict schemas of the built-in kinds the chart renders: a ConfigMap (the dashboard).

    Transcribed from Kubernetes 1.31's OpenAPI ``io.k8s.api.core.v1.ConfigMap`` (every field;
    metadata as for the CRDs): no CRD describes a built-in kind, and nothing here downloads
    Kubernetes' schemas.
    """
    strings = {"type": "object", "additionalProperties": {"type": "string"}}
    config_map = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "additionalProperties": False,
        "required": ["apiVersion", "kind", "metadata"],
        "properties": {
            "apiVersion": {"const": "v1"},
            "kind": {"const": "ConfigMap"},
            "metadata": _METADATA,
            "data": strings,
            "binaryData": {
                "type": "object",
                "additionalProperties": {"type": "string", "contentEncoding": "base64"},
            },
            "immutable": {"type": "boolean"},
        },
    }
    return {CONFIG_MAP: config_map}


def load_schemas() -> dict[ResourceKind, dict[str, Any]]:
    """Every schema a rendered release is checked against: the CRDs' and the built-in kinds'."""
    return {**load_crd_schemas(), **core_schemas()}


def kind_of(resource: Mapping[str, Any]) -> ResourceKind:
    """The ``ResourceKind`` a resource declares."""
    group, _, version = str(resource.get("apiVersion", "")).rpartition("/")
    return ResourceKind(group, version, str(resource.get("kind", "")))


def validate(
    schemas: Mapping[ResourceKind, dict[str, Any]], resource: Mapping[str, Any]
) -> list[str]:
    """Schema violations of ``resource`` as ``<path>: <message>`` lines ([] when valid).

    A resource of a kind without a schema is itself a violation: nothing renders unchecked.
    """
    kind = kind_of(resource)
    schema = schemas.get(kind)
    if schema is None:
        return [f"{kind.api_version} {kind.kind}: no CRD schema to validate against"]
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(resource), key=lambda e: list(map(str, e.path)))
    return [
        f"{kind.kind}/{resource.get('metadata', {}).get('name', '?')} "
        f"{'.'.join(map(str, error.path)) or '<root>'}: {error.message}"
        for error in errors
    ]


def write_kubeconform_schemas(
    schemas: Mapping[ResourceKind, dict[str, Any]], directory: Path
) -> str:
    """Write each schema where kubeconform looks it up; return the ``-schema-location`` value."""
    directory.mkdir(parents=True, exist_ok=True)
    for kind, schema in schemas.items():
        # kubeconform's {{ .Group }} of a core kind ("v1") is the version itself.
        name = f"{kind.kind.lower()}-{kind.group or kind.version}-{kind.version}.json"
        (directory / name).write_text(json.dumps(schema, sort_keys=True), encoding="utf-8")
    return str(directory / "{{ .ResourceKind }}-{{ .Group }}-{{ .ResourceAPIVersion }}.json")
