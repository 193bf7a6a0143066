"""Each operator admission rule catches a broken FlinkDeployment or FlinkStateSnapshot."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from common.deploy import admission, render

Resource = dict[str, Any]


@pytest.fixture(scope="module")
def good() -> Resource:
    text = render.committed_golden("payment_features", "prod")
    assert text is not None
    return render.find(render.documents(text), "FlinkDeployment")


def _rules(resource: Resource, previous: Resource | None = None) -> list[str]:
    return [v.rule for v in admission.check(resource, previous)]


def _broken(good: Resource, change: Callable[[Resource], None]) -> Resource:
    resource = copy.deepcopy(good)
    change(resource)
    return resource


def test_the_rendered_deployment_is_admitted(good: Resource) -> None:
    assert admission.check(good) == []


def _set_name(name: str) -> Callable[[Resource], None]:
    def change(r: Resource) -> None:
        r["metadata"]["name"] = name

    return change


def _conf(key: str, value: str | None) -> Callable[[Resource], None]:
    def change(r: Resource) -> None:
        conf = r["spec"]["flinkConfiguration"]
        if value is None:
            del conf[key]
        else:
            conf[key] = value

    return change


def _job(key: str, value: Any) -> Callable[[Resource], None]:
    def change(r: Resource) -> None:
        r["spec"]["job"][key] = value

    return change


def _delete_spec(key: str) -> Callable[[Resource], None]:
    def change(r: Resource) -> None:
        del r["spec"][key]

    return change


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        (_set_name("featurestream-" + "x" * 32), "name"),  # 46 characters
        (_set_name("Featurestream-trades"), "name"),
        (_set_name("featurestream_trades"), "name"),
        (_set_name("9featurestream"), "name"),
        (_set_name("featurestream-"), "name"),
        (_conf("execution.checkpointing.dir", None), "checkpoint-dir"),
        (_conf("execution.checkpointing.savepoint-dir", None), "savepoint-dir"),
        (_conf("kubernetes.namespace", "other"), "forbidden-key"),
        (_conf("kubernetes.cluster-id", "x"), "forbidden-key"),
        (_conf("high-availability.cluster-id", "x"), "forbidden-key"),
        (_conf("high-availability.type", "NONE"), "ha"),  # prod runs a standby JobManager
        (_delete_spec("serviceAccount"), "service-account"),
        (_delete_spec("flinkVersion"), "flink-version"),
        (_job("parallelism", 0), "parallelism"),
        (_job("parallelism", 129), "max-parallelism"),
        (_conf("pipeline.max-parallelism", "1"), "max-parallelism"),
        (_job("jarURI", ""), "jar"),
        (_job("savepointRedeployNonce", 1), "redeploy-nonce"),
    ],
)
def test_each_rule_catches_a_broken_deployment(
    good: Resource, change: Callable[[Resource], None], rule: str
) -> None:
    assert rule in _rules(_broken(good, change))


def test_a_name_of_exactly_45_characters_is_fine(good: Resource) -> None:
    name = "featurestream-" + "x" * 31
    assert len(name) == 45
    assert _rules(_broken(good, _set_name(name))) == []


def test_last_state_without_ha_is_refused(good: Resource) -> None:
    def last_state_alone(r: Resource) -> None:
        r["spec"]["job"]["upgradeMode"] = "last-state"
        r["spec"]["jobManager"]["replicas"] = 1
        del r["spec"]["flinkConfiguration"]["high-availability.type"]

    violations = admission.check(_broken(good, last_state_alone))
    assert [v.rule for v in violations] == ["ha"]
    assert "last-state needs high availability" in str(violations[0])


def test_stateless_needs_no_state_dirs(good: Resource) -> None:
    def stateless(r: Resource) -> None:
        r["spec"]["job"]["upgradeMode"] = "stateless"
        del r["spec"]["flinkConfiguration"]["execution.checkpointing.dir"]
        del r["spec"]["flinkConfiguration"]["execution.checkpointing.savepoint-dir"]

    assert _rules(_broken(good, stateless)) == []


def test_nested_flink_configuration_counts_too(good: Resource) -> None:
    def nested(r: Resource) -> None:
        r["spec"]["flinkConfiguration"]["kubernetes"] = {"cluster-id": "x"}

    assert "forbidden-key" in _rules(_broken(good, nested))


def test_a_nonce_change_needs_a_savepoint_path(good: Resource) -> None:
    live = _broken(good, _job("savepointRedeployNonce", 3))
    live["spec"]["job"]["initialSavepointPath"] = "s3://b/sp-1"
    bumped = _broken(live, _job("savepointRedeployNonce", 4))
    assert _rules(bumped, previous=live) == []  # path kept
    del bumped["spec"]["job"]["initialSavepointPath"]
    assert _rules(bumped, previous=live) == ["redeploy-nonce"]
    # A deploy that forgot the live nonce changes it too (3 -> none).
    dropped = copy.deepcopy(good)
    assert _rules(dropped, previous=live) == ["redeploy-nonce"]
    # Unchanged nonce, no path: nothing to restore, nothing asked.
    assert (
        _rules(
            _broken(good, _job("savepointRedeployNonce", 3)),
            previous=_broken(good, _job("savepointRedeployNonce", 3)),
        )
        == []
    )


def _snapshot(**spec: Any) -> Resource:
    return {
        "apiVersion": "flink.apache.org/v1beta1",
        "kind": "FlinkStateSnapshot",
        "metadata": {"name": "featurestream-payment-features-20261201-120000"},
        "spec": spec,
    }


def test_snapshot_rules() -> None:
    reference = {"kind": "FlinkDeployment", "name": "featurestream-payment-features"}
    assert admission.check(_snapshot(jobReference=reference, savepoint={})) == []
    assert _rules(_snapshot(savepoint={})) == ["job-reference"]
    assert _rules(_snapshot(jobReference=reference)) == ["snapshot-kind"]
    assert _rules(_snapshot(jobReference=reference, savepoint={}, checkpoint={})) == [
        "snapshot-kind"
    ]
    assert _rules(_snapshot(savepoint={"alreadyExists": True})) == ["snapshot-path"]
    assert admission.check(_snapshot(savepoint={"alreadyExists": True, "path": "s3://b/sp"})) == []


def test_violations_read_well() -> None:
    (violation,) = admission.check(_snapshot(savepoint={}))
    assert str(violation).startswith("FlinkStateSnapshot/featurestream-payment-features-")
    assert str(violation).endswith("[job-reference]")
