"""Submitting PyFlink jobs to the local session cluster and following them over its REST API."""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from common.config import StackConfig
from common.local import parts

TERMINAL_STATES = frozenset({"FINISHED", "FAILED", "CANCELED"})
_JOB_ID = re.compile(r"JobID ([0-9a-f]{32})")


class FlinkJobError(Exception):
    """A job could not be submitted, or ended in a state other than the one awaited."""


def submit_python(config: StackConfig, **options: Any) -> str:
    """Submit a PyFlink job detached (``flink run -d``) and return its job id.

    ``options`` are ``start_python``'s; this waits for the client to end (5 minutes at most).
    """
    return start_python(config, **options).job_id(timeout_s=300)


class PendingSubmission:
    """A ``flink run -d`` still running (its driver may be waiting: ``common.features.handoff``)."""

    def __init__(self, command: list[str], cwd: Path | None, env: dict[str, str]) -> None:
        # Output goes to a file: a pipe nobody reads while the driver waits could fill and block.
        self._output = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in job_id)
        self.process = subprocess.Popen(
            command, stdout=self._output, stderr=subprocess.STDOUT, text=True, cwd=cwd, env=env
        )

    def exited(self) -> bool:
        """Whether the client has ended."""
        return self.process.poll() is not None

    def output(self) -> str:
        """What the client printed so far."""
        self._output.seek(0)
        return self._output.read()

    def job_id(self, timeout_s: float) -> str:
        """Wait for the client to end; the submitted job's id.

        Raises:
            FlinkJobError: it failed, printed no job id, or did not end within ``timeout_s``.
        """
        try:
            code = self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise FlinkJobError(f"flink run did not end within {timeout_s:.0f} s") from None
        text = self.output()
        self._output.close()
        match = _JOB_ID.search(text)
        if code != 0 or match is None:
            raise FlinkJobError(_failure(text))
        return match.group(1)

    def kill(self) -> None:
        """End the client (the driver with it) if it still runs."""
        if not self.exited():
            self.process.kill()
            self.process.wait()
        self._output.close()


def _failure(text: str) -> str:
    output = text.strip().splitlines()
    # The Python error is buried above Java's stack trace: lead with every error line.
    errors = [line for line in output if "Error" in line or "Caused by" in line]
    return (
        "flink run failed:\n"
        + "\n".join(errors[:20])
        + "\n--- last lines ---\n"
        + "\n".join(output[-15:])
    )


def start_python(
    config: StackConfig,
    *,
    module: str | None = None,
    script: Path | None = None,
    args: Sequence[str] = (),
    parallelism: int | None = None,
    from_savepoint: str | None = None,
    allow_non_restored_state: bool = False,
    cwd: Path | None = None,
    ship_cwd: bool = True,
    niceness: int = 0,
) -> PendingSubmission:
    """Start ``flink run -d`` for a PyFlink job and return while it runs.

    Exactly one of ``module`` (run as ``-pym``, importable from ``cwd``) or ``script`` is given.
    ``ship_cwd`` sends ``cwd`` with the job (``-pyfs``). Flink zips a shipped directory whole,
    venv included, for jobs with Python functions (1.3 GB here); such jobs pass False and their
    workers import featurestream from the cluster's ``python.executable`` instead.
    ``niceness`` > 0 runs the client (and its driver) at a lower CPU priority.
    """
    if (module is None) == (script is None):
        raise ValueError("give exactly one of module= or script=")
    command = [
        "bash",
        str(parts.pyflink_home() / "bin" / "flink"),
        "run",
        "-d",
        "-m",
        f"{config.host}:{config.flink_rest_port}",
    ]
    if parallelism:
        command += ["-p", str(parallelism)]
    if from_savepoint:
        command += ["-s", from_savepoint]
        if allow_non_restored_state:
            command.append("--allowNonRestoredState")
    command += ["-pym", module] if module else ["-py", str(script)]
    if cwd is not None and ship_cwd:
        command += ["-pyfs", str(cwd)]
    command += list(args)
    if niceness > 0:
        command = ["nice", "-n", str(niceness), *command]
    return PendingSubmission(command, cwd, _client_env(config))


