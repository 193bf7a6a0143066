"""``featurestream local setup | up | down | status | logs``: the embedded stack as a whole."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from common.config import StackConfig
from common.local import (
    artifacts,
    feature_server,
    jvm_functions,
    parts,
    processes,
    progress,
    tools,
)

REDIS_MIN_MAJOR = 7


class StackError(Exception):
    """The stack (or one part of it) could not be set up, started or stopped."""


def log_file(config: StackConfig, process_name: str) -> Path:
    """The log file of one process of the stack."""
    return parts.logs_dir(config) / f"{process_name}.log"


def tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a text file ('' when it does not exist)."""
    try:
        with path.open("r", encoding="utf-8", errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines))
    except FileNotFoundError:
        return ""


def _ensure_redis() -> None:
    try:
        binary = parts.redis_server()
    except parts.PartError:
        if shutil.which("apt-get") is None or os.geteuid() != 0:
            raise StackError(
                "redis-server (Redis 7) is missing; install it (Debian/Ubuntu: "
                "`sudo apt-get install redis-server`, macOS: `brew install redis`)"
            ) from None
        progress.step("installing redis-server with apt-get")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "redis-server"],
        ):
            result = subprocess.run(command, capture_output=True, text=True, env=env)
            if result.returncode != 0:
                raise StackError(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}") from None
        binary = parts.redis_server()
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
    match = re.search(r"v=(\d+)\.", version)
    if not match or int(match.group(1)) < REDIS_MIN_MAJOR:
        raise StackError(f"{binary} is not Redis {REDIS_MIN_MAJOR}+: {version.strip()}")


def setup(config: StackConfig) -> None:
    """Install or fetch what the stack needs (idempotent; quick when everything is cached)."""
    try:
        parts.java()
        fetched = artifacts.fetch(config.cache_dir)
        jvm_functions.functions_jar(config.cache_dir)
        _ensure_redis()
        # helm, kubeconform, promtool (the charts' tests), vegeta (bench/serving.py).
        tools.ensure_all(config.cache_dir)
        feature_server.binary(config.cache_dir)  # `featurestream serve`
    except (
        parts.PartError,
        artifacts.ArtifactError,
        jvm_functions.BuildError,
        feature_server.BuildError,
        tools.ToolError,
    ) as exc:
        raise StackError(str(exc)) from exc
    if fetched:
        progress.step(f"fetched and verified {fetched} artifacts")


def _running(config: StackConfig, part: parts.Part) -> list[str]:
    return [
        name
        for name in parts.PROCESS_NAMES[part.name]
        if processes.alive(parts.run_dir(config), name)
    ]


def _start_part(config: StackConfig, part: parts.Part) -> None:
    running = _running(config, part)
    expected = parts.PROCESS_NAMES[part.name]
    if len(running) == len(expected):
        progress.step(f"{part.name}: already running")
        return
    if not running:
        for port in part.ports:
            try:
                processes.require_free(config.host, port.value(config), port.what, port.setting)
            except processes.PortInUseError as exc:
                raise StackError(f"{part.name}: {exc}") from exc
    try:
        specs = part.prepare(config)
    except parts.PartError as exc:
        raise StackError(f"{part.name}: {exc}") from exc
    for spec in specs:
        if spec.name in running:
            continue
        processes.start(
            spec.name,
            spec.command,
            run_dir=parts.run_dir(config),
            log_file=log_file(config, spec.name),
            env=spec.env,
            cwd=spec.cwd,
        )
        progress.step(f"{part.name}: started {spec.name} (log {log_file(config, spec.name)})")


def _wait_healthy(config: StackConfig, selected: list[parts.Part]) -> None:
    deadline = time.monotonic() + config.startup_timeout_s
    pending = {part.name: part for part in selected}
    reasons: dict[str, str] = {}
    while pending:
        for name in pending:
            for process_name in parts.PROCESS_NAMES[name]:
                if processes.alive(parts.run_dir(config), process_name) is None:
                    path = log_file(config, process_name)
                    raise StackError(
                        f"{name}: process {process_name} exited during start-up; "
                        f"see {path}\n--- last lines ---\n{tail(path)}"
                    )
        # Health checks block up to their timeout while a part is still starting: run them together.
        with ThreadPoolExecutor(max_workers=len(pending)) as pool:
            checks = pool.map(lambda p: p.health(config), pending.values())
            problems = dict(zip(pending, checks, strict=True))
        for name, part in list(pending.items()):
            problem = problems[name]
            if problem is None:
                progress.step(f"{name}: healthy at {part.address(config)}")
                del pending[name]
            else:
                reasons[name] = problem
        if pending and time.monotonic() > deadline:
            name = next(iter(pending))
            logs = ", ".join(str(log_file(config, p)) for p in parts.PROCESS_NAMES[name])
            raise StackError(
                f"{name}: not healthy after {config.startup_timeout_s:.0f}s ({reasons.get(name)}); "
                f"see {logs}"
            )
        if pending:
            time.sleep(0.25)


