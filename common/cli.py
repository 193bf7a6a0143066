"""The ``featurestream`` command line. Verbs follow ``../shared/DESIGN.md``."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import click

from common import registry, schemas
from common.config import StackConfig, load_stack_config
from common.generate.cli import generate
from common.local import artifacts, parts, stack
from common.local.processes import read as read_pid


def _config() -> StackConfig:
    return load_stack_config()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """featurestream: real-time ML features from trades and payments, on Apache Flink."""


# --- local ---------------------------------------------------------------------------------------


@main.group()
def local() -> None:
    """The embedded local stack: Kafka (KRaft), schema registry, Redis, Flink session cluster."""


@local.command("setup")
def local_setup() -> None:
    """Fetch the pinned jars and distributions and install Redis if missing (idempotent)."""
    try:
        stack.setup(_config())
    except stack.StackError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("setup complete")


@local.command("up")
@click.option(
    "--only",
    multiple=True,
    type=click.Choice([p.name for p in parts.PARTS]),
    help="Start only these parts (repeatable).",
)
def local_up(only: tuple[str, ...]) -> None:
    """Start the stack (what is already running is left alone) and wait until it is healthy."""
    config = _config()
    started = time.monotonic()
    try:
        stack.up(config, list(only) or None)
    except stack.StackError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"stack up in {time.monotonic() - started:.1f}s (data: {config.data_dir})")
    _print_status(config)


@local.command("down")
def local_down() -> None:
    """Stop exactly the processes `up` started."""
    stopped = stack.down(_config())
    click.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


def _print_status(config: StackConfig) -> bool:
    rows = stack.status(config)
    for row in rows:
        pids = ",".join(map(str, row.pids)) or "-"
        detail = f"  ({row.detail})" if row.detail and row.state != "stopped" else ""
        click.echo(f"{row.name:<9} {row.state:<9} {row.address:<44} pid {pids}{detail}")
    return all(row.state == "healthy" for row in rows)


@local.command("status")
def local_status() -> None:
    """Each part's health, address and pid; exit code 1 unless all are healthy."""
    if not _print_status(_config()):
        sys.exit(1)


@local.command("logs")
@click.argument("part", required=False, type=click.Choice([p.name for p in parts.PARTS]))
@click.option("-n", "--lines", default=40, show_default=True, help="Lines per log file.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines (tail -F).")
def local_logs(part: str | None, lines: int, follow: bool) -> None:
    """Show the log files of one part, or of all."""
    config = _config()
    names = (
        parts.PROCESS_NAMES[part]
        if part
        else [n for p in parts.PARTS for n in parts.PROCESS_NAMES[p.name]]
    )
    files = [stack.log_file(config, n) for n in names]
    if follow:
        subprocess.run(["tail", "-n", str(lines), "-F", *map(str, files)], check=False)
        return
    for path in files:
        click.echo(f"==> {path} <==")
        click.echo(stack.tail(path, lines), nl=False)


@local.command("lock")
def local_lock() -> None:
    """Re-resolve deploy/local/maven/*.pom.xml and rewrite the lock file (maintainers)."""
    result = artifacts.lock()
    click.echo(
        f"wrote {artifacts.LOCK_FILE}: "
        + ", ".join(f"{part} {len(items)} files" for part, items in result.items())
    )


@local.command("pids", hidden=True)
def local_pids() -> None:
    """Pids of the stack's processes (for tests and scripts)."""
    config = _config()
    for names in parts.PROCESS_NAMES.values():
        for name in names:
            tracked = read_pid(parts.run_dir(config), name)
            if tracked and tracked.process():
                click.echo(f"{name} {tracked.pid}")


# --- schemas -------------------------------------------------------------------------------------


@main.group("schemas")
def schemas_group() -> None:
    """The shared Avro schemas in schemas/."""


@schemas_group.command("check")
def schemas_check() -> None:
    """Every schema parses and is BACKWARD-compatible with each committed version of itself."""
    try:
        results = schemas.check_all()
    except schemas.SchemaError as exc:
        raise click.ClickException(str(exc)) from exc
    for result in results:
        click.echo(f"ok  {result.name:<16} ({result.versions_checked} earlier versions checked)")


@schemas_group.command("register")
@click.option("--job", "jobs", multiple=True, help="Also register dlq.<job>-value (repeatable).")
def schemas_register(jobs: tuple[str, ...]) -> None:
    """Register each topic's value schema under <topic>-value (BACKWARD compatibility)."""
    client = registry.client(_config())
    for topic, name in schemas.topic_schemas(jobs).items():
        try:
            reg = registry.ensure_registered(client, topic, name)
        except Exception as exc:  # the registry's own refusal carries the useful message
            raise click.ClickException(f"registering {topic}: {exc}") from exc
        click.echo(
            f"{reg.subject:<28} id {reg.schema_id:<4} {Path(schemas.schema_path(name)).name}"
        )


main.add_command(generate)

if __name__ == "__main__":
    main()
