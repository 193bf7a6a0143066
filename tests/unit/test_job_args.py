"""The feature job driver's command line: settings passed through to Flink."""

from __future__ import annotations

import pytest

from common.features.job import build_arg_parser
from jobs.payment_features.job import JOB


def test_flink_conf_pairs_are_kept_in_order() -> None:
    args = build_arg_parser(JOB).parse_args(
        [
            "--flink-conf",
            "state.backend.rocksdb.use-bloom-filter=true",
            "--flink-conf",
            " state.backend.type = forst ",
        ]
    )
    assert args.flink_conf == [
        ("state.backend.rocksdb.use-bloom-filter", "true"),
        ("state.backend.type", "forst"),
    ]
    assert build_arg_parser(JOB).parse_args([]).flink_conf == []


@pytest.mark.parametrize("bad", ["state.backend.type", "=forst", "state.backend.type="])
def test_a_flink_conf_without_key_and_value_is_refused(
    bad: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        build_arg_parser(JOB).parse_args(["--flink-conf", bad])
    assert "expected KEY=VALUE" in capsys.readouterr().err
