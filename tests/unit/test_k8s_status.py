"""``featurestream status --target k8s``: the kubectl commands it runs and what it reads
through them. No cluster here: kubectl is replaced by fakes that answer as kubectl does, and
the forwarded ports by a local HTTP server standing in for the REST API and the reporters."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from common.deploy import k8s, k8s_status, status
from common.runtime import metrics
from common.runtime.catalog import load_runnable

JOB_ID = "a" * 32
TARGET = k8s.Target(namespace="features", context="prod-eu")
RELEASE = "featurestream-payment-features"


def _pod(name: str, component: str, phase: str = "Running") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"app": RELEASE, "component": component}},
        "status": {"phase": phase},
    }


LISTING = {
    "items": [
        _pod(f"{RELEASE}-taskmanager-1-2", "taskmanager"),
        _pod(f"{RELEASE}-taskmanager-1-1", "taskmanager"),
        _pod(f"{RELEASE}-taskmanager-1-3", "taskmanager", phase="Pending"),
        _pod(f"{RELEASE}-6d9f7c8b5-x2x9z", "jobmanager"),
    ]
}


def test_the_pods_and_port_forwards_it_asks_kubectl_for() -> None:
    assert k8s_status.pods_command(TARGET, RELEASE) == [
        "kubectl",
        "--context",
        "prod-eu",
        "--namespace",
        "features",
        "get",
        "pods",
        "-l",
        f"app={RELEASE},component in (jobmanager,taskmanager)",
        "-o",
        "json",
    ]
    pods = k8s_status.running_pods(LISTING)
    assert [p.name for p in pods] == [
        f"{RELEASE}-6d9f7c8b5-x2x9z",  # the JobManager first; the Pending pod left out
        f"{RELEASE}-taskmanager-1-1",
        f"{RELEASE}-taskmanager-1-2",
    ]
    commands = k8s_status.forward_commands(TARGET, RELEASE, pods, 9249)
    prefix = ["kubectl", "--context", "prod-eu", "--namespace", "features", "port-forward"]
    assert commands == [
        [*prefix, f"service/{RELEASE}-rest", "0:8081"],
        [*prefix, f"pod/{RELEASE}-6d9f7c8b5-x2x9z", "0:9249"],
        [*prefix, f"pod/{RELEASE}-taskmanager-1-1", "0:9249"],
        [*prefix, f"pod/{RELEASE}-taskmanager-1-2", "0:9249"],
    ]


def test_the_local_port_is_read_from_kubectls_output() -> None:
    output = iter(["Forwarding from 127.0.0.1:41235 -> 9249\n", "Forwarding from [::1]:41235\n"])
    assert k8s_status.forwarded_port(output, 9249) == 41235
    failed = iter(
        ["error: unable to forward port because pod is not running. Current status=Pending\n"]
    )
    with pytest.raises(status.StatusError, match="pod is not running"):
        k8s_status.forwarded_port(failed, 9249)


class _Flink(BaseHTTPRequestHandler):
    """The REST API and a reporter of a running payment_features."""

    def do_GET(self) -> None:
        if self.path == "/jobs/overview":
            jobs = [{"jid": JOB_ID, "name": RELEASE, "state": "RUNNING", "start-time": 1}]
            body = json.dumps({"jobs": jobs})
        elif self.path == f"/jobs/{JOB_ID}/checkpoints":
            body = json.dumps({"counts": {"completed": 3, "failed": 0, "in_progress": 0}})
        elif self.path == "/metrics":
            labels = f'job_id="{JOB_ID}",job_name="{metrics.label_value(RELEASE)}"'
            body = f"flink_jobmanager_job_numRestarts{{{labels}}} 0.0\n"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def flink() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Flink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()


class _Forward:
    """A ``kubectl port-forward`` process that says where it listens."""

    def __init__(self, port: int, remote: str) -> None:
        self.stdout = io.StringIO(f"Forwarding from 127.0.0.1:{port} -> {remote}\n")
        self.terminated = False

    def terminate(self) -> None:
        self.terminated = True

    def wait(self, timeout: float | None = None) -> int:
        return 0


def test_status_reads_the_release_through_its_port_forwards(
    flink: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(k8s, "cluster_problem", lambda target: None)
    ran: list[list[str]] = []
    forwards: list[_Forward] = []

    def run(command: list[str]) -> str:
        ran.append(command)
        return json.dumps(LISTING)

    def start(command: list[str]) -> Any:
        ran.append(command)
        forwards.append(_Forward(flink, command[-1].split(":")[1]))
        return forwards[-1]

    job = load_runnable("payment_features")
    found = k8s_status.k8s_status(TARGET, job, {}, "prod", run=run, start=start)
    assert ran[0] == k8s_status.pods_command(TARGET, RELEASE)
    assert ran[1:] == k8s_status.forward_commands(
        TARGET, RELEASE, k8s_status.running_pods(LISTING), 9249
    )
    assert all(f.terminated for f in forwards)  # no port-forward left behind
    assert found.state == "RUNNING" and found.job_id == JOB_ID
    assert found.checkpoints_completed == 3 and found.restarts == 0
