"""The Kubernetes side of the deployment verbs: Helm and kubectl, shelled out.

Helm is the pinned build (``common.local.tools``); kubectl is the one on ``PATH``, whose version
should match the cluster's. With ``dry_run`` nothing that changes the cluster runs: such commands
are printed, and read-only ones (``helm get manifest``, ``kubectl get``) run only when a cluster
is reachable.

Example::

    target = Target(namespace="featurestream", dry_run=True)
    deploy("trade_features", "prod", target, echo=print)
"""

from __future__ import annotations

import difflib
import json
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common.deploy import checks, render
from common.deploy.render import SetValue
from common.deploy.values import CHART_DIR
from common.runtime import catalog, provenance

Echo = Callable[[str], None]
SNAPSHOT_TEMPLATE = "templates/flinkstatesnapshot.yaml"
FINAL_SNAPSHOT_STATES = ("COMPLETED", "FAILED", "ABANDONED")


class K8sError(Exception):
    """A Helm or kubectl step failed, or the rendered resources would not be admitted."""


@dataclass(frozen=True)
class Target:
    """Where and how the verbs act.

    Attributes:
        namespace: The release's namespace.
        context: kubeconfig context (None: the current one).
        dry_run: Print what would change instead of changing it.
    """

    namespace: str = render.DEFAULT_NAMESPACE
    context: str | None = None
    dry_run: bool = False

    def kubectl(self, *args: str) -> list[str]:
        """A kubectl command line for this target."""
        context = ["--context", self.context] if self.context else []
        return ["kubectl", *context, "--namespace", self.namespace, *args]

    def helm(self, *args: str) -> list[str]:
        """A Helm command line (the pinned Helm) for this target."""
        context = ["--kube-context", self.context] if self.context else []
        return [str(render.helm()), *args, *context, "--namespace", self.namespace]


def display(command: list[str]) -> str:
    """``command`` as a shell line, paths relative to the repository root (where to run it)."""
    helm_path = str(render.helm())
    shown = [
        "helm" if part == helm_path else part.replace(f"{render.REPO_ROOT}/", "")
        for part in command
    ]
    return shlex.join(shown)


def _run(command: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise K8sError(f"{shlex.join(command)}: {exc}") from exc


def _checked(command: list[str], stdin: str | None = None) -> str:
    result = _run(command, stdin)
    if result.returncode != 0:
        raise K8sError(f"{shlex.join(command)} failed:\n{result.stderr.strip()}")
    return result.stdout


def cluster_problem(target: Target) -> str | None:
    """Why no cluster is reachable for ``target``, or None when one is."""
    if shutil.which("kubectl") is None:
        return "kubectl is not on PATH"
    result = _run(target.kubectl("version", "-o", "json", "--request-timeout=5s"))
    try:
        server = json.loads(result.stdout or "{}").get("serverVersion")
    except json.JSONDecodeError:
        server = None
    if result.returncode != 0 or not server:
        lines = result.stderr.strip().splitlines()
        return lines[-1] if lines else "kubectl cannot reach the API server"
    return None


def live_deployment(target: Target, release: str) -> dict[str, Any] | None:
    """The FlinkDeployment ``release`` as the cluster has it, or None."""
    result = _run(target.kubectl("get", "flinkdeployment", release, "-o", "json"))
    if result.returncode != 0:
        if "NotFound" in result.stderr or "not found" in result.stderr:
            return None
        raise K8sError(f"kubectl get flinkdeployment {release}: {result.stderr.strip()}")
    live: dict[str, Any] = json.loads(result.stdout)
    return live


STATE_LOCK_ANNOTATION = "featurestream.dev/state-lock"


def _lock_of(resource: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
    annotations = ((resource or {}).get("metadata") or {}).get("annotations") or {}
    text = annotations.get(STATE_LOCK_ANNOTATION)
    if not text:
        raise K8sError(
            f"{what} has no {STATE_LOCK_ANNOTATION} annotation (deployed before featurestream "
            "recorded it); compare against a lock file with --against"
        )
    lock: dict[str, Any] = json.loads(text)
    return lock


def live_state_lock(target: Target, job: str) -> dict[str, Any]:
    """The state lock the deployed release runs with (its FlinkDeployment's annotation).

    Raises:
        K8sError: no cluster, no release, or a release without the annotation.
    """
    problem = cluster_problem(target)
    if problem is not None:
        raise K8sError(f"no cluster reachable: {problem}")
    release = render.release_name(job)
    live = live_deployment(target, release)
    if live is None:
        raise K8sError(f"no FlinkDeployment {release} in namespace {target.namespace}")
    return _lock_of(live, f"FlinkDeployment/{release}")


def snapshot_state_lock(target: Target, name: str) -> dict[str, Any]:
    """The state lock recorded on the FlinkStateSnapshot ``name`` (the one its job ran with).

    Raises:
        K8sError: no cluster, no such snapshot, or one without the annotation.
    """
    problem = cluster_problem(target)
    if problem is not None:
        raise K8sError(f"no cluster reachable: {problem}")
    result = _run(target.kubectl("get", "flinkstatesnapshot", name, "-o", "json"))
    if result.returncode != 0:
        raise K8sError(f"kubectl get flinkstatesnapshot {name}: {result.stderr.strip()}")
    return _lock_of(json.loads(result.stdout), f"FlinkStateSnapshot/{name}")


def live_manifest(target: Target, release: str) -> str | None:
    """``helm get manifest`` of the release, or None when it is not installed."""
    result = _run(target.helm("get", "manifest", release))
    if result.returncode != 0:
        if "not found" in result.stderr:
            return None
        raise K8sError(f"helm get manifest {release}: {result.stderr.strip()}")
    return result.stdout


def carried_over(live: Mapping[str, Any] | None) -> dict[str, SetValue]:
    """Restore settings of the live job that a plain deploy must keep.

    ``featurestream restore`` sets ``initialSavepointPath`` and ``savepointRedeployNonce`` with
    ``--set``; a later deploy from the files alone would drop them, and the operator refuses a
    nonce change without a path (and would redeploy from scratch on a new one).
    """
    job = ((live or {}).get("spec") or {}).get("job") or {}
    kept: dict[str, SetValue] = {}
    if job.get("savepointRedeployNonce") is not None:
        kept["job.savepointRedeployNonce"] = int(job["savepointRedeployNonce"])
    if job.get("initialSavepointPath"):
        kept["job.initialSavepointPath"] = str(job["initialSavepointPath"])
    return kept


def live_image(live: Mapping[str, Any] | None) -> dict[str, SetValue]:
    """The live FlinkDeployment's image as ``image.tag``/``image.digest`` sets ({} if none)."""
    image = str(((live or {}).get("spec") or {}).get("image") or "")
    name, _, digest = image.partition("@")
    _, colon, tag = name.rpartition(":")
    if not colon or "/" in tag:
        return {}
    kept: dict[str, SetValue] = {"image.tag": tag}
    if digest:
        kept["image.digest"] = digest
    return kept


def unified_diff(old: str, new: str, old_name: str, new_name: str) -> str:
    """A unified diff of two manifests ('' when equal)."""
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), old_name, new_name
        )
    )


