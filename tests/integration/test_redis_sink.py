"""The ``featurestream-redis`` table sink writes the newest vector per key, whatever the order.

Flink jobs write through the JVM sink (the same Lua script as ``common.online_store``); the test
reads back with the Python ``OnlineStore``, so both sides of the contract are exercised.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from common.config import StackConfig
from common.local import flink_client
from common.local.flink_client import FlinkJobError
from common.online_store import OnlineStore, StoredVector, redis_key

pytestmark = pytest.mark.integration

JOB = Path(__file__).parent / "flink_jobs" / "redis_sink.py"

COLUMNS = [
    ("card_id", "STRING"),
    ("payment_id", "STRING"),
    ("event_time", "TIMESTAMP(3)"),
    ("card_txn_count_1h", "BIGINT"),
    ("card_amount_usd_avg_24h", "DOUBLE"),
    ("is_foreign", "BOOLEAN"),
    ("last_channel", "STRING"),
    ("amount_usd", "DECIMAL(12, 2)"),
    ("share_of_day", "FLOAT"),
    ("merchants_24h", "INT"),
]
FEATURES = [name for name, _ in COLUMNS[3:]]

# How each SQL type reads back from the store's strings.
PARSE: dict[str, Callable[[str], object]] = {
    "BIGINT": int,
    "INT": int,
    "DOUBLE": float,
    "FLOAT": float,
    "BOOLEAN": {"true": True, "false": False}.__getitem__,
    "STRING": str,
    "DECIMAL(12, 2)": Decimal,
}

# card-a arrives out of order (3000 before 2000); card-b has two vectors at the same time
# (the larger event id, p5b, wins whatever the order); the null-key row is dropped.
ROWS: list[list[Any]] = [
    ["card-a", "p1", 1_000, 1, 10.5, False, "web", "1.10", 0.25, 1],
    ["card-a", "p3", 3_000, 3, None, True, "pos", "12345678.90", 1.5, 3],
    ["card-a", "p2", 2_000, 2, 20.25, False, "web", "2.20", 0.5, 2],
    ["card-b", "p5b", 5_000, 7, 0.1, None, "ecom", "-0.05", None, None],
    ["card-b", "p4", 4_000, 5, 1.0, True, "web", "3.00", 0.75, 4],
    ["card-b", "p5a", 5_000, 6, 0.2, True, "pos", "4.00", 0.125, 5],
    ["card-c", "p9", 9_000, -9_007_199_254_740_993, 1e-7, True, "ünïcode ✓ 'q'", "0.00", -2.5, 0],
    [None, "p10", 10_000, 1, 1.0, True, "web", "1.00", 1.0, 1],
]
# Written afterwards: older than (or tied below) what is stored, so nothing may change, except
# card-d, which is new and proves the second job did write.
OLDER_ROWS: list[list[Any]] = [
    ["card-a", "p0", 500, 0, 0.0, False, "web", "0.00", 0.0, 0],
    ["card-a", "p2", 2_000, 2, 20.25, False, "web", "2.20", 0.5, 2],
    ["card-b", "p5", 5_000, 9, 9.0, False, "web", "9.00", 9.0, 9],
    ["card-d", "p1", 1_000, 1, 1.0, False, "web", "1.00", 1.0, 1],
]


def sink_options(config: StackConfig, view: str, **extra: str) -> dict[str, str]:
    return {
        "url": config.redis_url,
        "view": view,
        "version": "1",
        "key-column": "card_id",
        "event-id-column": "payment_id",
        "event-time-column": "event_time",
        **extra,
    }


def run_job(
    config: StackConfig,
    options: dict[str, str],
    rows: Sequence[Sequence[Any]],
    *,
    columns: Sequence[tuple[str, str]] = COLUMNS,
    unbounded: bool = False,
    parallelism: int | None = None,
) -> str:
    spec = {"columns": columns, "options": options, "rows": rows, "unbounded": unbounded}
    return flink_client.submit_python(
        config, script=JOB, args=[json.dumps(spec)], parallelism=parallelism
    )


def newest(rows: Sequence[Sequence[Any]]) -> dict[str, Sequence[Any]]:
    """The expected survivor per key: latest event time, ties to the larger event id."""
    best: dict[str, Sequence[Any]] = {}
    for row in rows:
        key = row[0]
        if key is not None and (key not in best or (row[2], row[1]) > (best[key][2], best[key][1])):
            best[key] = row
    return best


def assert_holds(stored: StoredVector | None, row: Sequence[Any]) -> None:
    assert stored is not None, f"no vector for {row[0]}"
    assert (stored.event_time_ms, stored.event_id, stored.version) == (row[2], row[1], 1)
    expected = {name: value for name, value in zip(FEATURES, row[3:], strict=True)}
    # Null features are absent; the others parse back to the value the job wrote.
    assert set(stored.features) == {name for name, value in expected.items() if value is not None}
    for (name, sql_type), value in zip(COLUMNS[3:], row[3:], strict=True):
        if value is None:
            continue
        parsed = PARSE[sql_type](stored.features[name])
        wanted = Decimal(value) if sql_type.startswith("DECIMAL") else value
        assert parsed == wanted, f"{row[0]}.{name}: stored {stored.features[name]!r}"
    if row[7] is not None:
        assert stored.features["amount_usd"] == row[7]  # plain notation, scale kept


def pttl(client: redis.Redis, key: str) -> int:
    """Milliseconds to expiry; -1 without expiry (redis-py types the reply loosely)."""
    value = client.pttl(key)
    assert isinstance(value, int)
    return value


def sink_counters(
    config: StackConfig,
    job_id: str,
    names: Sequence[str] = ("onlineStoreWritten", "onlineStoreSkippedOlder"),
) -> dict[str, int]:
    """The writer's counters, summed over subtasks, as the REST API reports them (lagging)."""
    totals = dict.fromkeys(names, 0)
    for vertex in flink_client.job_details(config, job_id)["vertices"]:
        url = f"{config.flink_rest_url}/jobs/{job_id}/vertices/{vertex['id']}/metrics"
        ids = [m["id"] for m in httpx.get(url, timeout=5).json()]
        wanted = [i for i in ids if i.rsplit(".", 1)[-1] in totals]
        if wanted:
            for metric in httpx.get(url, params={"get": ",".join(wanted)}, timeout=5).json():
                totals[metric["id"].rsplit(".", 1)[-1]] += int(float(metric["value"]))
    return totals


