"""CRD openAPIV3Schema to strict JSON Schema: unknown fields rejected, open maps kept open."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from common.deploy import crd_schema, render
from common.deploy.crd_schema import ResourceKind

DEPLOYMENT = ResourceKind("flink.apache.org", "v1beta1", "FlinkDeployment")


@pytest.fixture(scope="module")
def schemas() -> dict[ResourceKind, dict[str, Any]]:
    return crd_schema.load_crd_schemas()


@pytest.fixture
def deployment() -> dict[str, Any]:
    text = render.committed_golden("trade_features", "dev")
    assert text is not None
    return copy.deepcopy(render.find(render.documents(text), "FlinkDeployment"))


def test_objects_with_properties_become_closed_and_markers_go() -> None:
    node = {
        "type": "object",
        "properties": {
            "a": {"type": "object", "properties": {"b": {"type": "string"}}},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "map": {"type": "object", "additionalProperties": {"type": "string"}},
            "port": {
                "anyOf": [{"type": "integer"}, {"type": "string"}],
                "x-kubernetes-int-or-string": True,
            },
            "list": {"type": "array", "items": {"type": "object", "properties": {"c": {}}}},
        },
    }
    strict = crd_schema.strict_schema(node)
    assert strict["additionalProperties"] is False
    assert strict["properties"]["a"]["additionalProperties"] is False
    assert "additionalProperties" not in strict["properties"]["free"]
    assert strict["properties"]["map"]["additionalProperties"] == {"type": "string"}
    assert "x-kubernetes-int-or-string" not in strict["properties"]["port"]
    assert strict["properties"]["list"]["items"]["additionalProperties"] is False
    assert node["properties"]["a"] == {"type": "object", "properties": {"b": {"type": "string"}}}


def test_the_operator_kinds_and_the_pod_monitor_are_loaded(
    schemas: dict[ResourceKind, dict[str, Any]],
) -> None:
    assert DEPLOYMENT in schemas
    assert ResourceKind("flink.apache.org", "v1beta1", "FlinkStateSnapshot") in schemas
    assert ResourceKind("monitoring.coreos.com", "v1", "PodMonitor") in schemas


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ((), "extra"),
        (("spec",), "flinkVersoin"),
        (("spec", "job"), "entryclass"),
        (("spec", "podTemplate", "spec", "securityContext"), "runAsNonRooot"),
        (("metadata",), "namespacee"),
    ],
)
def test_an_unknown_field_anywhere_is_rejected(
    schemas: dict[ResourceKind, dict[str, Any]],
    deployment: dict[str, Any],
    path: tuple[str, ...],
    field: str,
) -> None:
    node = deployment
    for part in path:
        node = node[part]
    node[field] = "x"
    (error,) = crd_schema.validate(schemas, deployment)
    assert field in error and "FlinkDeployment/featurestream-trade-features" in error


def test_flink_configuration_is_open(
    schemas: dict[ResourceKind, dict[str, Any]], deployment: dict[str, Any]
) -> None:
    deployment["spec"]["flinkConfiguration"]["any.key.at.all"] = "1"
    assert crd_schema.validate(schemas, deployment) == []


@pytest.mark.parametrize(
    ("path", "value", "complaint"),
    [
        (("spec", "flinkVersion"), "v2_3", "v2_3"),  # operator 1.15 stops at v2_2
        (("spec", "job", "upgradeMode"), "last_state", "last_state"),
        (("spec", "job", "parallelism"), "2", "integer"),
        (("apiVersion",), "flink.apache.org/v1", "no CRD schema"),
    ],
)
def test_wrong_values_are_rejected(
    schemas: dict[ResourceKind, dict[str, Any]],
    deployment: dict[str, Any],
    path: tuple[str, ...],
    value: Any,
    complaint: str,
) -> None:
    node = deployment
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    errors = crd_schema.validate(schemas, deployment)
    assert errors and complaint in " ".join(errors)


def test_a_kind_without_a_schema_is_an_error(schemas: dict[ResourceKind, dict[str, Any]]) -> None:
    (error,) = crd_schema.validate(
        schemas, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
    )
    assert "no CRD schema" in error
