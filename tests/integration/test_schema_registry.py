"""The shared schemas register under `<topic>-value` in the real registry, idempotently."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from confluent_kafka.schema_registry import Schema

from common import registry, schemas
from common.config import StackConfig

pytestmark = pytest.mark.integration


def test_register_cli_registers_every_subject(stack_config: StackConfig) -> None:
    command = [
        sys.executable,
        "-m",
        "common.cli",
        "schemas",
        "register",
        "--job",
        "payment_features",
    ]
    first = subprocess.run(command, capture_output=True, text=True, env=os.environ)
    assert first.returncode == 0, first.stderr
    second = subprocess.run(command, capture_output=True, text=True, env=os.environ)
    assert second.returncode == 0, second.stderr
    assert first.stdout == second.stdout  # idempotent: same subjects, same ids

    client = registry.client(stack_config)
    subjects = set(client.get_subjects())
    assert {
        "trades-value",
        "payments-value",
        "dlq.payment_features-value",
        "features.payment_card.v1-value",
        "features.payment_merchant.v1-value",
    } <= subjects
    latest = client.get_latest_version("payments-value")
    assert json.loads(latest.schema.schema_str)["name"] == "PaymentEvent"
    assert client.get_compatibility("payments-value") == "BACKWARD"


def test_registry_refuses_a_backward_incompatible_change(
    stack_config: StackConfig, unique_topic
) -> None:
    topic = unique_topic("trades")
    client = registry.client(stack_config)
    registry.ensure_registered(client, topic, "trade_event")
    broken = json.loads(schemas.schema_text("trade_event"))
    broken["fields"].append({"name": "required_without_default", "type": "string"})
    assert not client.test_compatibility(
        schemas.subject_for(topic), Schema(json.dumps(broken), "AVRO")
    )
