"""Typed configuration of the local stack and of the clients that talk to it.

Precedence, written once here: field defaults < ``FEATURESTREAM_*`` environment variables <
explicit keyword arguments (what CLI flags pass). Example::

    FEATURESTREAM_KAFKA_PORT=29092 featurestream local up
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "featurestream" / "stack"


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "featurestream"


class StackConfig(BaseSettings):
    """Where the local stack lives and which loopback ports it listens on.

    Every field can be set by an environment variable named ``FEATURESTREAM_<FIELD>``
    (for example ``FEATURESTREAM_DATA_DIR``). Default ports sit away from each product's usual
    port so that a developer's own Kafka or Redis does not collide with the stack.
    """

    model_config = SettingsConfigDict(env_prefix="FEATURESTREAM_", extra="forbid")

    host: str = Field("127.0.0.1", description="Interface every part binds to and clients use.")
    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Broker logs, registry DB, Redis dump, Flink checkpoints, pid files, logs.",
    )
    cache_dir: Path = Field(
        default_factory=_default_cache_dir,
        description="Downloaded, checksum-verified jars and distributions (outside git).",
    )
    kafka_port: int = Field(19092, description="Kafka broker (PLAINTEXT) listener.")
    kafka_controller_port: int = Field(19093, description="KRaft controller listener.")
    registry_port: int = Field(18081, description="Schema registry HTTP port.")
    redis_port: int = Field(16379, description="Redis port.")
    flink_rest_port: int = Field(18082, description="Flink REST API and web UI (`rest.port`).")
    flink_rpc_port: int = Field(16123, description="Flink JobManager RPC (`jobmanager.rpc.port`).")
    zookeeper_port: int = Field(
        12181, description="ZooKeeper client port (the Flink cluster's high availability)."
    )
    flink_jobmanager_metrics_port: int = Field(
        18249, description="The JobManager's Prometheus reporter (`metrics.reporter.prom.port`)."
    )
    flink_taskmanager_metrics_port: int = Field(
        18250, description="The TaskManager's Prometheus reporter (`metrics.reporter.prom.port`)."
    )
    flink_taskmanager_slots: int = Field(
        4, description="Slots of the one TaskManager (`taskmanager.numberOfTaskSlots`)."
    )
    kafka_partitions: int = Field(2, description="Default partition count of new topics.")
    startup_timeout_s: float = Field(180.0, description="How long `local up` waits for health.")

    @property
    def bootstrap_servers(self) -> str:
        """Kafka bootstrap servers for clients."""
        return f"{self.host}:{self.kafka_port}"

    @property
    def registry_url(self) -> str:
        """Base URL of the Confluent-compatible registry API."""
        return f"http://{self.host}:{self.registry_port}/apis/ccompat/v7"

    @property
    def redis_url(self) -> str:
        """Redis URL for redis-py."""
        return f"redis://{self.host}:{self.redis_port}/0"

    @property
    def flink_rest_url(self) -> str:
        """Base URL of the Flink REST API."""
        return f"http://{self.host}:{self.flink_rest_port}"

    @property
    def flink_metrics_urls(self) -> tuple[str, str]:
        """The Prometheus endpoints of the JobManager and of the TaskManager."""
        return (
            f"http://{self.host}:{self.flink_jobmanager_metrics_port}/metrics",
            f"http://{self.host}:{self.flink_taskmanager_metrics_port}/metrics",
        )


def load_stack_config(**overrides: Any) -> StackConfig:
    """Build the stack config: defaults, then environment, then non-None ``overrides``."""
    return StackConfig(**{k: v for k, v in overrides.items() if v is not None})