def _spec(text: str | None, kind: str = "FlinkDeployment") -> Any:
    if not text:
        return None
    found = [r for r in render.documents(text) if r.get("kind") == kind]
    return found[0].get("spec") if found else None


def _upgrade(
    job: str,
    env: str,
    target: Target,
    sets: Mapping[str, SetValue],
    echo: Echo,
    *,
    keep_live_restore: bool,
) -> None:
    """Render, check, then ``helm upgrade --install`` (or, in a dry run, show it and the diff)."""
    release = render.release_name(job)
    problem = cluster_problem(target)
    live = live_deployment(target, release) if problem is None else None
    values: dict[str, SetValue] = carried_over(live) if keep_live_restore else {}
    values.update(sets)
    rendered = render.template(job, env, values, namespace=target.namespace)
    found = checks.problems(render.documents(rendered), previous=live)
    if found:
        raise K8sError("the rendered resources would be refused:\n  " + "\n  ".join(found))
    command = target.helm(
        "upgrade",
        "--install",
        release,
        str(CHART_DIR),
        *render.values_args(job, env, values),
    )
    if not target.dry_run:
        echo(f"$ {display(command)}")
        echo(_checked(command).strip())
        echo(f"status: {display(target.kubectl('get', 'flinkdeployment', release))}")
        return
    echo(
        f"# dry run: would run (from the repository root; helm is the pinned build)\n"
        f"$ {display(command)}\n"
    )
    echo(f"# rendered resources ({release}, {env}, namespace {target.namespace})")
    echo(rendered.rstrip("\n"))
    if problem is None:
        current = live_manifest(target, release) or ""
        old_name = f"deployed:{release}" if current else "deployed:(not installed)"
    else:
        golden = render.golden_path(job, env)
        echo(
            f"\n# no cluster reachable ({problem}): diffing against the golden file "
            f"{golden.relative_to(render.REPO_ROOT)} instead of the deployed release"
        )
        current = render.committed_golden(job, env) or ""
        old_name = f"golden:{golden.name}"
    diff = unified_diff(current, rendered, old_name, f"rendered:{release}")
    if not diff:
        echo(f"\n# no changes against {old_name}: the operator would leave the job alone")
        return
    echo("\n# diff")
    echo(diff.rstrip("\n"))
    echo("\n# " + change_note(_spec(current), _spec(rendered)))


