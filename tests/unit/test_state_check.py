"""Upgrade safety: state locks up to date, and what each kind of change does to a restore.

Inventories come from the jobs' real compiled plans (a local JVM, no cluster).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from common.cli import main
from common.deploy import state_check
from common.features import Count, DistinctCount, Max
from common.features.sql import FeatureJob
from common.runtime.catalog import load_runnable, runnable_job_names
from jobs.payment_features.features import PAYMENT_CARD, PAYMENT_MERCHANT
from tests.e2e.changed_payment_features import JOB as CHANGED_JOB


@pytest.fixture(scope="module")
def payment_lock() -> dict[str, Any]:
    lock = state_check.read_lock("payment_features")
    assert lock is not None
    return lock


@pytest.mark.parametrize("name", runnable_job_names())
def test_state_locks_are_up_to_date(name: str) -> None:
    current = state_check.inventory(load_runnable(name))
    assert state_check.read_lock(name) == current, (
        f"jobs/{name}/state.lock.json is stale: run `featurestream check-upgrade {name}` to see "
        f"what changed, then `featurestream check-upgrade {name} --update` and commit"
    )


def test_the_lock_names_every_stateful_operator(payment_lock: dict[str, Any]) -> None:
    kinds = [(op["uid"], op["kind"]) for op in payment_lock["operators"]]
    assert kinds[0] == ("1_source", "source")
    assert ("payment_card_v1", "window") in kinds and ("payment_merchant_v1", "window") in kinds
    card = next(op for op in payment_lock["operators"] if op["uid"] == "payment_card_v1")
    assert card["key"] == ["card_id VARCHAR(2147483647) NOT NULL"]
    assert ["card_txn_count_10m", "count", None, 600_000] in card["layout"]["aggregates"]


def _findings(old: dict[str, Any], job: FeatureJob) -> list[state_check.Finding]:
    return state_check.compare(old, state_check.inventory(job))


def test_added_features_the_history_covers_are_safe(payment_lock: dict[str, Any]) -> None:
    findings = _findings(payment_lock, CHANGED_JOB)
    assert state_check.blocking(findings, False, False) == []
    messages = [f.message for f in findings]
    assert "card_amount_usd_min_24h: new, rebuilt exactly from each key's history" in messages
    assert "card_txn_count_5m: new, rebuilt exactly from each key's history" in messages


def test_a_new_input_or_a_longer_window_warms_up(payment_lock: dict[str, Any]) -> None:
    card = dataclasses.replace(
        PAYMENT_CARD,
        features=(
            *PAYMENT_CARD.features,
            DistinctCount("card_distinct_mcc_24h", "mcc", window="24h"),
            Count("card_txn_count_7d", window="7d"),
        ),
    )
    findings = _findings(payment_lock, FeatureJob("payment_features", (card, PAYMENT_MERCHANT)))
    warming = [f for f in findings if f.level == "warmup"]
    assert len(warming) == 2
    assert "its input `mcc` is not in the restored history" in warming[0].message
    assert "longer than the history kept (86400000 ms)" in warming[1].message
    assert state_check.blocking(findings, False, False) == warming
    assert state_check.blocking(findings, False, True) == []


def test_a_removed_view_and_a_changed_key_break(payment_lock: dict[str, Any]) -> None:
    findings = _findings(payment_lock, FeatureJob("payment_features", (PAYMENT_CARD,)))
    dropped = [f for f in findings if f.level == "breaking"]
    assert any("payment_merchant_v1" in f.operator and "dropped" in f.message for f in dropped)
    assert all(f.allowed_by == state_check.NON_RESTORED for f in dropped)
    assert state_check.blocking(findings, True, False) == []

    rekeyed = copy.deepcopy(payment_lock)
    card = next(op for op in rekeyed["operators"] if op["uid"] == "payment_card_v1")
    card["key"] = ["card_id BIGINT NOT NULL"]
    rekeyed["max_parallelism"] = 256
    findings = state_check.compare(rekeyed, payment_lock)
    assert {f.operator for f in findings} == {"job", "payment_card_v1 (window payment_card.v1)"}
    assert state_check.blocking(findings, True, True) == findings  # no flag accepts these


def test_the_cli_names_the_operator_and_the_remedy(
    payment_lock: dict[str, Any], tmp_path: Path
) -> None:
    older = copy.deepcopy(payment_lock)
    retired = copy.deepcopy(older["operators"][2])
    retired.update(uid="payment_card_v0", name="payment_card.v0")
    older["operators"].append(retired)
    path = tmp_path / "running.lock.json"
    path.write_text(json.dumps(older))
    runner = CliRunner()
    refused = runner.invoke(main, ["check-upgrade", "payment_features", "--against", str(path)])
    assert refused.exit_code == 1, refused.output
    assert "BREAKING  payment_card_v0 (window payment_card.v0): no operator" in refused.output
    assert "remedy: if the view is retired on purpose" in refused.output
    accepted = runner.invoke(
        main,
        ["check-upgrade", "payment_features", "--against", str(path), "--allow-non-restored-state"],
    )
    assert accepted.exit_code == 0, accepted.output
    assert "restores from its savepoints" in accepted.output
    same = runner.invoke(main, ["check-upgrade", "payment_features"])
    assert same.exit_code == 0 and "(no stateful change)" in same.output


def test_unchanged_features_with_a_new_max_also_fold_exactly(payment_lock: dict[str, Any]) -> None:
    card = dataclasses.replace(
        PAYMENT_CARD,
        features=(*PAYMENT_CARD.features, Max("card_amount_usd_max_1h", "amount_usd_cents", "1h")),
    )
    findings = _findings(payment_lock, FeatureJob("payment_features", (card, PAYMENT_MERCHANT)))
    assert state_check.blocking(findings, False, False) == []


def test_check_upgrade_against_a_savepoint_reads_the_lock_of_its_run(
    payment_lock: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from common.config import load_stack_config
    from common.deploy import local
    from common.runtime import runs
    from common.runtime.catalog import load_job
    from common.runtime.launch import RunOptions

    monkeypatch.setenv("FEATURESTREAM_DATA_DIR", str(tmp_path / "data"))
    config = load_stack_config()
    job = load_job("payment_features")
    # A run submitted when the job still had a view it no longer has; a savepoint of it.
    older = copy.deepcopy(payment_lock)
    retired = copy.deepcopy(older["operators"][2])
    retired.update(uid="payment_card_v0", name="payment_card.v0")
    older["operators"].append(retired)
    from common.runtime import locks

    with monkeypatch.context() as patched:
        patched.setattr(locks, "read_lock", lambda name: older)
        record = runs.record(config, job, "j-old", RunOptions())
    savepoint = tmp_path / "savepoint-1"
    savepoint.mkdir()
    (savepoint / "_metadata").write_bytes(b"flink")
    local.write_metadata(savepoint.as_uri(), job, "j-old", "savepoint", record)

    runner = CliRunner()
    refused = runner.invoke(
        main, ["check-upgrade", "payment_features", "--savepoint", str(savepoint)]
    )
    assert refused.exit_code == 1, refused.output
    assert "BREAKING  payment_card_v0 (window payment_card.v0): no operator" in refused.output
    # A savepoint without a recorded lock says what to do instead.
    (savepoint / local.METADATA_FILE).write_text(json.dumps({"job": "payment_features"}))
    unknown = runner.invoke(
        main, ["check-upgrade", "payment_features", "--savepoint", str(savepoint)]
    )
    assert unknown.exit_code == 1 and "records no state lock" in unknown.output
    assert "--against" in unknown.output
