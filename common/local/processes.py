"""Processes the stack starts itself: pid files that name exactly them, and nothing else.

A pid file records the pid *and* the process's start time; a pid whose process started at another
time is somebody else's (the pid was reused) and is never signalled.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil


class PortInUseError(Exception):
    """A port the stack needs is taken by a process the stack did not start."""


@dataclass(frozen=True)
class Tracked:
    """A started process as recorded in its pid file."""

    name: str
    pid: int
    create_time: float
    log_file: str

    def process(self) -> psutil.Process | None:
        """The live process, or None when it exited or the pid now belongs to another process."""
        try:
            proc = psutil.Process(self.pid)
            if abs(proc.create_time() - self.create_time) > 0.01:
                return None
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return proc
        except psutil.Error:
            return None


def pid_file(run_dir: Path, name: str) -> Path:
    """Where the pid file of process ``name`` lives."""
    return run_dir / f"{name}.pid.json"


def read(run_dir: Path, name: str) -> Tracked | None:
    """The tracked process ``name``, if a pid file exists (alive or not)."""
    path = pid_file(run_dir, name)
    try:
        return Tracked(**json.loads(path.read_text(encoding="utf-8")))
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        return None


def alive(run_dir: Path, name: str) -> psutil.Process | None:
    """The live process ``name`` that this stack started, else None."""
    tracked = read(run_dir, name)
    return tracked.process() if tracked else None


def start(
    name: str,
    command: Sequence[str],
    *,
    run_dir: Path,
    log_file: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Tracked:
    """Start ``command`` detached (own session), logging to ``log_file``; write its pid file."""
    run_dir.mkdir(parents=True, exist_ok=True)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        proc = subprocess.Popen(
            list(command),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            start_new_session=True,  # survives the CLI; a terminal's Ctrl-C does not reach it
        )
    tracked = Tracked(
        name=name,
        pid=proc.pid,
        create_time=psutil.Process(proc.pid).create_time(),
        log_file=str(log_file),
    )
    pid_file(run_dir, name).write_text(json.dumps(tracked.__dict__), encoding="utf-8")
    return tracked


def stop(run_dir: Path, name: str, timeout_s: float = 30.0) -> bool:
    """Stop process ``name`` (SIGTERM, then SIGKILL after ``timeout_s``); True if one was running.

    Only the recorded process and its children are signalled; the pid file is removed.
    """
    tracked = read(run_dir, name)
    proc = tracked.process() if tracked else None
    was_running = proc is not None
    if proc is not None:
        try:
            family = [proc, *proc.children(recursive=True)]
        except psutil.Error:
            family = [proc]
        for member in family:
            with contextlib.suppress(psutil.Error):
                member.send_signal(signal.SIGTERM)
        _, survivors = psutil.wait_procs(family, timeout=timeout_s)
        for member in survivors:
            with contextlib.suppress(psutil.Error):
                member.kill()
        psutil.wait_procs(survivors, timeout=10)
    pid_file(run_dir, name).unlink(missing_ok=True)
    return was_running


def port_free(host: str, port: int) -> bool:
    """True when nothing listens on ``host:port`` (checked by binding it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def require_free(host: str, port: int, what: str, setting: str) -> None:
    """Raise PortInUseError with the remedy when ``host:port`` is taken."""
    if not port_free(host, port):
        raise PortInUseError(
            f"port {port} on {host} ({what}) is already in use by another process; "
            f"stop it or choose another port with {setting}=<port>"
        )


def wait_gone(host: str, port: int, timeout_s: float = 15.0) -> bool:
    """Poll until ``host:port`` can be bound again (a stopped server released it)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if port_free(host, port):
            return True
        time.sleep(0.1)
    return port_free(host, port)
