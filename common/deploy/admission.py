"""The Flink Kubernetes Operator's admission rules that a CRD schema cannot express.

The operator (1.15) checks these in its validating webhook, or when it reconciles a resource if
no webhook is installed, and refuses the resource then: far from the commit that broke it. A few
(``max-parallelism``, ``ha`` for last-state) the operator admits but Flink or the operator fails
on later; they are checked here too. The
same rules run here on every rendered resource, in tests and before ``featurestream deploy``
calls Helm.

Example::

    for violation in admission.check(new_deployment, previous=live_deployment):
        print(violation)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_NAME_LENGTH = 45
_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
FORBIDDEN_CONF_KEYS = (
    "kubernetes.namespace",
    "kubernetes.cluster-id",
    "high-availability.cluster-id",
)
CHECKPOINT_DIR = "execution.checkpointing.dir"
SAVEPOINT_DIR = "execution.checkpointing.savepoint-dir"
HA_TYPE = "high-availability.type"
MAX_PARALLELISM = "pipeline.max-parallelism"


@dataclass(frozen=True)
class Violation:
    """One broken rule: which, on which resource, and why."""

    rule: str
    resource: str
    message: str

    def __str__(self) -> str:
        return f"{self.resource}: {self.message} [{self.rule}]"


def flat_configuration(conf: Mapping[str, Any] | None, prefix: str = "") -> dict[str, str]:
    """``flinkConfiguration`` as flat keys; the operator also accepts nested YAML maps."""
    flat: dict[str, str] = {}
    for key, value in (conf or {}).items():
        full = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flat_configuration(value, f"{full}."))
        else:
            flat[full] = "" if value is None else str(value)
    return flat


def _deployment(resource: Mapping[str, Any], previous: Mapping[str, Any] | None) -> list[Violation]:
    name = str(resource.get("metadata", {}).get("name", ""))
    where = f"FlinkDeployment/{name}"
    spec = resource.get("spec") or {}
    job = spec.get("job") or {}
    conf = flat_configuration(spec.get("flinkConfiguration"))
    found: list[Violation] = []

    def fail(rule: str, message: str) -> None:
        found.append(Violation(rule, where, message))

    if not _NAME.match(name) or len(name) > MAX_NAME_LENGTH:
        fail(
            "name",
            f"name {name!r} must be lowercase alphanumerics or '-', start with a letter, end "
            f"with an alphanumeric and be at most {MAX_NAME_LENGTH} characters",
        )
    if not spec.get("flinkVersion"):
        fail("flink-version", "flinkVersion must be set")
    if not spec.get("serviceAccount"):
        fail("service-account", "spec.serviceAccount must be set (the operator's job account)")
    for key in FORBIDDEN_CONF_KEYS:
        if key in conf:
            fail("forbidden-key", f"flinkConfiguration must not set {key}: the operator does")
    mode = job.get("upgradeMode", "stateless")
    if job and mode != "stateless" and not conf.get(CHECKPOINT_DIR):
        fail("checkpoint-dir", f"upgradeMode {mode} needs {CHECKPOINT_DIR} in flinkConfiguration")
    if job and mode == "savepoint" and not conf.get(SAVEPOINT_DIR):
        fail("savepoint-dir", f"upgradeMode savepoint needs {SAVEPOINT_DIR} in flinkConfiguration")
    if mode == "last-state" and conf.get(HA_TYPE, "NONE").upper() == "NONE":
        fail("ha", "upgradeMode last-state needs high availability")
    job_manager = spec.get("jobManager") or {}
    if int(job_manager.get("replicas", 1)) > 1 and conf.get(HA_TYPE, "NONE").upper() == "NONE":
        fail("ha", "standby JobManagers (replicas > 1) need high availability")
    for role in ("jobManager", "taskManager"):
        resource_spec = (spec.get(role) or {}).get("resource") or {}
        if not resource_spec.get("memory") or not resource_spec.get("cpu"):
            fail("resources", f"{role}.resource needs cpu and memory")
    if job:
        if not job.get("jarURI"):
            fail("jar", "job.jarURI must be set in application mode")
        if int(job.get("parallelism") or 0) < 1:
            fail("parallelism", "job.parallelism must be at least 1")
        # The operator admits this; Flink refuses the job when it is submitted.
        max_parallelism = conf.get(MAX_PARALLELISM, "")
        if max_parallelism.isdigit() and int(job.get("parallelism") or 0) > int(max_parallelism):
            fail(
                "max-parallelism",
                f"job.parallelism {job.get('parallelism')} is above {MAX_PARALLELISM} "
                f"{max_parallelism}: Flink would refuse the job at submission",
            )
        old_nonce = (
            ((previous or {}).get("spec") or {}).get("job", {}).get("savepointRedeployNonce")
        )
        new_nonce = job.get("savepointRedeployNonce")
        if new_nonce != old_nonce and not job.get("initialSavepointPath"):
            fail(
                "redeploy-nonce",
                f"savepointRedeployNonce changed ({old_nonce} -> {new_nonce}) without "
                "job.initialSavepointPath: the operator would not know where to restore from",
            )
    return found


def _snapshot(resource: Mapping[str, Any]) -> list[Violation]:
    where = f"FlinkStateSnapshot/{resource.get('metadata', {}).get('name', '')}"
    spec = resource.get("spec") or {}
    found: list[Violation] = []
    kinds = [k for k in ("savepoint", "checkpoint") if spec.get(k) is not None]
    if len(kinds) != 1:
        found.append(Violation("snapshot-kind", where, "set exactly one of savepoint, checkpoint"))
    savepoint = spec.get("savepoint") or {}
    if savepoint.get("alreadyExists"):
        if not savepoint.get("path"):
            found.append(Violation("snapshot-path", where, "an existing savepoint needs a path"))
    elif not (spec.get("jobReference") or {}).get("name"):
        found.append(Violation("job-reference", where, "a new snapshot needs jobReference.name"))
    return found


def check(
    resource: Mapping[str, Any], previous: Mapping[str, Any] | None = None
) -> list[Violation]:
    """The admission violations of one rendered resource ([] when it would be admitted).

    Args:
        resource: The resource as it would be applied.
        previous: The live resource it replaces, if any: some rules compare old and new.
    """
    kind = resource.get("kind")
    if kind == "FlinkDeployment":
        return _deployment(resource, previous)
    if kind == "FlinkStateSnapshot":
        return _snapshot(resource)
    return []
