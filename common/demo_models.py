"""The demo's model half: train ``payment_fraud`` once, score live requests, tail the results.

Training follows the documented path: generated payments with their burst labels to an Avro
file, ``featurestream offline inference_requests`` for the training rows (exactly the requests
the stream builds), ``featurestream train``. The artefact is kept under the stack's data dir, so
later demos reuse it.
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka import OFFSET_END, Consumer, TopicPartition

from common import registry, serde
from common.config import StackConfig
from common.generate.runner import produce
from common.generate.sinks import ensure_topic
from common.local import progress
from common.models import catalog as models
from common.models.artifact import ArtifactError, load_artifact
from common.models.contract import ModelContract
from common.models.training import summary_line, train_files
from common.runtime import catalog
from common.runtime.launch import RunOptions
from common.runtime.offline import run_offline
from jobs.model_scoring import launch as scoring
from jobs.model_scoring.scoring import pipeline_name

MODEL = "payment_fraud"
HISTORY_EVENTS = 20_000
HISTORY_RATE = 4.0  # payments per simulated second: ~80 minutes, room for the fraud bursts
HISTORY_START = datetime(2026, 1, 5, tzinfo=UTC)
HISTORY_SEED = 11


def model_dir(config: StackConfig) -> Path:
    """Where the demo keeps its trained artefact."""
    return config.data_dir / "models" / f"{MODEL}_v1"


def _free_slots(config: StackConfig) -> int:
    overview = httpx.get(f"{config.flink_rest_url}/overview", timeout=10).json()
    return int(overview["slots-available"])


def ensure_model(config: StackConfig) -> ModelContract:
    """The contract, with a trained artefact in ``model_dir`` (trained now if missing)."""
    contract = models.contract(MODEL)
    directory = model_dir(config)
    try:
        artifact = load_artifact(directory, contract)
        progress.step(f"model {contract.qualified_name}: artefact {artifact.sha256[:12]} (cached)")
        return contract
    except ArtifactError:
        pass
    if _free_slots(config) < 1:
        raise RuntimeError(
            "no free Flink slot to compute the training rows; `make down` and run the demo again"
        )
    work = directory.parent / "training"
    work.mkdir(parents=True, exist_ok=True)
    history, labels = work / "payments.avro", work / "labels.parquet"
    progress.step(
        f"training {contract.qualified_name}: {HISTORY_EVENTS:,} generated payments with their "
        "burst labels"
    )
    produce(
        "payments",
        config,
        count=HISTORY_EVENTS,
        seed=HISTORY_SEED,
        start=HISTORY_START,
        rate=HISTORY_RATE,
        to_file=history,
        labels=labels,
        pace=False,
    )
    job = catalog.load_runnable("inference_requests")
    progress.step("training rows: offline inference_requests over that history")
    offline = run_offline(config, job, str(history), work / "rows.parquet", views=[MODEL])
    metrics = train_files(contract, offline.files[contract.qualified_name], labels, directory)
    progress.step(f"trained: {summary_line(metrics)}")
    return contract


def start_scoring(config: StackConfig, contract: ModelContract, running: dict[str, str]) -> str:
    """The scoring job of ``contract`` (left running if it already is); its job id."""
    name = pipeline_name(contract)
    if name in running:
        progress.step(f"model_scoring for {contract.qualified_name} already running")
        return running[name]
    progress.step(f"starting model_scoring for {contract.qualified_name}")
    return scoring.submit(config, contract, model_dir(config), RunOptions(parallelism=1))


@dataclass
class ResultTail:
    """Follows the result topic from its end, printing a few results and timing all of them."""

    config: StackConfig
    contract: ModelContract
    since: datetime
    """Results of payments before this are counted apart (an earlier run's held-back tail)."""
    shown: int = 8
    every: int = 500
    latencies_ms: list[float] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    earlier: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        """Start following (results written from now on)."""
        topic = self.contract.result_topic
        ensure_topic(self.config, topic)
        consumer = Consumer(
            {
                "bootstrap.servers": self.config.bootstrap_servers,
                "group.id": f"demo-tail-{time.time_ns()}",
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
            }
        )
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_END) for p in partitions])
        self._thread = threading.Thread(target=self._follow, args=(consumer,), daemon=True)
        self._thread.start()

    def _follow(self, consumer: Consumer) -> None:
        writers = registry.writer_schemas(registry.client(self.config))
        try:
            while not self._stop.is_set():
                message = consumer.poll(0.2)
                value = None if message is None or message.error() else message.value()
                if value is not None:
                    self._record(serde.decode(value, writers))
        finally:
            consumer.close()

    def _record(self, result: dict[str, Any]) -> None:
        if result["event_time"] < self.since:
            self.earlier += 1
            return
        latency = (result["scored_time"] - result["event_time"]).total_seconds() * 1000
        self.latencies_ms.append(latency)
        if result["score"] is not None:
            self.scores.append(result["score"])
        count = len(self.latencies_ms)
        if count <= self.shown or count % self.every == 0:
            score = (
                "error: " + str(result["error"])
                if result["score"] is None
                else (f"{result['score']:.4f}")
            )
            print(
                f"  result #{count:<6} {result['event_id']:<22} score {score:<8} "
                f"event → scored {latency / 1000:.1f} s",
                flush=True,
            )

    def wait_for(self, count: int, timeout_s: float) -> None:
        """Until ``count`` results were seen, or ``timeout_s`` passed."""
        deadline = time.monotonic() + timeout_s
        while len(self.latencies_ms) < count and time.monotonic() < deadline:
            time.sleep(0.5)

    def stop(self) -> None:
        """Stop following and print what was seen."""
        self._stop.set()
        if self._thread:
            self._thread.join()
        if not self.latencies_ms:
            print("  no results yet (is model_scoring running? `featurestream local logs flink`)")
            return
        cuts = statistics.quantiles(self.latencies_ms, n=100) if len(self.latencies_ms) > 1 else []
        p50 = cuts[49] / 1000 if cuts else self.latencies_ms[0] / 1000
        high = sum(s >= 0.5 for s in self.scores)
        print(
            f"  {len(self.latencies_ms):,} payments scored; event time → scored p50 {p50:.1f} s; "
            f"{high:,} scored >= 0.5"
        )
        if self.earlier:
            print(f"  (and {self.earlier:,} payments of an earlier run, released by these)")
