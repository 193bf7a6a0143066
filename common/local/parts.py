"""The four parts of the local stack: how each is prepared, started and health-checked.

Kafka (KRaft), the schema registry (Apicurio, Confluent API), Redis and a Flink session cluster
(JobManager + TaskManager from PyFlink's bundled distribution). Each runs as a local process on the
configured interface; its files live under ``<data_dir>``.
"""

from __future__ import annotations

import base64
import shutil
import socket
import string
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import redis
import yaml

from common.config import StackConfig
from common.local import artifacts, jvm_functions

DEPLOY_LOCAL_DIR = artifacts.DEPLOY_LOCAL_DIR
JAVA_MIN_MAJOR = 17


class PartError(Exception):
    """A part cannot be prepared (missing tool, broken install)."""


@dataclass(frozen=True)
class ProcessSpec:
    """One process of a part."""

    name: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None


@dataclass(frozen=True)
class Port:
    """A port a part listens on, and the env var that changes it."""

    attr: str
    what: str

    def value(self, config: StackConfig) -> int:
        """The port number in ``config``."""
        port: int = getattr(config, self.attr)
        return port

    @property
    def setting(self) -> str:
        """The environment variable that sets this port."""
        return f"FEATURESTREAM_{self.attr.upper()}"


@dataclass(frozen=True)
class Part:
    """A part of the stack: its ports, processes, preparation and health check."""

    name: str
    ports: tuple[Port, ...]
    address: Callable[[StackConfig], str]
    prepare: Callable[[StackConfig], list[ProcessSpec]]
    health: Callable[[StackConfig], str | None]  # None when healthy, else what is wrong


def logs_dir(config: StackConfig) -> Path:
    """Where every part's log file is."""
    return config.data_dir / "logs"


def run_dir(config: StackConfig) -> Path:
    """Where pid files are."""
    return config.data_dir / "run"


@cache
def java() -> str:
    """The ``java`` to run (``$JAVA_HOME/bin/java`` when set), checked to be Java 17 or newer."""
    import os

    home = os.environ.get("JAVA_HOME")
    candidate = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not candidate or not Path(candidate).exists():
        raise PartError("Java 17+ is needed and no `java` was found (set JAVA_HOME or PATH)")
    out = subprocess.run([candidate, "-version"], capture_output=True, text=True).stderr
    try:
        quoted = out.split('"')[1]
        major = int(quoted.split(".")[0])
    except (IndexError, ValueError) as exc:
        raise PartError(f"cannot read the version of {candidate}: {out.strip()}") from exc
    if major < JAVA_MIN_MAJOR:
        raise PartError(f"{candidate} is Java {major}; Java {JAVA_MIN_MAJOR}+ is needed")
    return candidate


# --- Kafka -------------------------------------------------------------------------------------


