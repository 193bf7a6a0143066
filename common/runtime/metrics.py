"""A running job's metrics, read from Flink's Prometheus reporter endpoints.

The same series the chart's PodMonitor scrapes in Kubernetes (README, "Operating a job"), read
here directly: the local stack's JobManager and TaskManager each serve them on a port of their
own (``StackConfig.flink_metrics_urls``). ``scrape`` parses the text exposition format;
``job_metrics`` summarises one job's series per view: freshness (emit lag, last and p99), rows
emitted, online-store writes and retries, watermark; and for the job: records read, dead
letters by reason, consumer lag, restarts. Example::

    metrics = job_metrics(scrape(config.flink_metrics_urls), load_job("payment_features"))
    metrics.views["payment_card.v1"].emit_lag_p99_ms
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

OPERATOR = "flink_taskmanager_job_task_operator_"
JOB = "flink_jobmanager_job_"
# Flink reports an operator that has seen no watermark yet with Long.MIN_VALUE.
NO_WATERMARK_BELOW = -(2**62)


class MetricsError(Exception):
    """An endpoint could not be read, or its text is not the Prometheus text format."""


@dataclass(frozen=True)
class Sample:
    """One series' value: ``name{labels} value``."""

    name: str
    labels: Mapping[str, str]
    value: float


_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}


def _labels(line: str, at: int) -> tuple[dict[str, str], int]:
    """The label set starting after ``{`` at ``at``; (labels, index after ``}``)."""
    labels: dict[str, str] = {}
    while True:
        while at < len(line) and line[at] in " ,":
            at += 1
        if at < len(line) and line[at] == "}":
            return labels, at + 1
        match = _LABEL_NAME.match(line, at)
        if match is None or line[match.end() : match.end() + 2] != '="':
            raise MetricsError(f"bad label at column {at}: {line!r}")
        at = match.end() + 2
        value: list[str] = []
        while at < len(line) and line[at] != '"':
            if line[at] == "\\" and at + 1 < len(line):
                value.append(_ESCAPES.get(line[at + 1], "\\" + line[at + 1]))
                at += 2
            else:
                value.append(line[at])
                at += 1
        if at >= len(line):
            raise MetricsError(f"unterminated label value: {line!r}")
        labels[match.group()] = "".join(value)
        at += 1


def parse(text: str) -> list[Sample]:
    """The samples of a Prometheus text exposition (format 0.0.4, what Flink's reporter serves).

    Comments (``# HELP``, ``# TYPE``) are skipped; a timestamp after the value is ignored.

    Raises:
        MetricsError: a line is not a sample.
    """
    samples = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _NAME.match(line)
        if match is None:
            raise MetricsError(f"not a sample: {line!r}")
        at = match.end()
        labels: dict[str, str] = {}
        if at < len(line) and line[at] == "{":
            labels, at = _labels(line, at + 1)
        fields = line[at:].split()
        if not fields:
            raise MetricsError(f"no value: {line!r}")
        try:
            value = float(fields[0])  # also NaN, +Inf, -Inf
        except ValueError as exc:
            raise MetricsError(f"bad value {fields[0]!r}: {line!r}") from exc
        samples.append(Sample(match.group(), labels, value))
    return samples


def scrape(urls: Iterable[str], timeout_s: float = 5.0) -> list[Sample]:
    """Every sample of every endpoint.

    Raises:
        MetricsError: an endpoint did not answer 200 (is the stack up, with its reporters?).
    """
    samples: list[Sample] = []
    for url in urls:
        try:
            response = httpx.get(url, timeout=timeout_s)
        except httpx.HTTPError as exc:
            raise MetricsError(f"GET {url} failed: {exc}") from exc
        if response.status_code != 200:
            raise MetricsError(f"GET {url}: HTTP {response.status_code}")
        samples.extend(parse(response.text))
    return samples


@dataclass(frozen=True)
class ViewMetrics:
    """One view's series in a job, over its subtasks.

    Attributes:
        view: ``<view>.v<N>``.
        emit_lag_ms: ``featureEmitLagMs``: wall clock minus event time of the last row released,
            the worst subtask's; None before the first row.
        emit_lag_p99_ms: p99 of ``featureEmitLagMsHistogram`` (its last 1024 rows per
            subtask), the worst subtask's: the freshness objective's figure.
        emit_lag_rows: Rows the histogram has seen, all subtasks.
        rows_emitted: ``featureRowsEmitted``, all subtasks.
        online_store_written: ``onlineStoreWritten`` of the view's Redis sink (None: no sink).
        online_store_retries: ``onlineStoreRetries`` of that sink.
        watermark_ms: The window function's input watermark, the lowest subtask's (epoch ms);
            None before every subtask has one.
    """

    view: str
    emit_lag_ms: float | None = None
    emit_lag_p99_ms: float | None = None
    emit_lag_rows: int = 0
    rows_emitted: int = 0
    online_store_written: int | None = None
    online_store_retries: int | None = None
    watermark_ms: int | None = None

    def watermark_lag_ms(self, now_ms: int) -> int | None:
        """How far the watermark is behind ``now_ms``."""
        return None if self.watermark_ms is None else now_ms - self.watermark_ms


