"""The benchmark's baseline: the feature jobs' aggregations as hand-written Flink SQL.

What an engineer would write without featurestream: the standard ``avro-confluent`` Kafka source
(the shared ``.avsc`` as reader schema, for the enums), one stacked ``OVER (PARTITION BY key
ORDER BY event_time RANGE BETWEEN INTERVAL ... PRECEDING AND CURRENT ROW)`` level per window length
(Flink evaluates only one window per ``SELECT``), and exactly-once Kafka sinks with
``avro-confluent``. Only the computation is hand-written; the sink tables take the view's output
columns and Avro schema from ``common.features``, so baseline records have the same schema and
size as the feature job's and the two outputs can be compared field by field.

Differences from the feature jobs (``jobs/<job>/job.py``), all in the baseline's favour except
the last:

- no dead letters: records that do not decode fail the job; late records are dropped silently by
  the OVER operators; records failing the source's checks are filtered out by a ``WHERE``;
- no Kafka key, metadata columns or raw bytes read from the source;
- ``seconds_since_prev`` (strictly earlier event of the key) costs two extra OVER levels: the
  previous row's time from a 2-row ``ROWS`` frame, then the minimum of that over the same-time
  peers (a zero-width ``RANGE`` frame); it has no state-retention bound;
- ``sym_last_price`` is ``LAST_VALUE`` in the 1-minute frame: among same-time peers the last to
  arrive wins, where the feature job takes the peer with the largest event id.

Run as a PyFlink script on the session cluster (``bench/feature_jobs.py`` does this)::

    flink run -d -p 1 -py bench/baseline_sql.py payment_features --source-topic T \\
        --topic-suffix .baseline --startup earliest --bounded

``python -m bench.baseline_sql trade_features --explain`` prints the SQL. ``--passthrough`` keeps
the source and the sinks and drops every window: each event is written once per view with zeros
for features (the I/O ceiling of any window design using these connectors).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script by ``flink run -py``: the repository root holds ``common`` and ``jobs``.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import topics
from common.config import load_stack_config
from common.features.definitions import FeatureView
from common.features.job import register_sink_schemas
from common.features.output_schema import output_schema_text
from common.features.sql import CompiledJob, output_columns
from common.schemas import schema_text
from jobs.payment_features.features import PAYMENT_CARD, PAYMENT_MERCHANT
from jobs.trade_features.features import TRADE_ACCOUNT, TRADE_SYMBOL

CHECKPOINT_INTERVAL = "1 s"
"""The feature jobs' default (``common.features.job.DEFAULT_CHECKPOINT_INTERVAL``)."""


@dataclass(frozen=True)
class BaselineSettings:
    """Where the baseline reads and writes.

    Attributes:
        bootstrap_servers: Kafka bootstrap servers.
        registry_url: Confluent-compatible schema registry URL.
        source_topic: The input topic (payments or trades).
        topic_suffix: Appended to every output topic (``features.<view>.v<N><suffix>``).
        group_id: Consumer group of the source.
        startup: ``earliest`` or ``latest``.
        bounded: Stop at the offsets that are the latest when the job starts.
    """

    bootstrap_servers: str
    registry_url: str
    source_topic: str
    topic_suffix: str = ".baseline"
    group_id: str = "bench-baseline"
    startup: str = "earliest"
    bounded: bool = False


@dataclass
class BaselineJob:
    """The statements of one baseline job and the INSERTs to submit together."""

    registry_url: str
    statements: list[str] = field(default_factory=list)
    inserts: list[str] = field(default_factory=list)
    sink_schemas: dict[str, str] = field(default_factory=dict)
    """output topic → the Avro schema text its sink writes with."""

    def text(self) -> str:
        """Everything as one SQL script."""
        return ";\n\n".join(self.statements + self.inserts) + ";\n"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _with(options: dict[str, str]) -> str:
    return (
        "WITH (\n" + ",\n".join(f"  {_quote(k)} = {_quote(v)}" for k, v in options.items()) + "\n)"
    )


def _source_options(settings: BaselineSettings, schema: str) -> dict[str, str]:
    options = {
        "connector": "kafka",
        "topic": settings.source_topic,
        "properties.bootstrap.servers": settings.bootstrap_servers,
        "properties.group.id": settings.group_id,
        "properties.isolation.level": "read_committed",
        "scan.startup.mode": f"{settings.startup}-offset",
        "scan.watermark.idle-timeout": "30 s",
        "value.format": "avro-confluent",
        "value.avro-confluent.url": settings.registry_url,
        "value.avro-confluent.schema": schema_text(schema),
    }
    if settings.bounded:
        options["scan.bounded.mode"] = "latest-offset"
    return options


