"""The Prometheus text parser and the per-job summary of Flink's reporter series."""

from __future__ import annotations

import math

import pytest

from common.runtime import metrics


def test_parse_samples_labels_escapes_and_special_values() -> None:
    text = "\n".join(
        [
            "# HELP flink_x x (scope: taskmanager_job)",
            "# TYPE flink_x gauge",
            'flink_x{job_name="a",operator_name="Calc[3] -> \\"q\\" \\\\ end\\n",} 12.5',
            "flink_y 3 1700000000000",
            'flink_z{quantile="0.99",} NaN',
            'flink_w{a="1"} +Inf',
            'flink_v{a="",b="{x=1}"} -4.0E-3',
            "",
        ]
    )
    samples = metrics.parse(text)
    assert [s.name for s in samples] == ["flink_x", "flink_y", "flink_z", "flink_w", "flink_v"]
    assert samples[0].labels == {"job_name": "a", "operator_name": 'Calc[3] -> "q" \\ end\n'}
    assert samples[0].value == 12.5
    assert samples[1].labels == {} and samples[1].value == 3  # the timestamp is not the value
    assert math.isnan(samples[2].value) and samples[2].labels == {"quantile": "0.99"}
    assert samples[3].value == math.inf
    assert samples[4].labels == {"a": "", "b": "{x=1}"} and samples[4].value == -0.004


@pytest.mark.parametrize(
    "line",
    ['flink_x{job_name="a} 1', "flink_x", 'flink_x{9="a"} 1', "flink_x one", '{a="b"} 1'],
)
def test_parse_refuses_what_is_not_a_sample(line: str) -> None:
    with pytest.raises(metrics.MetricsError):
        metrics.parse(line)


JOB_ID = "dba4e74bbfc1ae796089a460e98393aa"


def _line(name: str, value: float, **labels: str) -> str:
    base = {"job_id": JOB_ID, "host": "127_0_0_1", "job_name": "featurestream_payment_features"}
    text = ",".join(f'{k}="{v}"' for k, v in {**base, **labels}.items())
    return f"{name}{{{text},}} {value}"


def test_operator_ids_are_flinks_hashes_of_the_uids() -> None:
    # As a running payment_features reported them (operator_id labels).
    assert metrics.operator_id("payment_card_v1") == "d60c8addd426d4efa6f4da68320e045f"
    assert metrics.operator_id("payment_merchant_v1") == "cdf95ff83460a6b7735da70122d81d89"
    assert metrics.operator_id("1_source") == "d3f21cabc6fe0fdf76c8be915bdb22a2"
    long_uid = "payment_fraud_v1__payment_card_v1"  # more than one 16-byte block
    assert len(metrics.operator_id(long_uid)) == 32


def test_job_metrics_per_view_from_the_reporters_series() -> None:
    op = metrics.OPERATOR
    card = {"operator_id": metrics.operator_id("payment_card_v1"), "operator_name": "PTF_7_"}
    sink = {"operator_name": "online_features_payment_card_v1_11_:_Writer"}
    merchant = {"operator_id": metrics.operator_id("payment_merchant_v1")}
    calc = {"operator_name": "Calc_3_"}
    text = "\n".join(
        [
            *(
                _line(op + "featureEmitLagMsHistogram", v, subtask_index=i, quantile="0.99", **card)
                for i, v in (("0", 6400.5), ("1", 6100.0))
            ),
            *(
                _line(op + "featureEmitLagMsHistogram_count", 700, subtask_index=i, **card)
                for i in "01"
            ),
            _line(op + "featureEmitLagMs", 6000, subtask_index="0", **card),
            _line(op + "featureEmitLagMs", 5900, subtask_index="1", **card),
            _line(op + "featureRowsEmitted", 700, subtask_index="0", **card),
            _line(op + "featureRowsEmitted", 702, subtask_index="1", **card),
            _line(op + "currentInputWatermark", 1_000_000, subtask_index="0", **card),
            _line(op + "currentInputWatermark", 999_000, subtask_index="1", **card),
            _line(op + "onlineStoreWritten", 1402, subtask_index="0", **sink),
            _line(op + "onlineStoreRetries", 3, subtask_index="0", **sink),
            # No row yet: the gauge's 0 and the histogram's NaN are not a lag.
            _line(op + "featureEmitLagMs", 0, subtask_index="0", **merchant),
            _line(op + "featureEmitLagMsHistogram", math.nan, quantile="0.99", **merchant),
            _line(op + "featureEmitLagMsHistogram_count", 0, **merchant),
            _line(op + "currentInputWatermark", -9.223372036854776e18, **merchant),
            _line(op + "deserializer_recordsRead", 1500, subtask_index="0"),
            _line(op + "deserializer_recordsRead", 1500, subtask_index="1"),
            _line(op + "reason_deadLetters", 2, reason="late", subtask_index="0", **calc),
            _line(op + "reason_deadLetters", 3, reason="late", subtask_index="1", **calc),
            _line(op + "reason_deadLetters", 1, reason="null_key", subtask_index="1", **calc),
            _line(op + "pendingRecords", 10, subtask_index="0"),
            _line(op + "pendingRecords", 5, subtask_index="1"),
            _line(metrics.JOB + "numRestarts", 1),
            _line(metrics.JOB + "numberOfFailedCheckpoints", 8),
            # Another job's series, and another run of this one, are not counted.
            _line(op + "deserializer_recordsRead", 99, job_name="featurestream_trade_features"),
            _line(op + "deserializer_recordsRead", 99, job_id="f" * 32),
        ]
    )
    windows = {"payment_card.v1": "payment_card_v1", "payment_merchant.v1": "payment_merchant_v1"}
    found = metrics.job_metrics(
        metrics.parse(text), "featurestream-payment-features", windows, JOB_ID, now_ms=1_005_000
    )
    card_view = found.views["payment_card.v1"]
    assert card_view.emit_lag_p99_ms == 6400.5  # the worst subtask
    assert card_view.emit_lag_ms == 6000
    assert card_view.emit_lag_rows == 1400 and card_view.rows_emitted == 1402
    assert (card_view.online_store_written, card_view.online_store_retries) == (1402, 3)
    assert card_view.watermark_ms == 999_000 and card_view.watermark_lag_ms(1_005_000) == 6_000
    merchant_view = found.views["payment_merchant.v1"]
    assert merchant_view.emit_lag_ms is None and merchant_view.emit_lag_p99_ms is None
    assert merchant_view.watermark_ms is None and merchant_view.online_store_written is None
    assert found.records_read == 3000
    assert found.dead_letters == {"late": 5, "null_key": 1} and found.dead_letters_total == 6
    assert (found.consumer_lag, found.restarts, found.failed_checkpoints) == (15, 1, 8)
    assert found.job_ids == (JOB_ID,)
    assert found.as_dict()["views"]["payment_card.v1"]["watermark_lag_ms"] == 6_000


def test_windows_of_a_state_lock() -> None:
    lock = {
        "operators": [
            {"uid": "1_source", "kind": "source", "name": "source_events"},
            {"uid": "a__payment_card_v1", "kind": "window", "name": "payment_card.v1"},
            {"uid": "b__payment_card_v1", "kind": "window", "name": "payment_card.v1"},
            {"uid": "a__trade_symbol_v1", "kind": "window", "name": "trade_symbol.v1"},
        ]
    }
    assert metrics.windows_of_lock(lock) == {
        "a__payment_card_v1": "a__payment_card_v1",
        "b__payment_card_v1": "b__payment_card_v1",
        "trade_symbol.v1": "a__trade_symbol_v1",
    }