@dataclass(frozen=True)
class JobMetrics:
    """One job's series at a scrape.

    Attributes:
        pipeline_name: Flink's job name (``featurestream-<job>``).
        job_ids: The Flink job ids the series came from.
        scraped_at_ms: Wall clock of the scrape (epoch ms).
        views: Per view (``<view>.v<N>``), in name order.
        records_read: Values the sources decoded or failed to (``recordsRead``).
        dead_letters: Dead letters by reason (``reason_deadLetters``).
        consumer_lag: Records behind the end of the source partitions (``pendingRecords``,
            all subtasks); None before the source reports it.
        restarts: ``numRestarts`` (JobManager); None without the JobManager's series.
        failed_checkpoints: ``numberOfFailedCheckpoints`` (JobManager).
    """

    pipeline_name: str
    job_ids: tuple[str, ...]
    scraped_at_ms: int
    views: dict[str, ViewMetrics] = field(default_factory=dict)
    records_read: int = 0
    dead_letters: dict[str, int] = field(default_factory=dict)
    consumer_lag: int | None = None
    restarts: int | None = None
    failed_checkpoints: int | None = None

    @property
    def dead_letters_total(self) -> int:
        """Dead letters of every reason."""
        return sum(self.dead_letters.values())

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with each view's watermark lag at the scrape."""
        return {
            "pipeline_name": self.pipeline_name,
            "job_ids": list(self.job_ids),
            "scraped_at_ms": self.scraped_at_ms,
            "records_read": self.records_read,
            "dead_letters": dict(self.dead_letters),
            "consumer_lag": self.consumer_lag,
            "restarts": self.restarts,
            "failed_checkpoints": self.failed_checkpoints,
            "views": {
                name: {
                    **view.__dict__,
                    "watermark_lag_ms": view.watermark_lag_ms(self.scraped_at_ms),
                }
                for name, view in self.views.items()
            },
        }


def label_value(text: str) -> str:
    """``text`` as the reporter writes label values: characters other than letters, digits,
    ``_`` and ``:`` become ``_`` (``featurestream-payment-features`` →
    ``featurestream_payment_features``)."""
    return re.sub(r"[^a-zA-Z0-9:_]", "_", text)


def _murmur3_x64_128(data: bytes) -> bytes:
    """MurmurHash3 x64 128-bit, seed 0, as Guava's ``Hashing.murmur3_128()`` gives its bytes."""
    mask = (1 << 64) - 1
    c1, c2 = 0x87C37B91114253D5, 0x4CF5AD432745937F

    def rotl(x: int, r: int) -> int:
        return ((x << r) | (x >> (64 - r))) & mask

    def fmix(k: int) -> int:
        k ^= k >> 33
        k = (k * 0xFF51AFD7ED558CCD) & mask
        k ^= k >> 33
        k = (k * 0xC4CEB9FE1A85EC53) & mask
        return k ^ (k >> 33)

    def mix1(k1: int) -> int:
        return (rotl((k1 * c1) & mask, 31) * c2) & mask

    def mix2(k2: int) -> int:
        return (rotl((k2 * c2) & mask, 33) * c1) & mask

    h1 = h2 = 0
    blocks = len(data) // 16
    for i in range(blocks):
        h1 ^= mix1(int.from_bytes(data[16 * i : 16 * i + 8], "little"))
        h1 = (rotl(h1, 27) + h2) & mask
        h1 = (h1 * 5 + 0x52DCE729) & mask
        h2 ^= mix2(int.from_bytes(data[16 * i + 8 : 16 * i + 16], "little"))
        h2 = (rotl(h2, 31) + h1) & mask
        h2 = (h2 * 5 + 0x38495AB5) & mask
    tail = data[16 * blocks :]
    if len(tail) > 8:
        h2 ^= mix2(int.from_bytes(tail[8:], "little"))
    if tail:
        h1 ^= mix1(int.from_bytes(tail[:8], "little"))
    h1 ^= len(data)
    h2 ^= len(data)
    h1 = (h1 + h2) & mask
    h2 = (h2 + h1) & mask
    h1, h2 = fmix(h1), fmix(h2)
    h1 = (h1 + h2) & mask
    h2 = (h2 + h1) & mask
    return h1.to_bytes(8, "little") + h2.to_bytes(8, "little")


def operator_id(uid: str) -> str:
    """The operator id Flink derives from an operator's ``uid`` (the ``operator_id`` label).

    Flink hashes a user-specified uid with murmur3_128 (``StreamGraphHasherV2``); savepoints
    rely on the same id, so it is stable. Operator names are not: the window function's is
    ``ProcessTableFunction[7]``, a plan node number, with no view in it.
    """
    return _murmur3_x64_128(uid.encode("utf-8")).hex()


