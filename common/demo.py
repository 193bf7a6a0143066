"""``make demo``: bring up the local stack and push generated events through it.

Run as ``python -m common.demo``. What it shows grows with the pipeline: today the stack, the
registered schemas, generated trades and payments in Kafka (with a share of malformed records),
and a few events decoded back with the registry.
"""

from __future__ import annotations

import sys
from collections import Counter

from common import registry, schemas, serde, topics
from common.config import StackConfig, load_stack_config
from common.generate.events import Kind
from common.generate.runner import produce
from common.kafka import read_topic
from common.local import progress, stack

EVENTS_PER_TOPIC = 20_000
BAD_PCT = 1.0


def _show_topic(config: StackConfig, topic: str, sample: int = 2) -> None:
    writers = registry.writer_schemas(registry.client(config))
    outcome: Counter[str] = Counter()
    shown: list[dict[str, object]] = []
    for record in read_topic(config, topic):
        try:
            value = serde.decode(record.value or b"", writers)
        except serde.DecodeError as error:
            outcome[error.reason] += 1
            continue
        outcome["decoded"] += 1
        if len(shown) < sample:
            shown.append(value)
    print(
        f"\n{topic}: {sum(outcome.values()):,} records in the topic: "
        + ", ".join(f"{k} {v:,}" for k, v in outcome.most_common())
    )
    for value in shown:
        print(f"  {value}")


def main() -> int:
    """Run the demo; return the process exit code."""
    config = load_stack_config()
    progress.step("bringing up the local stack (Kafka, registry, Redis, Flink)")
    try:
        stack.up(config)
    except stack.StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    client = registry.client(config)
    for topic, name in schemas.topic_schemas().items():
        reg = registry.ensure_registered(client, topic, name)
        progress.step(f"registered {reg.subject} (id {reg.schema_id})")
    kinds: tuple[Kind, ...] = ("payments", "trades")
    for kind in kinds:
        progress.step(f"generating {EVENTS_PER_TOPIC:,} {kind} ({BAD_PCT:g}% malformed)")
        summary = produce(kind, config, count=EVENTS_PER_TOPIC, bad_pct=BAD_PCT, disorder_ms=500)
        print(summary.line())
        if not summary.ok:
            return 1
    for topic in (topics.PAYMENTS, topics.TRADES):
        _show_topic(config, topic)
    print()
    for row in stack.status(config):
        print(f"{row.name:<9} {row.state:<9} {row.address}")
    print("\nFlink web UI:", config.flink_rest_url, "· stop the stack with `make down`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
