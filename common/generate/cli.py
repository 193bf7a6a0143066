"""``featurestream generate trades|payments``: realistic events into Kafka or an Avro file.

The main CLI attaches the group with ``main.add_command(generate)``. Connection settings come
from ``common.config.load_stack_config()`` (``FEATURESTREAM_*`` environment variables).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
import httpx
from confluent_kafka import KafkaException
from confluent_kafka.schema_registry.error import SchemaRegistryError

from common.config import load_stack_config
from common.generate.events import Kind, Population
from common.generate.runner import DEFAULT_COUNT, DEFAULT_SEED, Summary, produce
from common.schemas import SchemaError

F = TypeVar("F", bound=Callable[..., Any])

# The population options: each sets the Population field of its name.
POPULATION_OPTIONS = (
    ("cards", "Payments: how many cards (Zipf-skewed activity)."),
    ("merchants", "Payments: how many merchants (a few hot ones)."),
    ("accounts", "Trades: how many taker accounts."),
    ("symbols", "Trades: how many pairs (the five largest, then synthetic ALTnn-USD ones)."),
)


class _IsoDatetime(click.ParamType[datetime, Any]):
    """An ISO-8601 date-time; naive values are UTC."""

    name = "ISO-8601"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(
                f"{value!r} is not an ISO-8601 date-time, e.g. 2025-01-31T09:30:00Z", param, ctx
            )
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _generate_options(command: F) -> F:
    options = [
        click.option(
            "--count",
            type=click.IntRange(min=0),
            default=DEFAULT_COUNT,
            show_default=True,
            help="Records to write, malformed ones included.",
        ),
        click.option(
            "--rate",
            type=click.FloatRange(min=0, min_open=True),
            default=None,
            help="Mean events per second; into Kafka, event time then tracks the wall "
            "clock (writing is paced). With --to-file only the spacing is the rate's: a "
            "file is written at full speed (history). Default: unthrottled, 1 ms mean gap "
            "on the simulated clock.",
        ),
        click.option(
            "--seed",
            type=int,
            default=DEFAULT_SEED,
            show_default=True,
            help="Seed: the same seed and --start give the same events.",
        ),
        click.option(
            "--start",
            type=_IsoDatetime(),
            default=None,
            help="Event time of the start of the simulated clock (ISO-8601, naive = "
            "UTC). Default: now, rounded down to the second.",
        ),
        click.option(
            "--disorder-ms",
            type=click.IntRange(min=0),
            default=0,
            show_default=True,
            help="Move each event time back by a uniform jitter in [0, D] ms: events "
            "are at most D ms out of order.",
        ),
        click.option(
            "--bad-pct",
            type=click.FloatRange(0, 100),
            default=0.0,
            show_default=True,
            help="Percentage of records replaced by malformed values (garbage, wrong "
            "magic byte, unknown schema id, truncated). Kafka only.",
        ),
        click.option(
            "--to-file",
            type=click.Path(dir_okay=False, writable=True, path_type=Path),
            default=None,
            help="Write the events to this Avro container file instead of Kafka.",
        ),
        click.option(
            "--topic", default=None, help="Destination topic. Default: trades or payments."
        ),
        *(
            click.option(
                f"--{name}",
                type=click.IntRange(min=1),
                default=getattr(Population(), name),
                show_default=True,
                help=text,
            )
            for name, text in POPULATION_OPTIONS
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.group("generate")
def generate() -> None:
    """Generate realistic trades or payments into Kafka or an Avro file."""


def _progress(summary: Summary) -> None:
    click.echo(summary.progress_line(), err=True)


def _run(kind: Kind, **options: Any) -> None:
    if options.get("labels") is not None and options["labels"] == options["to_file"]:
        raise click.UsageError("--labels and --to-file must be different files")
    if options["bad_pct"] and options["to_file"] is not None:
        raise click.UsageError(
            "--bad-pct writes malformed Kafka values; it cannot be combined with --to-file"
        )
    options["population"] = Population(
        **{name: options.pop(name) for name, _ in POPULATION_OPTIONS}
    )
    config = load_stack_config()
    try:
        # A file is history: it keeps the rate's spacing, nobody waits for it in real time.
        pace = options["to_file"] is None
        summary = produce(kind, config, on_progress=_progress, pace=pace, **options)
    except (SchemaRegistryError, httpx.HTTPError) as exc:
        raise click.ClickException(f"schema registry at {config.registry_url}: {exc}") from exc
    except KafkaException as exc:
        raise click.ClickException(f"Kafka at {config.bootstrap_servers}: {exc}") from exc
    except (SchemaError, OSError) as exc:
        raise click.ClickException(f"generate {kind}: {exc}") from exc
    click.echo(summary.line())
    if not summary.ok:
        raise click.ClickException(
            f"{summary.delivery_failures:,} records were not delivered "
            f"(first error: {summary.first_failure})"
        )


@generate.command("trades")
@_generate_options
def trades(**options: Any) -> None:
    """Crypto trade fills into the `trades` topic, keyed by symbol."""
    _run("trades", **options)


@generate.command("payments")
@_generate_options
@click.option(
    "--labels",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Also write each payment's label (payment_id, is_fraud, burst_id) to this Parquet "
    "file: is_fraud marks payments of fraud-like bursts.",
)
def payments(**options: Any) -> None:
    """Card payments into the `payments` topic, keyed by card token."""
    _run("payments", **options)