def test_sink_keeps_the_newest_vector_per_key(stack_config: StackConfig) -> None:
    view = f"t_{uuid.uuid4().hex[:8]}"
    store = OnlineStore.connect(stack_config)
    # Parallelism 2 with tiny batches: vectors of one key reach two writers and many pipelines,
    # in no particular order; newer-wins must still leave the newest.
    options = sink_options(stack_config, view, ttl="1 h", **{"batch-size": "2"})
    job_id = run_job(stack_config, options, ROWS, parallelism=2)
    flink_client.wait_for_state(stack_config, job_id, "FINISHED", timeout_s=180)

    expected = newest(ROWS)
    assert set(expected) == {"card-a", "card-b", "card-c"}
    stored = store.get_many(view, 1, expected)
    for key, row in expected.items():
        assert_holds(stored[key], row)
    client = redis.Redis.from_url(stack_config.redis_url)
    assert 0 < pttl(client, redis_key(view, 1, "card-a")) <= 3_600_000
    # Nothing else was written: the null-key row was dropped.
    written = {key.decode() for key in client.scan_iter(match=f"fs:{view}:*")}
    assert written == {redis_key(view, 1, key) for key in expected}

    job_id = run_job(stack_config, sink_options(stack_config, view), OLDER_ROWS)
    flink_client.wait_for_state(stack_config, job_id, "FINISHED", timeout_s=180)

    after = store.get_many(view, 1, ["card-a", "card-b", "card-c", "card-d"])
    for key, row in expected.items():
        assert_holds(after[key], row)
    assert_holds(after["card-d"], OLDER_ROWS[-1])
    assert pttl(client, redis_key(view, 1, "card-d")) == -1  # no ttl option: no expiry