def change_note(old: Any, new: Any) -> str:
    """What the operator does when the FlinkDeployment spec goes from ``old`` to ``new``."""
    if old == new:
        return "the FlinkDeployment spec is unchanged: the operator leaves the job alone"
    if old is None:
        return "a new FlinkDeployment: the operator starts the job"
    old_nonce = (old.get("job") or {}).get("savepointRedeployNonce")
    new_job = new.get("job") or {}
    if new_job.get("savepointRedeployNonce") != old_nonce:
        return (
            "savepointRedeployNonce changes: the operator stops the job without a savepoint and "
            f"starts it from {new_job.get('initialSavepointPath')} (its current state is dropped)"
        )
    return (
        "the FlinkDeployment spec changes: the operator upgrades the job "
        f"({new_job.get('upgradeMode')}: stop with a savepoint, start the new spec from it)"
    )


def deploy(
    job: str, env: str, target: Target, echo: Echo, sets: Mapping[str, SetValue] | None = None
) -> None:
    """``helm upgrade --install`` the job's release with its layered values.

    The live job's restore settings are kept (``carried_over``). Raises ``K8sError`` (or
    ``render.RenderError``) before touching the cluster if the resources would be refused.
    """
    _upgrade(job, env, target, sets or {}, echo, keep_live_restore=True)


def deploy_server(
    env: str, target: Target, echo: Echo, sets: Mapping[str, SetValue] | None = None
) -> None:
    """``helm upgrade --install`` the feature server (deploy/helm/feature-server) in ``env``;
    a dry run shows the command, the resources and the diff against the deployed release (or
    the golden file when no cluster is reachable). A rolling update: no savepoint involved."""
    release = render.SERVER_RELEASE
    rendered = render.server_template(env, sets, namespace=target.namespace)
    command = target.helm(
        "upgrade",
        "--install",
        release,
        str(render.SERVER_CHART_DIR),
        *render.server_values_args(env, sets),
    )
    if not target.dry_run:
        echo(f"$ {display(command)}")
        echo(_checked(command).strip())
        rollout = target.kubectl("rollout", "status", f"deployment/{release}", "--timeout=5m")
        echo(_checked(rollout).strip())
        return
    echo("# dry run: would run (from the repository root; helm is the pinned build)")
    echo(f"$ {display(command)}\n")
    echo(f"# rendered resources ({release}, {env}, namespace {target.namespace})")
    echo(rendered.rstrip("\n"))
    problem = cluster_problem(target)
    if problem is None:
        current = live_manifest(target, release) or ""
        old_name = f"deployed:{release}" if current else "deployed:(not installed)"
    else:
        golden = render.golden_path(render.SERVER, env)
        echo(
            f"\n# no cluster reachable ({problem}): diffing against the golden file "
            f"{golden.relative_to(render.REPO_ROOT)} instead of the deployed release"
        )
        current = render.committed_golden(render.SERVER, env) or ""
        old_name = f"golden:{golden.name}"
    diff = unified_diff(current, rendered, old_name, f"rendered:{release}")
    echo(f"\n# no changes against {old_name}" if not diff else "\n# diff\n" + diff.rstrip("\n"))


def restore(
    job: str,
    env: str,
    target: Target,
    savepoint_path: str,
    echo: Echo,
    *,
    allow_non_restored_state: bool = False,
    nonce: int | None = None,
    sets: Mapping[str, SetValue] | None = None,
) -> int:
    """Redeploy the job from ``savepoint_path``: new ``initialSavepointPath`` and nonce.

    The nonce is the live one plus one; without a cluster (dry run) ``nonce`` or 1. The live
    release's image stays (a restore changes state, not code) unless ``sets`` name another.
    Returns the nonce used.
    """
    if not savepoint_path.strip():
        raise K8sError("a savepoint path is needed")
    problem = cluster_problem(target)
    values: dict[str, SetValue] = {}
    if problem is None:
        live = live_deployment(target, render.release_name(job))
        current = ((live or {}).get("spec") or {}).get("job", {}).get("savepointRedeployNonce")
        chosen = int(current or 0) + 1
        values.update(live_image(live))
    elif target.dry_run:
        chosen = nonce or 1
    else:
        raise K8sError(f"no cluster reachable: {problem}")
    values.update(sets or {})
    values |= {
        "job.initialSavepointPath": savepoint_path,
        "job.savepointRedeployNonce": chosen,
    }
    if allow_non_restored_state:
        values["job.allowNonRestoredState"] = True
    release = render.release_name(job)
    echo(f"# restore {release} from {savepoint_path} (savepointRedeployNonce {chosen})")
    _upgrade(job, env, target, values, echo, keep_live_restore=False)
    return chosen


