"""Compiling feature jobs to SQL: golden SQL per job, typing rules, output schemas."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest

from common.features import Count, DefinitionError, Entity, FeatureView, Last, Max, Source, Sum
from common.features.columns import feature_kind, typed_input
from common.features.output_schema import output_schema, stale_schema_files
from common.features.sql import FeatureJob, JobSettings, _interval, compile_job, output_columns
from common.runtime.catalog import job_names, load_job

GOLDEN = Path(__file__).parent / "golden"
SETTINGS = JobSettings(
    bootstrap_servers="kafka:9092",
    registry_url="http://registry:8081/apis/ccompat/v7",
    redis_url="redis://redis:6379/0",
)


@pytest.mark.parametrize("name", job_names())
def test_job_sql_matches_golden(name: str) -> None:
    path = GOLDEN / f"sql.{name}.sql"
    text = compile_job(load_job(name), SETTINGS).text()
    if os.environ.get("FEATURESTREAM_UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.read_text() == text, f"{path.name} changed; regenerate if deliberate"


def test_both_feature_jobs_are_found() -> None:
    assert {"payment_features", "trade_features"} <= set(job_names())


def test_committed_feature_schemas_match_definitions() -> None:
    views = [v for name in job_names() for v in load_job(name).views]
    assert stale_schema_files(views) == []


def _view(*features: object, key: str = "card_id") -> FeatureView:
    return FeatureView(
        name="v",
        version=1,
        entity=Entity(key),
        source=Source("payments", "payment_event", "payment_id"),
        features=features,  # type: ignore[arg-type]
    )


def test_types_follow_the_input_column() -> None:
    total = Sum("total", "amount_usd_cents", window="1h")
    scaled = Sum("scaled", "amount_usd_cents / 100", window="1h")
    view = _view(total, scaled, Last("last_country", "country"), Max("top", "country"))
    assert feature_kind(view, total) == "BIGINT"
    assert feature_kind(view, scaled) == "DOUBLE"
    assert typed_input(view, scaled).expression == "CAST(amount_usd_cents / 100 AS DOUBLE)"
    assert [feature_kind(view, f) for f in view.features[2:]] == ["STRING", "STRING"]


def test_sum_of_a_string_column_is_refused() -> None:
    view = _view(Sum("s", "country", window="1h"))
    with pytest.raises(DefinitionError, match="cannot take 'country'"):
        compile_job(FeatureJob("j", (view,)), SETTINGS)


def test_unknown_column_is_refused() -> None:
    view = _view(Sum("s", "amount", window="1h"))
    with pytest.raises(DefinitionError, match="not a column of schema 'payment_event'"):
        compile_job(FeatureJob("j", (view,)), SETTINGS)


def test_views_of_one_job_share_a_source() -> None:
    other = FeatureView(
        name="w",
        version=1,
        entity=Entity("symbol"),
        source=Source("trades", "trade_event", "trade_id"),
        features=(Count("n", window="1h"),),
    )
    with pytest.raises(DefinitionError, match="different sources"):
        FeatureJob("j", (_view(Count("n", window="1h")), other))


def test_output_columns_match_the_avro_schema() -> None:
    view = load_job("payment_features").views[0]
    schema = output_schema(view)
    assert [f["name"] for f in schema["fields"]] == [n for n, _ in output_columns(view)]
    json.dumps(schema)  # serialisable


def test_bounded_offline_settings_change_only_the_source_and_sinks() -> None:
    job = load_job("trade_features")
    bounded = compile_job(
        job,
        JobSettings(
            bootstrap_servers="k:1",
            registry_url="http://r",
            source_topic="history",
            topic_suffix=".offline-1",
            startup="earliest",
            bounded=True,
        ),
    )
    streaming = compile_job(job, JobSettings(bootstrap_servers="k:1", registry_url="http://r"))
    assert "'scan.bounded.mode' = 'latest-offset'" in bounded.statements[0]
    assert bounded.window_functions == streaming.window_functions
    # Everything between the source and the sinks is the same text.
    assert bounded.statements[1:2] == streaming.statements[1:2]
    assert list(bounded.feature_topics.values()) == [
        "features.trade_symbol.v1.offline-1",
        "features.trade_account.v1.offline-1",
    ]
    assert not any("featurestream-redis" in s for s in bounded.statements)
    # Bounded: no watermark until the end of the input, so no row is ever late.
    assert "WATERMARK FOR `event_time` AS CAST(NULL AS TIMESTAMP(3))" in bounded.statements[0]
    assert "ELSE `event_time` - INTERVAL '0 00:00:02.000'" in streaming.statements[0]
    # Benchmarks keep streaming's watermark over a bounded topic.
    measured = compile_job(
        job, JobSettings("k:1", "http://r", bounded=True, streaming_watermark=True)
    )

    def watermark(ddl: str) -> str:
        return next(line for line in ddl.splitlines() if "WATERMARK FOR" in line)

    assert watermark(measured.statements[0]) == watermark(streaming.statements[0])


def test_a_far_future_event_time_never_moves_the_watermark() -> None:
    source = load_job("payment_features").source
    compiled = compile_job(load_job("payment_features"), SETTINGS)
    future = "`event_time` > LOCALTIMESTAMP + INTERVAL '0 00:05:00.000' DAY TO SECOND(3)"
    assert source.max_future_skew == timedelta(minutes=5)
    assert f"CASE WHEN {future} THEN CAST(NULL AS TIMESTAMP(3))" in compiled.statements[0]
    classified = compiled.statements[1]
    # Checked before lateness: such a row is a future_event_time dead letter, never late.
    assert classified.index("'future_event_time'") < classified.index("'late'")


def test_the_at_least_once_switch_drops_the_transactions() -> None:
    job = load_job("trade_features")
    loose = compile_job(job, JobSettings("k:1", "http://r", sink_guarantee="at-least-once"))
    sinks = [s for s in loose.statements if "'sink.delivery-guarantee'" in s]
    assert len(sinks) == 2 + len(job.views)  # dead letters (job, windows), features
    assert all("'at-least-once'" in s and "transactional-id" not in s for s in sinks)
    with pytest.raises(ValueError, match="sink guarantee"):
        compile_job(job, JobSettings("k:1", "http://r", sink_guarantee="twice"))


@pytest.mark.parametrize(
    ("delta", "literal"),
    [
        (timedelta(seconds=5), "INTERVAL '0 00:00:05.000' DAY TO SECOND(3)"),
        (timedelta(minutes=2, milliseconds=7), "INTERVAL '0 00:02:00.007' DAY TO SECOND(3)"),
        (timedelta(days=1, hours=1), "INTERVAL '1 01:00:00.000' DAY TO SECOND(3)"),
    ],
)
def test_interval_literals_are_exact(delta: timedelta, literal: str) -> None:
    assert _interval(delta) == literal