def up(config: StackConfig, only: list[str] | None = None) -> None:
    """Start every part that is not running and wait until all are healthy (idempotent)."""
    setup(config)
    selected = [parts.by_name(n) for n in only] if only else list(parts.PARTS)
    for part in selected:
        if part.name == "flink":
            # Flink's JobManager gives up at once when ZooKeeper (its HA store) does not answer.
            _wait_healthy(config, [parts.by_name("zookeeper")])
        _start_part(config, part)
    _wait_healthy(config, selected)


def require(config: StackConfig, names: list[str]) -> None:
    """Check that the named parts answer, in parallel; otherwise say what to run.

    Raises:
        StackError: a part does not answer (its address and problem, and ``local up``).
    """
    selected = [parts.by_name(n) for n in names]
    with ThreadPoolExecutor(max_workers=len(selected)) as pool:
        problems = list(pool.map(lambda part: part.health(config), selected))
    down = [
        f"{part.name} at {part.address(config)}: {problem}"
        for part, problem in zip(selected, problems, strict=True)
        if problem is not None
    ]
    if down:
        raise StackError(
            "the local stack is not up ("
            + "; ".join(down)
            + "): start it with `featurestream local up` (or `make up`)"
        )


def down(config: StackConfig) -> list[str]:
    """Stop exactly the processes this stack started (by pid file); return the names stopped.

    Flink goes first (its jobs write to Kafka and Redis), then the other parts together. The
    cluster's high-availability state goes too: it exists to survive a crashed JobManager, and
    the next ``up`` must not bring back jobs of a stack that was shut down on purpose (their
    retained checkpoints and savepoints stay).
    """
    stopped = []

    def stop(name: str) -> str | None:
        return name if processes.stop(parts.run_dir(config), name) else None

    flink_first = list(reversed(parts.PROCESS_NAMES["flink"]))
    others = [n for p in parts.PARTS if p.name != "flink" for n in parts.PROCESS_NAMES[p.name]]
    for group in (flink_first[:1], flink_first[1:], others):
        with ThreadPoolExecutor(max_workers=max(len(group), 1)) as pool:
            for name in pool.map(stop, group):
                if name:
                    stopped.append(name)
                    progress.step(f"stopped {name}")
    for part in parts.PARTS:
        for port in part.ports:
            if not processes.wait_gone(config.host, port.value(config)) and stopped:
                progress.step(f"warning: port {port.value(config)} ({port.what}) still in use")
    if not any(processes.alive(parts.run_dir(config), n) for n in parts.PROCESS_NAMES["zookeeper"]):
        for state in (parts.zookeeper_dir(config), parts.flink_dirs(config)["ha"]):
            shutil.rmtree(state, ignore_errors=True)
    return stopped


@dataclass(frozen=True)
class PartStatus:
    """What ``status`` reports for one part."""

    name: str
    address: str
    state: str  # "healthy", "unhealthy", "stopped"
    detail: str
    pids: tuple[int, ...]
    logs: tuple[str, ...]


def status(config: StackConfig) -> list[PartStatus]:
    """Each part's state, address, pids and log files."""
    result = []
    for part in parts.PARTS:
        pids = []
        for name in parts.PROCESS_NAMES[part.name]:
            proc = processes.alive(parts.run_dir(config), name)
            if proc is not None:
                pids.append(proc.pid)
        problem = part.health(config) if pids else "not running"
        if not pids:
            state = "stopped"
        elif problem is None:
            state = "healthy"
        else:
            state = "unhealthy"
        result.append(
            PartStatus(
                name=part.name,
                address=part.address(config),
                state=state,
                detail=problem or "",
                pids=tuple(pids),
                logs=tuple(str(log_file(config, n)) for n in parts.PROCESS_NAMES[part.name]),
            )
        )
    return result