def _sink(job: BaselineJob, view: FeatureView, settings: BaselineSettings) -> str:
    """Add the exactly-once Kafka sink of ``view``'s baseline records to ``job``; its name."""
    table = f"sink_{view.name}"
    columns = ",\n  ".join(f"`{name}` {sql}" for name, sql in output_columns(view))
    topic = f"features.{view.name}.v{view.version}{settings.topic_suffix}"
    job.sink_schemas[topic] = output_schema_text(view)
    options = {
        "connector": "kafka",
        "topic": topic,
        "properties.bootstrap.servers": settings.bootstrap_servers,
        "properties.transaction.timeout.ms": "900000",
        "sink.delivery-guarantee": "exactly-once",
        "sink.transactional-id-prefix": f"bench-baseline-{view.name}{settings.topic_suffix}",
        "key.format": "raw",
        "key.fields": view.entity.key,
        "value.format": "avro-confluent",
        "value.avro-confluent.url": settings.registry_url,
        "value.avro-confluent.schema": output_schema_text(view),
        "value.fields-include": "ALL",
    }
    job.statements.append(f"CREATE TABLE `{table}` (\n  {columns}\n) {_with(options)}")
    return table


def _window(key: str, frame: str) -> str:
    return f"WINDOW w AS (PARTITION BY `{key}` ORDER BY `event_time` {frame})"


def _range(interval: str) -> str:
    return f"RANGE BETWEEN INTERVAL {interval} PRECEDING AND CURRENT ROW"


# Epoch milliseconds of a TIMESTAMP(3) read in UTC (table.local-time-zone = UTC).
_EPOCH_MS = "EXTRACT(EPOCH FROM `event_time`) * 1000 + EXTRACT(MILLISECOND FROM `event_time`)"


def _previous_time_levels(
    source: str, key: str, columns: str, prefix: str
) -> tuple[list[str], str]:
    """Two OVER levels adding ``prev_ms``: the key's latest strictly earlier event time (-1: none).

    The 2-row frame gives the previous row's time, which for the second and later of several
    same-time peers is the peers' own time; the minimum over the peers (zero-width RANGE) is the
    first peer's previous time, i.e. the latest strictly earlier one. ``columns`` are carried
    through (with ``ts_ms``, the event time in epoch milliseconds).
    """
    previous_row = (
        f"CREATE TEMPORARY VIEW `{prefix}_lag` AS\n"
        f"SELECT {columns}, `ts_ms`,\n"
        "  CASE WHEN COUNT(*) OVER w = 2 THEN MIN(`ts_ms`) OVER w "
        "ELSE CAST(-1 AS BIGINT) END AS `lag_ms`\n"
        f"FROM `{source}`\n" + _window(key, "ROWS BETWEEN 1 PRECEDING AND CURRENT ROW")
    )
    over_peers = (
        f"CREATE TEMPORARY VIEW `{prefix}_prev` AS\n"
        f"SELECT {columns}, `ts_ms`, MIN(`lag_ms`) OVER w AS `prev_ms`\n"
        f"FROM `{prefix}_lag`\n" + _window(key, _range("'0' SECOND"))
    )
    return [previous_row, over_peers], f"{prefix}_prev"


_SECONDS_SINCE_PREV = (
    "CASE WHEN `prev_ms` < 0 THEN CAST(NULL AS DOUBLE) "
    "ELSE CAST(`ts_ms` - `prev_ms` AS DOUBLE) / 1000 END"
)