def run_jar(
    config: StackConfig, jar: Path, main_class: str, args: Sequence[str], timeout_s: float = 300.0
) -> str:
    """``flink run -c main_class jar args``, attached: returns once the job has finished (its
    output). For short batch jobs of the functions jar (``DropOperatorState``).

    Raises:
        FlinkJobError: it failed or did not end within ``timeout_s``.
    """
    command = [
        "bash",
        str(parts.pyflink_home() / "bin" / "flink"),
        "run",
        "-m",
        f"{config.host}:{config.flink_rest_port}",
        "-c",
        main_class,
        str(jar),
        *args,
    ]
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, env=_client_env(config), timeout=timeout_s
        )
    except subprocess.TimeoutExpired:
        raise FlinkJobError(f"{main_class} did not end within {timeout_s:.0f} s") from None
    if result.returncode != 0:
        raise FlinkJobError(_failure(result.stdout + result.stderr))
    return result.stdout


def _client_env(config: StackConfig) -> dict[str, str]:
    import os

    return {**os.environ, **parts.flink_env(config)}


def job_details(config: StackConfig, job_id: str) -> dict[str, Any]:
    """``GET /jobs/<id>``."""
    response = httpx.get(f"{config.flink_rest_url}/jobs/{job_id}", timeout=5)
    response.raise_for_status()
    details: dict[str, Any] = response.json()
    return details


def job_exception(config: StackConfig, job_id: str) -> str:
    """The root exception of a failed job, if Flink recorded one."""
    response = httpx.get(f"{config.flink_rest_url}/jobs/{job_id}/exceptions", timeout=5)
    if response.status_code != 200:
        return ""
    entries = response.json().get("exceptionHistory", {}).get("entries", [])
    if not entries:
        return ""
    trace = str(entries[0].get("stacktrace", ""))
    causes = [line for line in trace.splitlines() if line.startswith("Caused by:")]
    return "\n".join([trace.splitlines()[0], *causes]) if causes else trace


def failures(config: StackConfig, job_id: str) -> int:
    """How many failures (each followed by a restart or the end) the job has recorded."""
    response = httpx.get(f"{config.flink_rest_url}/jobs/{job_id}/exceptions", timeout=5)
    response.raise_for_status()
    return len(response.json().get("exceptionHistory", {}).get("entries", []))


def wait_for_state(
    config: StackConfig, job_id: str, wanted: str, timeout_s: float = 120.0
) -> dict[str, Any]:
    """Poll the job until it reaches ``wanted``; raise if it ends otherwise or time runs out."""
    deadline = time.monotonic() + timeout_s
    state = "UNKNOWN"
    while time.monotonic() < deadline:
        details = job_details(config, job_id)
        state = details["state"]
        if state == wanted:
            return details
        if state in TERMINAL_STATES:
            raise FlinkJobError(
                f"job {job_id} ended {state} (awaited {wanted}):\n"
                f"{job_exception(config, job_id)[:4000]}"
            )
        time.sleep(0.25)
    raise FlinkJobError(f"job {job_id} still {state} after {timeout_s:.0f}s (awaited {wanted})")


def wait_for_terminal(config: StackConfig, job_id: str, timeout_s: float) -> dict[str, Any]:
    """Poll the job until it ends in any state; raise if time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        details = job_details(config, job_id)
        if details["state"] in TERMINAL_STATES:
            return details
        time.sleep(0.25)
    raise FlinkJobError(f"job {job_id} still running after {timeout_s:.0f}s")


def latest_checkpoint(config: StackConfig, job_id: str) -> str | None:
    """Path of the job's latest completed checkpoint, or None."""
    response = httpx.get(f"{config.flink_rest_url}/jobs/{job_id}/checkpoints", timeout=10)
    response.raise_for_status()
    latest = (response.json().get("latest") or {}).get("completed") or {}
    path = latest.get("external_path")
    return str(path) if path else None


def cancel(config: StackConfig, job_id: str) -> None:
    """Cancel a job (no savepoint)."""
    httpx.patch(f"{config.flink_rest_url}/jobs/{job_id}?mode=cancel", timeout=5)
