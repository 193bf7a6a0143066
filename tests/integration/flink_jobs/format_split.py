"""The ``featurestream-avro`` format: decode in the Kafka source itself, split good from bad.

The source keeps native event-time watermarks and idleness (the format never fails on a bad
value; it yields a row with ``decode_error`` set and the original bytes in ``raw_value``). Good
rows go to one topic and bad rows to another, both as JSON for easy checking. Bounded.
Arguments: source, good sink, bad sink, bootstrap, registry[, registry basic-auth user info].
"""

import sys

from pyflink.table import EnvironmentSettings, TableEnvironment

from common.schemas import schema_text


def quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def main(
    source: str, good: str, bad: str, bootstrap: str, registry_url: str, user_info: str = ""
) -> None:
    auth = (
        f",\n            'value.featurestream-avro.basic-auth.user-info' = {quoted(user_info)}"
        if user_info
        else ""
    )
    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    env.get_config().set("table.local-time-zone", "UTC")
    env.execute_sql(f"""
        CREATE TABLE src (
            raw_key BYTES,
            payment_id STRING,
            card_id STRING,
            amount_minor BIGINT,
            currency STRING,
            amount_usd_cents BIGINT,
            channel STRING,
            status STRING,
            event_time TIMESTAMP(3) NOT NULL,
            `sequence` BIGINT,
            decode_error STRING,
            raw_value BYTES,
            src_partition INT METADATA FROM 'partition' VIRTUAL,
            src_offset BIGINT METADATA FROM 'offset' VIRTUAL,
            WATERMARK FOR event_time AS event_time - INTERVAL '5' SECOND
        ) WITH (
            'connector' = 'kafka',
            'topic' = '{source}',
            'properties.bootstrap.servers' = '{bootstrap}',
            'scan.startup.mode' = 'earliest-offset',
            'scan.bounded.mode' = 'latest-offset',
            'scan.watermark.idle-timeout' = '30 s',
            'key.format' = 'raw',
            'key.fields' = 'raw_key',
            'value.format' = 'featurestream-avro',
            'value.featurestream-avro.schema' = {quoted(schema_text("payment_event"))},
            'value.featurestream-avro.url' = {quoted(registry_url)},
            'value.fields-include' = 'EXCEPT_KEY'{auth}
        )""")
    env.execute_sql(f"""
        CREATE TABLE good_payments (
            payment_id STRING, card_id STRING, amount_minor BIGINT, currency STRING,
            amount_usd_cents BIGINT, channel STRING, status STRING, event_time TIMESTAMP(3),
            `sequence` BIGINT
        ) WITH (
            'connector' = 'kafka', 'topic' = '{good}',
            'properties.bootstrap.servers' = '{bootstrap}',
            'value.format' = 'json'
        )""")
    env.execute_sql(f"""
        CREATE TABLE bad_payments (
            reason STRING, raw_value BYTES, src_partition INT, src_offset BIGINT,
            event_time TIMESTAMP(3), payment_id STRING
        ) WITH (
            'connector' = 'kafka', 'topic' = '{bad}',
            'properties.bootstrap.servers' = '{bootstrap}',
            'value.format' = 'json'
        )""")
    statements = env.create_statement_set()
    statements.add_insert_sql("""
        INSERT INTO good_payments
        SELECT payment_id, card_id, amount_minor, currency, amount_usd_cents, channel, status,
               event_time, `sequence`
        FROM src WHERE decode_error IS NULL""")
    statements.add_insert_sql("""
        INSERT INTO bad_payments
        SELECT decode_error, raw_value, src_partition, src_offset, event_time, payment_id
        FROM src WHERE decode_error IS NOT NULL""")
    statements.execute()


if __name__ == "__main__":
    main(*sys.argv[1:7])
