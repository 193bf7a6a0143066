"""``featurestream status <job> --target k8s``: the same screen as locally, over kubectl.

The Flink Kubernetes Operator runs the release as a native-mode cluster: a JobManager pod and
TaskManager pods labelled ``app=<release>`` and ``component=jobmanager|taskmanager``, and a
service ``<release>-rest`` in front of the JobManager's REST API. Every pod runs the Prometheus
reporter on the chart's ``metrics.port``. ``status`` opens a ``kubectl port-forward`` to the
REST service and one to each running pod's reporter (local port 0: kubectl picks a free one and
prints it), reads them as ``status.cluster_status`` reads the local cluster, and closes them.

Not tested against a cluster (none on the development machines): the unit tests check the
kubectl commands and the parsing of their output.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from common.deploy import k8s, render, status
from common.runtime import locks, metrics
from common.runtime.launch import Job

REST_PORT = 8081  # the operator's default rest.port; the chart does not change it
FORWARD_TIMEOUT_S = 20.0
_FORWARDING = re.compile(r"Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)")


@dataclass(frozen=True)
class Pod:
    """A running pod of the release."""

    name: str
    component: str  # jobmanager or taskmanager


def pods_command(target: k8s.Target, release: str) -> list[str]:
    """``kubectl get pods`` of the release's JobManager and TaskManagers."""
    return target.kubectl(
        "get", "pods", "-l", f"app={release},component in (jobmanager,taskmanager)", "-o", "json"
    )


def running_pods(listing: Mapping[str, Any]) -> list[Pod]:
    """The Running pods of a ``kubectl get pods -o json`` listing, JobManager first."""
    found = [
        Pod(item["metadata"]["name"], item["metadata"].get("labels", {}).get("component", ""))
        for item in listing.get("items", [])
        if (item.get("status") or {}).get("phase") == "Running"
    ]
    return sorted(found, key=lambda p: (p.component != "jobmanager", p.name))


def forward_commands(
    target: k8s.Target, release: str, pods: Sequence[Pod], metrics_port: int
) -> list[list[str]]:
    """The port-forwards: the REST service first, then each pod's reporter."""
    commands = [target.kubectl("port-forward", f"service/{release}-rest", f"0:{REST_PORT}")]
    commands += [
        target.kubectl("port-forward", f"pod/{pod.name}", f"0:{metrics_port}") for pod in pods
    ]
    return commands


def forwarded_port(lines: Iterator[str], remote_port: int) -> int:
    """The local port from kubectl port-forward's output (``Forwarding from 127.0.0.1:N -> P``).

    Raises:
        status.StatusError: kubectl ended before saying so.
    """
    seen = []
    for line in lines:
        match = _FORWARDING.search(line)
        if match and int(match.group(2)) == remote_port:
            return int(match.group(1))
        seen.append(line.strip())
    raise status.StatusError(f"kubectl port-forward ended: {' '.join(seen)[-300:]}")


def _lines(stream: IO[str] | None) -> Iterator[str]:
    if stream is not None:
        yield from iter(stream.readline, "")


@contextlib.contextmanager
def port_forwards(
    commands: Sequence[list[str]],
    start: Callable[[list[str]], subprocess.Popen[str]] | None = None,
) -> Iterator[list[int]]:
    """Start every ``kubectl port-forward`` and yield their local ports; stop them after."""
    start = start or _start
    started: list[subprocess.Popen[str]] = []
    try:
        ports = []
        for command in commands:
            process = start(command)
            started.append(process)
            ports.append(forwarded_port(_lines(process.stdout), int(command[-1].split(":")[1])))
        yield ports
    finally:
        for process in started:
            process.terminate()
        for process in started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)


def _start(command: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )


def metrics_port(job_name: str, env: str) -> int:
    """The chart's ``metrics.port`` for the job in ``env`` (values layered as for deploy)."""
    values = render.layered_values(job_name, env)
    return int((values.get("metrics") or {}).get("port", 9249))


def k8s_status(
    target: k8s.Target,
    job: Job,
    slo: Mapping[str, Any],
    env: str,
    job_id: str | None = None,
    run: Callable[[list[str]], str] | None = None,
    start: Callable[[list[str]], subprocess.Popen[str]] | None = None,
) -> status.JobStatus:
    """The job's status in its release's cluster against ``slo``.

    The last savepoint is not shown (``featurestream savepoints --target k8s`` lists them);
    views are found from the committed state lock.

    Raises:
        status.StatusError: no cluster, no running pod, or a port-forward that did not start.
    """
    problem = k8s.cluster_problem(target)
    if problem is not None:
        raise status.StatusError(f"no cluster reachable: {problem}")
    release = render.release_name(job.name)
    try:
        listing = json.loads((run or _checked)(pods_command(target, release)))
    except k8s.K8sError as exc:
        raise status.StatusError(str(exc)) from exc
    pods = running_pods(listing)
    if not any(p.component == "jobmanager" for p in pods):
        return status.JobStatus(job.name, job.dashed, "NO_JOBMANAGER_POD")
    commands = forward_commands(target, release, pods, metrics_port(job.name, env))
    windows = metrics.windows_of_lock(locks.read_lock(job.name) or {})
    with port_forwards(commands, start) as ports:
        rest, *reporters = ports
        return status.cluster_status(
            job,
            slo,
            f"http://127.0.0.1:{rest}",
            [f"http://127.0.0.1:{p}/metrics" for p in reporters],
            lambda _: windows,
            job_id=job_id,
            hint=f"is the release running? `{k8s.display(pods_command(target, release))}`",
        )


def _checked(command: list[str]) -> str:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise k8s.K8sError(f"{k8s.display(command)}: {result.stderr.strip()}")
    return result.stdout
