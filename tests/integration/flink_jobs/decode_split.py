"""Foundation of the dead-letter path: decode raw Kafka values in the JVM, split good from bad.

Reads a payments topic as raw bytes (bounded), decodes with ``fs_decode_avro`` (common/jvm),
writes decoded payments to one topic and every undecodable record to a dead-letter topic in the
``dead_letter.avsc`` shape. Arguments: source, good sink, dead-letter topic, bootstrap, registry.
"""

import sys

from pyflink.table import EnvironmentSettings, TableEnvironment

from common.schemas import schema_text


def quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def main(source: str, good: str, dlq: str, bootstrap: str, registry_url: str) -> None:
    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    env.get_config().set("table.local-time-zone", "UTC")
    env.execute_sql(
        "CREATE TEMPORARY FUNCTION fs_decode_avro AS "
        "'dev.featurestream.flink.DecodeConfluentAvro' LANGUAGE JAVA"
    )
    env.execute_sql(f"""
        CREATE TABLE src (
            raw_key BYTES,
            raw_value BYTES,
            src_topic STRING METADATA FROM 'topic' VIRTUAL,
            src_partition INT METADATA FROM 'partition' VIRTUAL,
            src_offset BIGINT METADATA FROM 'offset' VIRTUAL,
            src_timestamp TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL
        ) WITH (
            'connector' = 'kafka',
            'topic' = '{source}',
            'properties.bootstrap.servers' = '{bootstrap}',
            'scan.startup.mode' = 'earliest-offset',
            'scan.bounded.mode' = 'latest-offset',
            'key.format' = 'raw',
            'key.fields' = 'raw_key',
            'value.format' = 'raw',
            'value.fields-include' = 'EXCEPT_KEY'
        )""")
    env.execute_sql(f"""
        CREATE TEMPORARY VIEW decoded AS SELECT
            fs_decode_avro(raw_value, {quoted(schema_text("payment_event"))},
                           {quoted(registry_url)}) AS d,
            raw_key, raw_value, src_topic, src_partition, src_offset, src_timestamp
        FROM src""")
    env.execute_sql(f"""
        CREATE TABLE good_payments (
            payment_id STRING, card_id STRING, amount_usd_cents BIGINT, channel STRING,
            event_time TIMESTAMP(3)
        ) WITH (
            'connector' = 'kafka', 'topic' = '{good}',
            'properties.bootstrap.servers' = '{bootstrap}',
            'value.format' = 'avro-confluent', 'value.avro-confluent.url' = '{registry_url}'
        )""")
    env.execute_sql(f"""
        CREATE TABLE dead_letters (
            source_topic STRING NOT NULL, source_partition INT NOT NULL,
            source_offset BIGINT NOT NULL, job STRING NOT NULL, reason STRING NOT NULL,
            message STRING NOT NULL, raw_key BYTES, raw_value BYTES,
            source_timestamp TIMESTAMP(3), dead_letter_time TIMESTAMP(3) NOT NULL,
            feature_view STRING
        ) WITH (
            'connector' = 'kafka', 'topic' = '{dlq}',
            'properties.bootstrap.servers' = '{bootstrap}',
            'value.format' = 'avro-confluent', 'value.avro-confluent.url' = '{registry_url}',
            'value.avro-confluent.schema' = {quoted(schema_text("dead_letter"))}
        )""")
    statements = env.create_statement_set()
    statements.add_insert_sql("""
        INSERT INTO good_payments
        SELECT d.payment_id, d.card_id, d.amount_usd_cents, d.channel, d.event_time
        FROM decoded WHERE d.error IS NULL""")
    statements.add_insert_sql("""
        INSERT INTO dead_letters
        SELECT src_topic, src_partition, src_offset, 'decode_split_test', d.error,
               'value could not be decoded: ' || d.error, raw_key, raw_value,
               CAST(src_timestamp AS TIMESTAMP(3)), CAST(CURRENT_TIMESTAMP AS TIMESTAMP(3)),
               CAST(NULL AS STRING)
        FROM decoded WHERE d.error IS NOT NULL""")
    statements.execute()


if __name__ == "__main__":
    main(*sys.argv[1:6])