def windows_of_lock(lock: Mapping[str, Any]) -> dict[str, str]:
    """The window functions of a state lock (``jobs/<job>/state.lock.json``, or the one a run
    was submitted with): view (``<view>.v<N>``) → uid. A view two models of the inference job
    both compute is named by its uid."""
    windows = [op for op in lock.get("operators", []) if op.get("kind") == "window"]
    names = [str(op["name"]) for op in windows]
    return {
        (str(op["name"]) if names.count(str(op["name"])) == 1 else str(op["uid"])): str(op["uid"])
        for op in windows
    }


def _online_sink_prefix(view: str) -> str:
    """How the view's online-store writer's ``operator_name`` starts (``online_features_<view>_
    v<N>_<node>_:_Writer``; the feature jobs' Redis sink table, ``common.features.sql``)."""
    name, _, version = view.rpartition(".")
    return label_value(f"online_features_{name}_{version}_")


def job_metrics(
    samples: Iterable[Sample],
    pipeline_name: str,
    windows: Mapping[str, str],
    job_id: str | None = None,
    now_ms: int | None = None,
) -> JobMetrics:
    """The series of the job named ``pipeline_name`` (of ``job_id`` only, if given).

    Args:
        samples: What ``scrape`` read.
        pipeline_name: Flink's job name, ``featurestream-<job>``.
        windows: The job's views → their window functions' uids (``windows_of_lock``).
        job_id: Only this Flink job's series (a cluster may keep a cancelled one's a while).
        now_ms: The scrape's wall clock (default: now).
    """
    job_name = label_value(pipeline_name)
    mine = [
        s
        for s in samples
        if s.labels.get("job_name") == job_name
        and (job_id is None or s.labels.get("job_id") == job_id)
    ]
    by_operator = {operator_id(uid): view for view, uid in windows.items()}

    def total(name: str, keep: Callable[[Sample], bool] = lambda _: True) -> float | None:
        found = [s.value for s in mine if s.name == name and keep(s) and not math.isnan(s.value)]
        return sum(found) if found else None

    views: dict[str, ViewMetrics] = {}
    for view in sorted(windows):
        ids = {i for i, v in by_operator.items() if v == view}

        def of_view(s: Sample, ids: set[str] = ids) -> bool:
            return s.labels.get("operator_id") in ids

        def of_sink(s: Sample, prefix: str = _online_sink_prefix(view)) -> bool:
            return s.labels.get("operator_name", "").startswith(prefix)

        gauges = [s.value for s in mine if s.name == OPERATOR + "featureEmitLagMs" and of_view(s)]
        p99s = [
            s.value
            for s in mine
            if s.name == OPERATOR + "featureEmitLagMsHistogram"
            and s.labels.get("quantile") == "0.99"
            and of_view(s)
            and not math.isnan(s.value)
        ]
        watermarks = [
            s.value for s in mine if s.name == OPERATOR + "currentInputWatermark" and of_view(s)
        ]
        rows = total(OPERATOR + "featureRowsEmitted", of_view) or 0
        counted = total(OPERATOR + "featureEmitLagMsHistogram_count", of_view) or 0
        written = total(OPERATOR + "onlineStoreWritten", of_sink)
        retries = total(OPERATOR + "onlineStoreRetries", of_sink)
        # The gauge reads 0 until a subtask released its first row: only rows counted count.
        views[view] = ViewMetrics(
            view=view,
            emit_lag_ms=max(gauges) if gauges and counted else None,
            emit_lag_p99_ms=max(p99s) if p99s and counted else None,
            emit_lag_rows=int(counted),
            rows_emitted=int(rows),
            online_store_written=None if written is None else int(written),
            online_store_retries=None if retries is None else int(retries),
            watermark_ms=(
                int(min(watermarks))
                if watermarks and min(watermarks) > NO_WATERMARK_BELOW
                else None
            ),
        )
    dead_letters: dict[str, int] = {}
    for s in mine:
        if s.name == OPERATOR + "reason_deadLetters" and "reason" in s.labels:
            reason = s.labels["reason"]
            dead_letters[reason] = dead_letters.get(reason, 0) + int(s.value)
    lag = total(OPERATOR + "pendingRecords")
    restarts = total(JOB + "numRestarts")
    failed = total(JOB + "numberOfFailedCheckpoints")
    return JobMetrics(
        pipeline_name=pipeline_name,
        job_ids=tuple(sorted({s.labels["job_id"] for s in mine if "job_id" in s.labels})),
        scraped_at_ms=int(time.time() * 1000) if now_ms is None else now_ms,
        views=views,
        records_read=int(total(OPERATOR + "deserializer_recordsRead") or 0),
        dead_letters=dict(sorted(dead_letters.items())),
        consumer_lag=None if lag is None else int(lag),
        restarts=None if restarts is None else int(restarts),
        failed_checkpoints=None if failed is None else int(failed),
    )