def payment_features(settings: BaselineSettings) -> BaselineJob:
    """Views ``payment_card.v1`` (per card) and ``payment_merchant.v1`` (per merchant)."""
    job = BaselineJob(settings.registry_url)
    job.statements.append(
        "CREATE TABLE `payments_in` (\n"
        "  `payment_id` STRING NOT NULL, `merchant_id` STRING NOT NULL,\n"
        "  `card_id` STRING NOT NULL, `amount_minor` BIGINT NOT NULL,\n"
        "  `currency` STRING NOT NULL, `amount_usd_cents` BIGINT NOT NULL,\n"
        "  `country` STRING NOT NULL, `mcc` STRING NOT NULL, `channel` STRING NOT NULL,\n"
        "  `status` STRING NOT NULL, `event_time` TIMESTAMP(3) NOT NULL,\n"
        "  `producer` STRING NOT NULL, `sequence` BIGINT NOT NULL,\n"
        "  WATERMARK FOR `event_time` AS `event_time` - INTERVAL '5' SECOND\n"
        f") {_with(_source_options(settings, 'payment_event'))}"
    )
    job.statements.append(
        "CREATE TEMPORARY VIEW `payments_ok` AS\n"
        "SELECT `payment_id`, `card_id`, `merchant_id`, `amount_usd_cents`, `country`, "
        f"`event_time`,\n  {_EPOCH_MS} AS `ts_ms`\n"
        "FROM `payments_in` WHERE `amount_minor` >= 0 AND `amount_usd_cents` >= 0"
    )

    # payment_card.v1: previous time (2 levels), then one level per window: 10m, 1h, 24h.
    # Each level names the columns it carries: with ``SELECT *`` the planner gives two levels'
    # aggregates the same internal name ("Field names must be unique. Found duplicates: [w0$o0]").
    carried = "`payment_id`, `card_id`, `merchant_id`, `amount_usd_cents`, `country`, `event_time`"
    levels, previous = _previous_time_levels("payments_ok", "card_id", carried, "card")
    job.statements += levels
    carried += ", `ts_ms`, `prev_ms`"
    job.statements.append(
        "CREATE TEMPORARY VIEW `card_10m` AS\n"
        f"SELECT {carried}, COUNT(*) OVER w AS `card_txn_count_10m`\n"
        f"FROM `{previous}`\n" + _window("card_id", _range("'10' MINUTE"))
    )
    carried += ", `card_txn_count_10m`"
    job.statements.append(
        "CREATE TEMPORARY VIEW `card_1h` AS\n"
        f"SELECT {carried}, COUNT(*) OVER w AS `card_txn_count_1h`,\n"
        "  SUM(`amount_usd_cents`) OVER w AS `card_amount_usd_sum_1h`\n"
        "FROM `card_10m`\n" + _window("card_id", _range("'1' HOUR"))
    )
    carried += ", `card_txn_count_1h`, `card_amount_usd_sum_1h`"
    job.statements.append(
        "CREATE TEMPORARY VIEW `card_24h` AS\n"
        f"SELECT {carried}, COUNT(*) OVER w AS `card_txn_count_24h`,\n"
        "  SUM(`amount_usd_cents`) OVER w AS `card_amount_usd_sum_24h`,\n"
        "  AVG(CAST(`amount_usd_cents` AS DOUBLE)) OVER w AS `card_amount_usd_avg_24h`,\n"
        "  MAX(`amount_usd_cents`) OVER w AS `card_amount_usd_max_24h`,\n"
        "  COUNT(DISTINCT `merchant_id`) OVER w AS `card_distinct_merchants_24h`,\n"
        "  COUNT(DISTINCT `country`) OVER w AS `card_distinct_countries_24h`\n"
        "FROM `card_1h`\n" + _window("card_id", _range("'24' HOUR"))
    )
    card_table = _sink(job, PAYMENT_CARD, settings)
    job.inserts.append(
        f"INSERT INTO `{card_table}`\n"
        "SELECT `payment_id`, `card_id`, `event_time`, `card_txn_count_10m`, "
        "`card_txn_count_1h`, `card_txn_count_24h`,\n"
        "  `card_amount_usd_sum_1h`, `card_amount_usd_sum_24h`, `card_amount_usd_avg_24h`, "
        "`card_amount_usd_max_24h`,\n"
        "  `card_distinct_merchants_24h`, `card_distinct_countries_24h`,\n"
        f"  {_SECONDS_SINCE_PREV},\n"
        "  'payment_card', 1\n"
        "FROM `card_24h`"
    )

    # payment_merchant.v1: one 1h level.
    merchant_table = _sink(job, PAYMENT_MERCHANT, settings)
    job.inserts.append(
        f"INSERT INTO `{merchant_table}`\n"
        "SELECT `payment_id`, `merchant_id`, `event_time`, COUNT(*) OVER w,\n"
        "  SUM(`amount_usd_cents`) OVER w, COUNT(DISTINCT `card_id`) OVER w,\n"
        "  'payment_merchant', 1\n"
        "FROM `payments_ok`\n" + _window("merchant_id", _range("'1' HOUR"))
    )
    return job