def test_flush_interval_writes_a_partial_batch_while_the_job_runs(
    stack_config: StackConfig,
) -> None:
    """No checkpoint and no end of input, batch never full: only the flush timer can write."""
    view = f"t_{uuid.uuid4().hex[:8]}"
    store = OnlineStore.connect(stack_config)
    columns = [*COLUMNS[:2], ("event_time", "TIMESTAMP_LTZ(3)"), *COLUMNS[3:]]
    options = sink_options(stack_config, view, **{"batch-size": "1000", "flush-interval": "100 ms"})
    job_id = run_job(stack_config, options, ROWS[:3], columns=columns, unbounded=True)
    try:
        deadline = time.monotonic() + 120
        while (stored := store.get(view, 1, "card-a")) is None or stored.event_id != "p3":
            state = flink_client.job_details(stack_config, job_id)["state"]
            assert state not in flink_client.TERMINAL_STATES, state
            assert time.monotonic() < deadline, f"the flush timer did not write p3: {stored}"
            time.sleep(0.2)
        # Written while the job still runs: neither end of input nor a checkpoint did it.
        assert flink_client.job_details(stack_config, job_id)["state"] == "RUNNING"
        # One writer sees p1, p3, p2 in that order: two written, p2 skipped as older.
        # The REST API refreshes metrics every few seconds (metrics.fetcher.update-interval).
        wanted = {"onlineStoreWritten": 2, "onlineStoreSkippedOlder": 1}
        deadline = time.monotonic() + 60
        while (counters := sink_counters(stack_config, job_id)) != wanted:
            assert time.monotonic() < deadline, f"sink metrics {counters}, expected {wanted}"
            time.sleep(0.5)
    finally:
        flink_client.cancel(stack_config, job_id)
    flink_client.wait_for_state(stack_config, job_id, "CANCELED", timeout_s=60)
    assert_holds(store.get(view, 1, "card-a"), ROWS[1])


@pytest.mark.parametrize(
    ("columns", "overrides", "message"),
    [
        pytest.param(
            COLUMNS,
            {"key-column": "card"},
            "option 'key-column' names column 'card', which the table does not have",
            id="missing-column",
        ),
        pytest.param(
            [("card_id", "INT"), *COLUMNS[1:]],
            {},
            "key column 'card_id' must be STRING, got INT",
            id="key-not-string",
        ),
        pytest.param(
            [*COLUMNS[:2], ("event_time", "TIMESTAMP(6)"), *COLUMNS[3:]],
            {},
            r"event time column 'event_time' must be TIMESTAMP\(3\) or TIMESTAMP_LTZ\(3\)",
            id="event-time-precision",
        ),
        pytest.param(
            [*COLUMNS, ("version", "INT")],
            {},
            "feature column 'version' uses a reserved name",
            id="reserved-feature-name",
        ),
        pytest.param(
            [*COLUMNS, ("first_seen", "DATE")],
            {},
            "feature column 'first_seen' has unsupported type DATE",
            id="unsupported-feature-type",
        ),
    ],
)
def test_bad_table_definitions_fail_at_planning(
    stack_config: StackConfig,
    columns: list[tuple[str, str]],
    overrides: dict[str, str],
    message: str,
) -> None:
    options = {**sink_options(stack_config, "t_invalid"), **overrides}
    with pytest.raises(FlinkJobError, match=message):
        run_job(stack_config, options, [], columns=columns)


