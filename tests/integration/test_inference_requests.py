"""The inference path on the real stack: payments → inference_requests → model_scoring.

One request per valid payment, its features exactly the views' values for the event, lineage
that points at the source record, the same requests (ids included) when the same events are
replayed offline, one score per request equal to the model's own on the offline rows it was
trained on; and contracts checked against the registry before a job starts.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common import registry, serde
from common.config import StackConfig
from common.generate.malformed import MalformedKind
from common.generate.runner import produce
from common.kafka import read_topic
from common.models import ContractError, Input
from common.models.artifact import feature_frame, load_artifact
from common.models.registered import check_registered
from common.models.request_schema import request_id
from common.models.training import train_files
from common.runtime import training_set
from common.runtime.catalog import load_runnable
from common.runtime.launch import RunOptions, submit, wait_finished
from common.runtime.offline import flatten_request, run_offline
from jobs.inference_requests.models import PAYMENT_FRAUD
from jobs.model_scoring import launch as scoring_launch
from tests.feature_reference import reference_rows
from tests.integration.feature_checks import by_id, decoded_events, read_values, values_equal

pytestmark = pytest.mark.integration

START = datetime(2026, 6, 1, tzinfo=UTC)
COUNT = 5_000


def _source_positions(config: StackConfig, topic: str) -> dict[str, tuple[int, int]]:
    """Event id → (partition, offset) of its record in the source topic."""
    writers = registry.writer_schemas(registry.client(config))
    positions = {}
    for record in read_topic(config, topic):
        try:
            event = serde.decode(record.value or b"", writers)
        except serde.DecodeError:
            continue
        positions[event["payment_id"]] = (record.partition, record.offset)
    return positions


def _register_feature_schemas() -> None:
    subprocess.run(
        [sys.executable, "-m", "common.cli", "schemas", "register", "--job", "payment_features"],
        check=True,
        capture_output=True,
    )


def _assert_requests_are_the_views_values(
    requests: list[dict[str, Any]], events: list[dict[str, Any]]
) -> None:
    expected = {v.name: by_id(reference_rows(v, events)) for v in PAYMENT_FRAUD.views}
    by_event = {e["payment_id"]: e for e in events}
    problems = []
    for request in requests:
        event_id = request["event_id"]
        for item in PAYMENT_FRAUD.inputs:
            if item.source_name == "event":
                want = by_event[event_id][item.name]
            else:
                want = expected[item.source_name][event_id][item.name]
            got = request["features"][item.name]
            if not values_equal(got, want):
                problems.append(f"{event_id} {item.ref}: {got!r} != {want!r}")
        for view in PAYMENT_FRAUD.views:
            key = view.entity.key
            if request["entity_keys"][key] != by_event[event_id][key]:
                problems.append(f"{event_id}: entity key {key}")
    assert not problems, f"{len(problems)} mismatches, e.g. {problems[:5]}"


def test_one_request_per_payment_equal_to_the_views_and_to_offline(
    stack_config: StackConfig, unique_topic, tmp_path: Path
) -> None:
    config = stack_config
    job = load_runnable("inference_requests")
    _register_feature_schemas()  # as payment_features does when it starts
    source = unique_topic("payments")
    suffix = "." + unique_topic("req")
    summary = produce(
        "payments", config, count=COUNT, seed=41, start=START, disorder_ms=4_000, bad_pct=2,
        topic=source,
    )  # fmt: skip
    assert summary.ok and summary.bad_total > 50
    options = RunOptions(
        parallelism=2,
        source_topic=source,
        topic_suffix=suffix,
        startup="earliest",
        bounded=True,
        group_id=f"test{suffix}",
        models=("payment_fraud",),
    )
    wait_finished(config, submit(config, job, options), timeout_s=300)

    events = decoded_events(config, source)
    assert len(events) == COUNT - summary.bad_total
    requests = read_values(config, f"{PAYMENT_FRAUD.request_topic}{suffix}")
    # Exactly one request per valid payment, with the deterministic id.
    assert sorted(r["event_id"] for r in requests) == sorted(e["payment_id"] for e in events)
    for r in requests:
        assert r["request_id"] == request_id("payment_fraud", 1, r["event_id"])
        assert (r["model_name"], r["model_version"]) == ("payment_fraud", 1)
        assert r["event_time"] == r["feature_times"]["payment_card_v1"]
        assert r["event_time"] == r["feature_times"]["payment_merchant_v1"]
    _assert_requests_are_the_views_values(requests, events)

    # Lineage points at the very record the request came from.
    positions = _source_positions(config, source)
    for r in requests:
        lineage = r["lineage"]
        assert lineage["source_topic"] == source
        assert (lineage["source_partition"], lineage["source_offset"]) == positions[r["event_id"]]
        assert lineage["feature_views"] == ["payment_card.v1", "payment_merchant.v1"]
        assert lineage["job"] == "inference_requests" and lineage["job_version"]

    # Every input record: a request or a dead letter with its reason.
    letters = read_values(config, f"dlq.inference_requests{suffix}")
    expected: Counter[str] = Counter()
    for kind, count in summary.bad.items():
        expected[MalformedKind(kind).expected_reason] += count
    assert Counter(letter["reason"] for letter in letters) == expected
    assert len(requests) + len(letters) == COUNT

    # The same events replayed offline (parallelism 1): the same requests, ids included.
    offline = run_offline(
        config, job, source, tmp_path / "requests.parquet", views=["payment_fraud"], parallelism=1
    )
    rows = pq.read_table(offline.files["payment_fraud.v1"]).to_pylist()
    assert offline.rows == {"payment_fraud.v1": len(requests)}
    streamed = {r["request_id"]: flatten_request(r) for r in requests}
    assert {r["request_id"] for r in rows} == set(streamed)
    for row in rows:
        want = streamed[row["request_id"]]
        assert set(row) == set(want)
        for column, value in row.items():
            assert values_equal(value, want[column]), (column, row)

    # training-set with the payments themselves as labels (label time = the payment's time,
    # the payment's own keys and amount): the as-of join at each payment gives its request's
    # inputs exactly, in contract order, the label columns after them.
    labels = pa.Table.from_pylist(
        [
            {
                "payment_id": e["payment_id"],
                "card_id": e["card_id"],
                "merchant_id": e["merchant_id"],
                "label_time": e["event_time"],
                "amount_usd_cents": e["amount_usd_cents"],
                "is_fraud": e["amount_usd_cents"] % 7 == 0,
            }
            for e in events
        ]
    )
    pq.write_table(labels, tmp_path / "labels.parquet")
    built = training_set.build(
        config,
        tmp_path / "labels.parquet",
        tmp_path / "training.parquet",
        model=PAYMENT_FRAUD,
        source=source,
        parallelism=2,
    )
    assert built.stats.matched == {
        "payment_card.v1": len(events),
        "payment_merchant.v1": len(events),
    }
    training = pq.read_table(tmp_path / "training.parquet")
    assert training.column_names == [
        "event_id", "event_time", "card_id", "merchant_id", *PAYMENT_FRAUD.input_names,
        "payment_id", "is_fraud",
    ]  # fmt: skip
    by_event = {row["event_id"]: row for row in rows}
    for row in training.to_pylist():
        want = by_event[row["event_id"]]
        for name in PAYMENT_FRAUD.input_names:
            assert values_equal(row[name], want[name]), (name, row, want)

    # The last hop: a model trained on those offline rows scores the streamed requests, once
    # each, exactly as it scores the training rows.
    train_files(PAYMENT_FRAUD, offline.files["payment_fraud.v1"], None, tmp_path / "model")
    artifact = load_artifact(tmp_path / "model", PAYMENT_FRAUD)
    frame = pd.read_parquet(offline.files["payment_fraud.v1"])
    expected = dict(
        zip(frame["request_id"], artifact.score(feature_frame(frame, PAYMENT_FRAUD)), strict=True)
    )
    scoring = RunOptions(
        parallelism=1,
        source_topic=PAYMENT_FRAUD.request_topic + suffix,
        topic_suffix=suffix,
        startup="earliest",
        bounded=True,
        group_id=f"score{suffix}",
    )
    scoring_id = scoring_launch.submit(config, PAYMENT_FRAUD, tmp_path / "model", scoring)
    wait_finished(config, scoring_id, timeout_s=300)
    results = read_values(config, PAYMENT_FRAUD.result_topic + suffix)
    assert sorted(r["request_id"] for r in results) == sorted(streamed)
    for result in results:
        assert result["error"] is None
        assert abs(result["score"] - expected[result["request_id"]]) <= 1e-12, result


def test_contract_checked_against_the_registry_before_start(
    stack_config: StackConfig, unique_topic
) -> None:
    client = registry.client(stack_config)
    # The real feature schemas registered: the contract passes.
    _register_feature_schemas()
    check_registered(PAYMENT_FRAUD, client)

    # A view whose registered schema types a feature differently fails, naming it.
    card, merchant = PAYMENT_FRAUD.views
    renamed = dataclasses.replace(card, name=unique_topic("card").replace("-", "_"))
    contract = dataclasses.replace(
        PAYMENT_FRAUD,
        views=(renamed, merchant),
        inputs=tuple(
            Input(i.ref.replace("payment_card.", f"{renamed.name}."), i.type)
            for i in PAYMENT_FRAUD.inputs
        ),
    )
    with pytest.raises(ContractError, match=f"feature view {renamed.name}.v1: no schema under"):
        check_registered(contract, client)
    schema = json.loads(Path("schemas/feature_payment_card_v1.avsc").read_text())
    for field in schema["fields"]:
        if field["name"] == "card_txn_count_10m":
            field["type"] = ["null", "double"]
    registry.ensure_registered_text(client, f"features.{renamed.name}.v1", json.dumps(schema))
    with pytest.raises(
        ContractError, match="card_txn_count_10m: registered as double, the contract expects long"
    ):
        check_registered(contract, client)