def trade_features(settings: BaselineSettings) -> BaselineJob:
    """Views ``trade_symbol.v1`` (per symbol) and ``trade_account.v1`` (per taker account)."""
    job = BaselineJob(settings.registry_url)
    job.statements.append(
        "CREATE TABLE `trades_in` (\n"
        "  `trade_id` STRING NOT NULL, `venue` STRING NOT NULL, `symbol` STRING NOT NULL,\n"
        "  `side` STRING NOT NULL, `price` DECIMAL(18, 8) NOT NULL,\n"
        "  `quantity` DECIMAL(18, 8) NOT NULL, `account_id` STRING NOT NULL,\n"
        "  `event_time` TIMESTAMP(3) NOT NULL, `producer` STRING NOT NULL,\n"
        "  `sequence` BIGINT NOT NULL,\n"
        "  WATERMARK FOR `event_time` AS `event_time` - INTERVAL '2' SECOND\n"
        f") {_with(_source_options(settings, 'trade_event'))}"
    )
    job.statements.append(
        "CREATE TEMPORARY VIEW `trades_ok` AS\n"
        "SELECT `trade_id`, `symbol`, `account_id`, `event_time`,\n"
        "  CAST(`price` AS DOUBLE) AS `px`, CAST(`quantity` AS DOUBLE) AS `qty`,\n"
        "  CAST(`price` AS DOUBLE) * CAST(`quantity` AS DOUBLE) AS `notional`,\n"
        "  CASE WHEN `side` = 'BUY' THEN CAST(`quantity` AS DOUBLE) ELSE 0E0 END AS `buy_qty`\n"
        "FROM `trades_in` WHERE `price` > 0 AND `quantity` > 0"
    )

    # trade_symbol.v1: one level per window (1m, 5m); last price rides on the 1m level.
    carried = "`trade_id`, `symbol`, `event_time`, `px`, `qty`, `notional`, `buy_qty`"
    job.statements.append(
        "CREATE TEMPORARY VIEW `symbol_1m` AS\n"
        f"SELECT {carried}, COUNT(*) OVER w AS `sym_trade_count_1m`,\n"
        "  SUM(`qty`) OVER w AS `sym_volume_1m`, SUM(`notional`) OVER w AS `sym_notional_1m`,\n"
        "  LAST_VALUE(`px`) OVER w AS `sym_last_price`\n"
        "FROM `trades_ok`\n" + _window("symbol", _range("'1' MINUTE"))
    )
    carried += ", `sym_trade_count_1m`, `sym_volume_1m`, `sym_notional_1m`, `sym_last_price`"
    job.statements.append(
        "CREATE TEMPORARY VIEW `symbol_5m` AS\n"
        f"SELECT {carried}, SUM(`notional`) OVER w AS `sym_notional_5m`, "
        "SUM(`qty`) OVER w AS `sym_volume_5m`,\n"
        "  SUM(`buy_qty`) OVER w AS `sym_buy_volume_5m`, "
        "STDDEV_POP(`px`) OVER w AS `sym_price_stddev_5m`\n"
        "FROM `symbol_1m`\n" + _window("symbol", _range("'5' MINUTE"))
    )
    symbol_table = _sink(job, TRADE_SYMBOL, settings)
    job.inserts.append(
        f"INSERT INTO `{symbol_table}`\n"
        "SELECT `trade_id`, `symbol`, `event_time`, `sym_trade_count_1m`, `sym_volume_1m`, "
        "`sym_notional_1m`,\n"
        "  `sym_notional_5m` / NULLIF(`sym_volume_5m`, 0E0),\n"
        "  `sym_price_stddev_5m`,\n"
        "  `sym_buy_volume_5m` / NULLIF(`sym_volume_5m`, 0E0),\n"
        "  `sym_last_price`, 'trade_symbol', 1\n"
        "FROM `symbol_5m`"
    )

    # trade_account.v1: one 1h level.
    account_table = _sink(job, TRADE_ACCOUNT, settings)
    job.inserts.append(
        f"INSERT INTO `{account_table}`\n"
        "SELECT `trade_id`, `account_id`, `event_time`, COUNT(*) OVER w, "
        "SUM(`notional`) OVER w,\n"
        "  COUNT(DISTINCT `symbol`) OVER w, 'trade_account', 1\n"
        "FROM `trades_ok`\n" + _window("account_id", _range("'1' HOUR"))
    )
    return job


BASELINES: dict[str, Callable[[BaselineSettings], BaselineJob]] = {
    "payment_features": payment_features,
    "trade_features": trade_features,
}
"""Feature job name → its hand-written baseline."""