# The event log (issue 17): in_0..in_2 are the window function's inputs, logged per event and not
# features; keep 10 s. The planner may reorder the rows of one VALUES (a union of one-row
# inputs), so each job's rows are chosen to give the same log in any order; what must come later
# (older than keep, a replay, out of order) comes in a second job.
T = 1_767_225_600_000
LOG_COLUMNS = [
    ("card_id", "STRING"),
    ("payment_id", "STRING"),
    ("event_time", "TIMESTAMP(3)"),
    ("card_txn_count_1h", "BIGINT"),
    ("in_0", "BIGINT"),
    ("in_1", "STRING"),
    ("in_2", "DOUBLE"),
]
LOG_ROWS: list[list[Any]] = [
    ["card-e", "e1", T + 1_000, 1, 10, "m1", 1.5],  # gone: trimmed, or skipped if after e3
    ["card-e", "e2", T + 25_000, 3, 25, "m2", 2.25],  # outside keep of e4, but the latest so
    ["card-e", "e3", T + 30_000, 2, 30, "m3", 3.0],  # exactly keep behind the newest: kept
    ["card-e", "e4b", T + 40_000, 6, 41, "m4", -0.125],  # the newest
    ["card-e", "e4a", T + 40_000, 7, 40, 'mer "q" \\', 2.5],  # same millisecond, another id
    ["card-f", "f1", T + 7_000, 1, 7, "m7", 7.0],
    [None, "x1", T + 9_000, 1, 9, "m9", 9.0],  # no key: neither vector nor log
]
# Behind the stored newest (T + 40 s), whatever their order.
LATER_ROWS: list[list[Any]] = [
    ["card-e", "e3", T + 30_000, 2, 30, "m3", 3.0],  # replayed: the same member, a no-op
    ["card-e", "e6", T + 35_000, 5, None, "ünï ✓", None],  # out of order, within keep; nulls
    ["card-e", "e3z", T + 30_000, 8, 31, "m3z", 3.5],  # out of order, exactly at the horizon
    ["card-e", "e0", T + 5_000, 4, 5, "m0", 0.5],  # older than newest - keep and e2: skipped
    ["card-e", "e5", T + 29_999, 9, 20, "m5", 2.0],  # behind the horizon, after e2: replaces it
]


def event_log(client: redis.Redis, view: str, key: str) -> list[tuple[str, int]]:
    """The log of ``key``: (member, event time) in score order (ties by member)."""
    entries = client.zrange(f"fse:{view}:v1:{key}", 0, -1, withscores=True)
    assert isinstance(entries, list)  # redis-py types the reply loosely
    return [(member.decode(), int(score)) for member, score in entries]