def _prepare_kafka(config: StackConfig) -> list[ProcessSpec]:
    home = config.data_dir / "kafka"
    data = home / "data"
    home.mkdir(parents=True, exist_ok=True)
    template = string.Template((DEPLOY_LOCAL_DIR / "kafka" / "server.properties.tmpl").read_text())
    properties = home / "server.properties"
    properties.write_text(
        template.substitute(
            host=config.host,
            kafka_port=config.kafka_port,
            controller_port=config.kafka_controller_port,
            log_dirs=data,
            partitions=config.kafka_partitions,
        )
    )
    classpath = str(artifacts.part_dir(config.cache_dir, "kafka") / "*")
    log4j = DEPLOY_LOCAL_DIR / "kafka" / "log4j2.properties"
    base = [java(), f"-Dlog4j2.configurationFile={log4j}", "-cp", classpath]
    if not (data / "meta.properties").exists():
        # First start: format KRaft storage once, with a random cluster id.
        cluster_id = "-"
        while cluster_id.startswith("-"):  # the tool's argument parser reads "-..." as an option
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        result = subprocess.run(
            [
                *base,
                "kafka.tools.StorageTool",
                "format",
                "--standalone",
                "-t",
                cluster_id,
                "-c",
                str(properties),
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise PartError(f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}")
    command = [*base[:1], "-Xms256m", "-Xmx1g", *base[1:], "kafka.Kafka", str(properties)]
    return [ProcessSpec("kafka", command)]


def _kafka_health(config: StackConfig) -> str | None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": config.bootstrap_servers, "log_level": 0})
    try:
        metadata = admin.list_topics(timeout=2)
    except Exception as exc:  # KafkaException and friends: not (yet) reachable
        return f"no broker metadata: {exc}"
    if not metadata.brokers:
        return "metadata lists no broker"
    return None


# --- Schema registry -----------------------------------------------------------------------------


def _registry_runner(config: StackConfig) -> Path:
    (archive,) = artifacts.read_lock()["registry"]
    unpacked = config.cache_dir / "registry" / f"{archive.artifact}-{archive.version}"
    marker = unpacked / ".unpacked"
    if not marker.exists():
        shutil.rmtree(unpacked, ignore_errors=True)
        unpacked.mkdir(parents=True)
        with tarfile.open(
            artifacts.part_dir(config.cache_dir, "registry") / archive.file_name
        ) as tar:
            tar.extractall(unpacked, filter="data")
        marker.touch()
    runners = sorted(unpacked.glob("*-runner.jar"))
    if not runners:
        raise PartError(f"no *-runner.jar in the registry distribution at {unpacked}")
    return runners[0]


def _prepare_registry(config: StackConfig) -> list[ProcessSpec]:
    db = config.data_dir / "registry" / "db"
    db.parent.mkdir(parents=True, exist_ok=True)
    command = [
        java(),
        "-Xms128m",
        "-Xmx512m",
        f"-Dquarkus.http.host={config.host}",
        f"-Dquarkus.http.port={config.registry_port}",
        "-jar",
        str(_registry_runner(config)),
    ]
    # File-backed H2 so registered schemas (and so the ids inside Kafka records) survive restarts.
    # WRITE_DELAY=0: a registration is on disk when the registry answers it. With H2's default
    # (500 ms) a kill -9 lost one whose id was already in Kafka records, and handed the id out
    # again to the next schema registered (tests/faults).
    # Connections: the pool opens 20 at start within a 5 s acquisition timeout; reopening the
    # file after a kill -9 (recovery) on a loaded machine took longer, and the registry died at
    # start (tests/faults). Two to start with, and a minute to get one.
    env = {
        "REGISTRY_DATASOURCE_URL": f"jdbc:h2:file:{db};WRITE_DELAY=0",
        "HTTP_PORT": str(config.registry_port),
        "QUARKUS_DATASOURCE_JDBC_INITIAL_SIZE": "2",
        "QUARKUS_DATASOURCE_JDBC_MIN_SIZE": "2",
        "QUARKUS_DATASOURCE_JDBC_ACQUISITION_TIMEOUT": "60S",
    }
    return [ProcessSpec("registry", command, env=env, cwd=db.parent)]


def _registry_health(config: StackConfig) -> str | None:
    try:
        response = httpx.get(f"{config.registry_url}/subjects", timeout=2)
    except httpx.HTTPError as exc:
        return f"GET /subjects failed: {exc}"
    return None if response.status_code == 200 else f"GET /subjects: HTTP {response.status_code}"


# --- Redis ---------------------------------------------------------------------------------------


def redis_server() -> str:
    """Path of ``redis-server`` (installed by ``featurestream local setup`` when missing)."""
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if not found:
        raise PartError(
            "redis-server is not installed; run `make setup` (installs it with apt-get)"
        )
    return found


def _prepare_redis(config: StackConfig) -> list[ProcessSpec]:
    data = config.data_dir / "redis"
    data.mkdir(parents=True, exist_ok=True)
    command = [
        redis_server(),
        "--bind",
        config.host,
        "--port",
        str(config.redis_port),
        "--dir",
        str(data),
        "--daemonize",
        "no",
        # Durable per write: the online store's sink acknowledges a checkpoint once Redis has
        # applied its rows, and Flink never replays those; a kill -9 must not lose them.
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--loglevel",
        "notice",
    ]
    return [ProcessSpec("redis", command)]


def _redis_health(config: StackConfig) -> str | None:
    try:
        client = redis.Redis.from_url(config.redis_url, socket_timeout=2, socket_connect_timeout=2)
        return None if client.ping() else "PING failed"
    except redis.RedisError as exc:
        return f"PING failed: {exc}"


# --- Flink ---------------------------------------------------------------------------------------


PROMETHEUS_REPORTER_FACTORY = "org.apache.flink.metrics.prometheus.PrometheusReporterFactory"


def pyflink_home() -> Path:
    """The Flink distribution bundled in the installed PyFlink wheel."""
    import pyflink

    return Path(pyflink.__file__).resolve().parent


def flink_dirs(config: StackConfig) -> dict[str, Path]:
    """The stack's Flink conf, lib, checkpoint, savepoint and scratch directories."""
    home = config.data_dir / "flink"
    return {
        name: home / name
        for name in ("conf", "lib", "checkpoints", "savepoints", "tmp", "run", "ha")
    }


def flink_env(config: StackConfig) -> dict[str, str]:
    """Environment under which PyFlink's ``bin/`` scripts use the stack's conf and lib dirs."""
    dirs = flink_dirs(config)
    return {
        "FLINK_CONF_DIR": str(dirs["conf"]),
        "FLINK_LIB_DIR": str(dirs["lib"]),
        "FLINK_LOG_DIR": str(logs_dir(config)),
        "FLINK_PID_DIR": str(dirs["run"]),
        "PYFLINK_PYTHON": sys.executable,
    }


def flink_settings(config: StackConfig) -> dict[str, Any]:
    """The cluster's ``config.yaml`` entries (flat Flink keys)."""
    dirs = flink_dirs(config)
    return {
        "jobmanager.rpc.address": config.host,
        "jobmanager.rpc.port": config.flink_rpc_port,
        "jobmanager.bind-host": config.host,
        "jobmanager.memory.process.size": "1024m",
        "jobmanager.execution.failover-strategy": "region",
        "taskmanager.bind-host": config.host,
        "taskmanager.host": config.host,
        "taskmanager.numberOfTaskSlots": config.flink_taskmanager_slots,
        "taskmanager.memory.process.size": "3072m",
        "parallelism.default": 1,
        "rest.address": config.host,
        "rest.bind-address": config.host,
        "rest.port": config.flink_rest_port,
        # High availability as in production (there: Kubernetes configmaps): a killed
        # JobManager's successor takes its jobs back from ZooKeeper and the storage dir.
        "high-availability.type": "zookeeper",
        "high-availability.zookeeper.quorum": f"{config.host}:{config.zookeeper_port}",
        "high-availability.storageDir": dirs["ha"].as_uri(),
        "high-availability.cluster-id": "featurestream-local",
        "execution.checkpointing.dir": dirs["checkpoints"].as_uri(),
        "execution.checkpointing.savepoint-dir": dirs["savepoints"].as_uri(),
        "io.tmp.dirs": str(dirs["tmp"]),
        "env.pid.dir": str(dirs["run"]),
        "env.log.dir": str(logs_dir(config)),
        # Python UDF workers use the project's venv interpreter.
        "python.executable": sys.executable,
        "python.client.executable": sys.executable,
        # Metrics as deployed (the chart's reporter): Flink's Prometheus reporter, a plugin of
        # the distribution (plugins/metrics-prometheus). Each process gets its own fixed port
        # (`-D` at start, `_prepare_flink`), so a scraper knows whose endpoint it reads; a
        # shared range would hand the ports out in start order, and two stacks' processes
        # could interleave in it (decision 72).
        "metrics.reporter.prom.factory.class": PROMETHEUS_REPORTER_FACTORY,
        # The reporter has no bind-address option: it listens on every interface.
        "metrics.reporter.prom.port": str(config.flink_jobmanager_metrics_port),
    }


def _prepare_flink(config: StackConfig) -> list[ProcessSpec]:
    home = pyflink_home()
    dirs = flink_dirs(config)
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    # conf: PyFlink's log4j files plus a config.yaml of our own (keeping the JVM flags Flink needs).
    for source in (home / "conf").iterdir():
        if source.name != "config.yaml":
            shutil.copy2(source, dirs["conf"] / source.name)
    original = yaml.safe_load((home / "conf" / "config.yaml").read_text()) or {}
    java_opts = original.get("env", {}).get("java", {}).get("opts", {}).get("all", "")
    settings = {"env.java.opts.all": java_opts, **flink_settings(config)}
    (dirs["conf"] / "config.yaml").write_text(yaml.safe_dump(settings, sort_keys=True))
    # lib: PyFlink's jars, flink-python (Python UDFs on the cluster), the locked connector jars
    # and featurestream's own functions (rebuilt by `setup` when common/jvm changes; a running
    # cluster keeps the jar it started with until `local down` + `local up`).
    for old in dirs["lib"].iterdir():
        old.unlink()
    jars = [
        *sorted((home / "lib").glob("*.jar")),
        *sorted((home / "opt").glob("flink-python-*.jar")),
        *sorted(artifacts.part_dir(config.cache_dir, "flink").glob("*.jar")),
        jvm_functions.functions_jar(config.cache_dir),
    ]
    for jar in jars:
        (dirs["lib"] / jar.name).symlink_to(jar)
    if not (home / "plugins" / "metrics-prometheus").is_dir():
        raise PartError(f"no plugins/metrics-prometheus in the Flink distribution at {home}")
    env = flink_env(config)
    bin_dir = home / "bin"
    return [
        ProcessSpec(
            "flink-jobmanager",
            [
                "bash",
                str(bin_dir / "jobmanager.sh"),
                "start-foreground",
                *_metrics_port(config.flink_jobmanager_metrics_port),
            ],
            env=env,
        ),
        ProcessSpec(
            "flink-taskmanager",
            [
                "bash",
                str(bin_dir / "taskmanager.sh"),
                "start-foreground",
                *_metrics_port(config.flink_taskmanager_metrics_port),
            ],
            env=env,
        ),
    ]


def _metrics_port(port: int) -> list[str]:
    """The dynamic property that gives one Flink process its own reporter port."""
    return ["-D", f"metrics.reporter.prom.port={port}"]


def _flink_health(config: StackConfig) -> str | None:
    try:
        response = httpx.get(f"{config.flink_rest_url}/overview", timeout=2)
    except httpx.HTTPError as exc:
        return f"GET /overview failed: {exc}"
    if response.status_code != 200:
        return f"GET /overview: HTTP {response.status_code}"
    overview = response.json()
    if overview.get("taskmanagers", 0) < 1:
        return "no TaskManager registered yet"
    return None


# --- ZooKeeper (Flink high availability) ---------------------------------------------------


def zookeeper_dir(config: StackConfig) -> Path:
    """ZooKeeper's data: Flink's leader, job graphs and checkpoint pointers."""
    return config.data_dir / "zookeeper"


def _prepare_zookeeper(config: StackConfig) -> list[ProcessSpec]:
    data = zookeeper_dir(config)
    data.mkdir(parents=True, exist_ok=True)
    settings = {
        "tickTime": 2000,
        "initLimit": 10,
        "syncLimit": 5,
        "dataDir": data,
        "clientPort": config.zookeeper_port,
        "clientPortAddress": config.host,
        "maxClientCnxns": 0,
        "admin.enableServer": "false",
        "4lw.commands.whitelist": "srvr",
    }
    cfg = data / "zoo.cfg"
    cfg.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    jars = artifacts.part_dir(config.cache_dir, "zookeeper")
    command = [
        java(),
        "-Xms64m",
        "-Xmx256m",
        "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
        "-cp",
        str(jars / "*"),
        "org.apache.zookeeper.server.quorum.QuorumPeerMain",
        str(cfg),
    ]
    return [ProcessSpec("zookeeper", command, cwd=data)]


def _zookeeper_health(config: StackConfig) -> str | None:
    # `srvr`, not `ruok`: ruok says imok as soon as the port listens, even when the server
    # itself failed to start.
    try:
        with socket.create_connection((config.host, config.zookeeper_port), timeout=2) as conn:
            conn.sendall(b"srvr")
            answer = conn.recv(4096)
    except OSError as exc:
        return f"srvr failed: {exc}"
    return None if b"Mode: standalone" in answer else f"srvr answered {answer[:80]!r}"


PARTS: tuple[Part, ...] = (
    Part(
        name="kafka",
        ports=(
            Port("kafka_port", "Kafka broker"),
            Port("kafka_controller_port", "KRaft controller"),
        ),
        address=lambda c: c.bootstrap_servers,
        prepare=_prepare_kafka,
        health=_kafka_health,
    ),
    Part(
        name="registry",
        ports=(Port("registry_port", "schema registry"),),
        address=lambda c: c.registry_url,
        prepare=_prepare_registry,
        health=_registry_health,
    ),
    Part(
        name="redis",
        ports=(Port("redis_port", "Redis"),),
        address=lambda c: c.redis_url,
        prepare=_prepare_redis,
        health=_redis_health,
    ),
    Part(
        name="zookeeper",
        ports=(Port("zookeeper_port", "ZooKeeper"),),
        address=lambda c: f"{c.host}:{c.zookeeper_port}",
        prepare=_prepare_zookeeper,
        health=_zookeeper_health,
    ),
    Part(
        name="flink",
        ports=(
            Port("flink_rest_port", "Flink REST"),
            Port("flink_rpc_port", "Flink RPC"),
            Port("flink_jobmanager_metrics_port", "Flink JobManager metrics"),
            Port("flink_taskmanager_metrics_port", "Flink TaskManager metrics"),
        ),
        address=lambda c: c.flink_rest_url,
        prepare=_prepare_flink,
        health=_flink_health,
    ),
)

PROCESS_NAMES: dict[str, tuple[str, ...]] = {
    "kafka": ("kafka",),
    "registry": ("registry",),
    "redis": ("redis",),
    "zookeeper": ("zookeeper",),
    "flink": ("flink-jobmanager", "flink-taskmanager"),
}


def by_name(name: str) -> Part:
    """The part called ``name``."""
    for part in PARTS:
        if part.name == name:
            return part
    raise KeyError(f"no part {name!r}; parts are {', '.join(p.name for p in PARTS)}")