PASSTHROUGH: dict[str, tuple[str, str, tuple[FeatureView, ...]]] = {
    "payment_features": ("payments_ok", "payment_id", (PAYMENT_CARD, PAYMENT_MERCHANT)),
    "trade_features": ("trades_ok", "trade_id", (TRADE_SYMBOL, TRADE_ACCOUNT)),
}
"""Feature job name → (the baseline's checked source view, its event id column, the views)."""


def passthrough(name: str, settings: BaselineSettings) -> BaselineJob:
    """``name``'s baseline with its windows removed: source → the same sinks, features zero.

    Same source format, checks, sinks, record count and record shape as the baseline, so its
    events/s bound what any window computation between them can reach on the same machine.
    """
    job = BASELINES[name](settings)
    source, event_id, views = PASSTHROUGH[name]
    job.inserts = []
    for view in views:
        fixed = {"event_id": f"`{event_id}`", view.entity.key: f"`{view.entity.key}`"}
        fixed |= {"event_time": "`event_time`", "feature_view": _quote(view.name)}
        fixed["feature_view_version"] = str(view.version)
        values = [
            fixed.get(column, f"CAST(0 AS {sql.removesuffix(' NOT NULL')})")
            for column, sql in output_columns(view)
        ]
        job.inserts.append(
            f"INSERT INTO `sink_{view.name}`\nSELECT {', '.join(values)}\nFROM `{source}`"
        )
    return job


def submit(name: str, job: BaselineJob, checkpoint_interval: str) -> None:
    """Plan ``job`` in a PyFlink TableEnvironment and execute it (detached under ``flink run -d``).

    The environment settings are the feature jobs' (``common.features.job.submit``), and so is
    the registration of the sink schemas before the job starts (parallel writers registering a
    new schema at once fail the job).
    """
    from pyflink.java_gateway import get_gateway
    from pyflink.table import EnvironmentSettings, TableEnvironment

    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    config = env.get_config()
    config.set("table.local-time-zone", "UTC")
    config.set("pipeline.name", f"bench-baseline-{name.replace('_', '-')}")
    config.set("execution.checkpointing.interval", checkpoint_interval)
    config.set("execution.checkpointing.mode", "EXACTLY_ONCE")
    sinks = CompiledJob(sink_schemas=job.sink_schemas, registry_url=job.registry_url)
    register_sink_schemas(sinks, get_gateway().jvm)
    for statement in job.statements:
        env.execute_sql(statement)
    statements = env.create_statement_set()
    for insert in job.inserts:
        statements.add_insert_sql(insert)
    statements.execute()


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: build the baseline of ``--job`` and submit it (or print it)."""
    config = load_stack_config()
    parser = argparse.ArgumentParser(description="Hand-written Flink SQL baseline of a feature job")
    # Positional: ``flink run`` would take ``--job`` for its own ``--jobmanager``.
    parser.add_argument("job", choices=sorted(BASELINES))
    parser.add_argument("--source-topic", help="default: the job's source topic")
    parser.add_argument("--topic-suffix", default=".baseline")
    parser.add_argument("--group-id", default="bench-baseline")
    parser.add_argument("--startup", choices=("earliest", "latest"), default="earliest")
    parser.add_argument("--bounded", action="store_true")
    parser.add_argument("--bootstrap-servers", default=config.bootstrap_servers)
    parser.add_argument("--registry-url", default=config.registry_url)
    parser.add_argument("--checkpoint-interval", default=CHECKPOINT_INTERVAL)
    parser.add_argument("--passthrough", action="store_true", help="no windows: the I/O ceiling")
    parser.add_argument("--explain", action="store_true", help="print the SQL and exit")
    args = parser.parse_args(argv)
    default_topic = topics.PAYMENTS if args.job == "payment_features" else topics.TRADES
    settings = BaselineSettings(
        bootstrap_servers=args.bootstrap_servers,
        registry_url=args.registry_url,
        source_topic=args.source_topic or default_topic,
        topic_suffix=args.topic_suffix,
        group_id=args.group_id,
        startup=args.startup,
        bounded=args.bounded,
    )
    job = passthrough(args.job, settings) if args.passthrough else BASELINES[args.job](settings)
    if args.explain:
        sys.stdout.write(job.text())
        return
    submit(args.job, job, args.checkpoint_interval)


if __name__ == "__main__":
    main()