def test_sink_keeps_an_event_log_per_key_trimmed_behind_its_newest_event(
    stack_config: StackConfig,
) -> None:
    view = f"t_{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(stack_config.redis_url)
    history = {"history-columns": "in_0, in_1,in_2", "history-keep": "10 s", "history-ttl": "1 h"}
    options = sink_options(stack_config, view, **history, **{"batch-size": "2"})
    job_id = run_job(stack_config, options, LOG_ROWS, columns=LOG_COLUMNS, parallelism=2)
    flink_client.wait_for_state(stack_config, job_id, "FINISHED", timeout_s=180)

    # Members as readers parse them: [id, in_0, in_1, in_2], no spaces, strings escaped.
    newest = [
        ('["e4a",40,"mer \\"q\\" \\\\",2.5]', T + 40_000),
        ('["e4b",41,"m4",-0.125]', T + 40_000),
    ]
    # e2 is behind the horizon but the latest event there: kept (for seconds_since_prev).
    previous = ('["e2",25,"m2",2.25]', T + 25_000)
    assert event_log(client, view, "card-e") == [
        previous,
        ('["e3",30,"m3",3.0]', T + 30_000),
        *newest,
    ]
    assert event_log(client, view, "card-f") == [('["f1",7,"m7",7.0]', T + 7_000)]
    logs = {key.decode() for key in client.scan_iter(match=f"fse:{view}:*")}
    assert logs == {f"fse:{view}:v1:card-e", f"fse:{view}:v1:card-f"}
    assert 0 < pttl(client, f"fse:{view}:v1:card-e") <= 3_600_000

    # One writer, kept running so that its counters can be read.
    options = sink_options(stack_config, view, **history, **{"flush-interval": "100 ms"})
    job_id = run_job(
        stack_config, options, LATER_ROWS, columns=LOG_COLUMNS, unbounded=True, parallelism=1
    )
    names = (
        "onlineStoreEventsWritten",
        "onlineStoreEventsSkippedOld",
        "onlineStoreWritten",
        "onlineStoreSkippedOlder",
    )
    wanted = {
        "onlineStoreEventsWritten": 4,  # e3 counts: the script ran, and the event is there
        "onlineStoreEventsSkippedOld": 1,
        "onlineStoreWritten": 0,  # every vector is older than e4b's
        "onlineStoreSkippedOlder": 5,
    }
    try:
        deadline = time.monotonic() + 120
        while (counters := sink_counters(stack_config, job_id, names)) != wanted:
            state = flink_client.job_details(stack_config, job_id)["state"]
            assert state not in flink_client.TERMINAL_STATES, state
            assert time.monotonic() < deadline, f"sink metrics {counters}, expected {wanted}"
            time.sleep(0.5)
    finally:
        flink_client.cancel(stack_config, job_id)
    flink_client.wait_for_state(stack_config, job_id, "CANCELED", timeout_s=60)

    stored = event_log(client, view, "card-e")
    assert stored == [
        ('["e5",20,"m5",2.0]', T + 29_999),
        ('["e3",30,"m3",3.0]', T + 30_000),
        ('["e3z",31,"m3z",3.5]', T + 30_000),
        ('["e6",null,"ünï ✓",null]', T + 35_000),
        *newest,
    ]
    assert json.loads(stored[4][0]) == ["e4a", 40, 'mer "q" \\', 2.5]
    for member, _ in stored:
        assert member == json.dumps(json.loads(member), separators=(",", ":"), ensure_ascii=False)

    # The vector is the log's newest event (ties to the larger id), features only: none of the
    # history columns, and no expiry (history-ttl is the log's).
    stored_vector = client.hgetall(f"fs:{view}:v1:card-e")
    assert isinstance(stored_vector, dict)
    vector = {k.decode(): v.decode() for k, v in stored_vector.items()}
    assert vector == {
        "event_time": str(T + 40_000),
        "event_id": "e4b",
        "version": "1",
        "card_txn_count_1h": "6",
    }
    assert pttl(client, f"fs:{view}:v1:card-e") == -1


@pytest.mark.parametrize(
    ("columns", "overrides", "message"),
    [
        pytest.param(
            LOG_COLUMNS,
            {"history-columns": "in_0,in_1"},
            "option 'history-keep' is required when 'history-columns' is set",
            id="history-keep-missing",
        ),
        pytest.param(
            [*LOG_COLUMNS, ("amount", "DECIMAL(12, 2)")],
            {"history-columns": "in_0,amount", "history-keep": "1 h"},
            r"option 'history-columns': column 'amount' has unsupported type DECIMAL\(12, 2\)",
            id="history-decimal",
        ),
        pytest.param(
            LOG_COLUMNS,
            {"history-columns": "in_0,card_id", "history-keep": "1 h"},
            "option 'history-columns' must not name the key, event id or event time column",
            id="history-key-column",
        ),
    ],
)
def test_bad_event_log_options_fail_at_planning(
    stack_config: StackConfig,
    columns: list[tuple[str, str]],
    overrides: dict[str, str],
    message: str,
) -> None:
    options = {**sink_options(stack_config, "t_invalid"), **overrides}
    with pytest.raises(FlinkJobError, match=message):
        run_job(stack_config, options, [], columns=columns)