def snapshot_name(now: datetime | None = None) -> str:
    """The snapshot suffix for ``now``: ``<yyyymmdd>-<hhmmss>`` in UTC."""
    return (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")


def savepoint(
    job: str,
    env: str,
    target: Target,
    echo: Echo,
    *,
    timeout_s: float = 600.0,
    now: datetime | None = None,
) -> str | None:
    """Apply a FlinkStateSnapshot for the job and wait for it; its savepoint path.

    In a dry run the snapshot and the command are printed and None is returned.
    """
    version = provenance.code_version(catalog.load_runnable(job))
    suffix = snapshot_name(now)
    sets: dict[str, SetValue] = {
        # A snapshot carries no image: an environment's digest requirement does not apply.
        "image.requireDigest": False,
        "snapshot.enabled": True,
        "snapshot.name": suffix,
        "snapshot.annotations.featurestream\\.dev/code-version": version.code,
        "snapshot.annotations.featurestream\\.dev/views": " ".join(version.views),
    }
    with tempfile.TemporaryDirectory() as tmp:
        # The snapshot records the lock of what runs (the checkout's when nothing is reachable).
        lock: Path | None = None
        if cluster_problem(target) is None:
            live = live_deployment(target, render.release_name(job))
            text = (((live or {}).get("metadata") or {}).get("annotations") or {}).get(
                STATE_LOCK_ANNOTATION
            )
            if text:
                lock = Path(tmp) / "state.lock.json"
                lock.write_text(text, encoding="utf-8")
        rendered = render.template(
            job,
            env,
            sets,
            namespace=target.namespace,
            show_only=SNAPSHOT_TEMPLATE,
            state_lock=lock,
        )
    found = checks.problems(render.documents(rendered))
    if found:
        raise K8sError("the FlinkStateSnapshot would be refused:\n  " + "\n  ".join(found))
    name = f"{render.release_name(job)}-{suffix}"
    apply = target.kubectl("apply", "-f", "-")
    if target.dry_run:
        echo(f"# dry run: would pipe the snapshot below into\n$ {display(apply)}")
        echo(f"# then poll {display(target.kubectl('get', 'flinkstatesnapshot', name))}")
        echo("# until status.state is COMPLETED, and print status.path\n")
        echo(rendered.rstrip("\n"))
        return None
    echo(_checked(apply, stdin=rendered).strip())
    deadline = time.monotonic() + timeout_s
    while True:
        status = json.loads(
            _checked(target.kubectl("get", "flinkstatesnapshot", name, "-o", "json"))
        ).get("status", {})
        state = status.get("state", "")
        if state == "COMPLETED":
            return str(status["path"])
        if state in FINAL_SNAPSHOT_STATES:
            raise K8sError(f"savepoint {name} {state}: {status.get('error') or 'no error given'}")
        if time.monotonic() > deadline:
            raise K8sError(f"savepoint {name} still {state or 'pending'} after {timeout_s:.0f}s")
        time.sleep(2.0)


@dataclass(frozen=True)
class SnapshotRow:
    """One FlinkStateSnapshot of a job, as ``featurestream savepoints`` lists it."""

    time: str
    state: str
    path: str
    version: str
    name: str


def snapshot_rows(job: str, items: list[dict[str, Any]]) -> list[SnapshotRow]:
    """The job's snapshots among ``items`` (kubectl's list), oldest first.

    The operator's own upgrade and periodic savepoints are FlinkStateSnapshots too; they all
    reference the FlinkDeployment, which is what selects them here.
    """
    release = render.release_name(job)
    rows = []
    for item in items:
        spec, status = item.get("spec", {}), item.get("status", {})
        if (spec.get("jobReference") or {}).get("name") != release:
            continue
        metadata = item.get("metadata", {})
        annotations = metadata.get("annotations") or {}
        version = annotations.get("featurestream.dev/code-version") or (
            metadata.get("labels") or {}
        ).get("app.kubernetes.io/version", "-")
        views = annotations.get("featurestream.dev/views")
        rows.append(
            SnapshotRow(
                time=status.get("resultTimestamp") or metadata.get("creationTimestamp", ""),
                state=status.get("state", "?"),
                path=status.get("path") or "-",
                version=f"{version} {views}" if views else version,
                name=metadata.get("name", "?"),
            )
        )
    return sorted(rows, key=lambda r: r.time)


def savepoints(job: str, target: Target, echo: Echo) -> list[SnapshotRow] | None:
    """The job's FlinkStateSnapshots; None in a dry run without a cluster."""
    command = target.kubectl("get", "flinkstatesnapshots", "-o", "json")
    problem = cluster_problem(target)
    if problem is not None:
        if target.dry_run:
            echo(f"# dry run: would run\n$ {display(command)}")
            echo(f"# no cluster reachable ({problem}): nothing to list")
            return None
        raise K8sError(f"no cluster reachable: {problem}")
    items = json.loads(_checked(command)).get("items", [])
    return snapshot_rows(job, items)
