"""A Flink SQL job for the foundation test: trades (avro-confluent) from one topic to another.

Bounded (reads up to the latest offsets at start), so the job FINISHES when it has copied them.
Run on the local cluster with ``flink run -py``; arguments: source topic, sink topic, bootstrap
servers, registry URL.
"""

import sys

from pyflink.table import EnvironmentSettings, TableEnvironment

from common.schemas import schema_text


def main(source: str, sink: str, bootstrap: str, registry_url: str) -> None:
    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    # The writer schema's enum needs an explicit reader schema: Avro cannot resolve an enum
    # into the plain string that Flink would derive from the STRING column.
    reader_schema = schema_text("trade_event").replace("'", "''")
    columns = """
        trade_id STRING NOT NULL,
        venue STRING NOT NULL,
        symbol STRING NOT NULL,
        side STRING NOT NULL,
        price DECIMAL(18, 8) NOT NULL,
        quantity DECIMAL(18, 8) NOT NULL,
        account_id STRING NOT NULL,
        event_time TIMESTAMP(3) NOT NULL,
        producer STRING NOT NULL,
        sequence BIGINT NOT NULL
    """
    env.execute_sql(f"""
        CREATE TABLE source_trades ({columns}) WITH (
            'connector' = 'kafka',
            'topic' = '{source}',
            'properties.bootstrap.servers' = '{bootstrap}',
            'properties.group.id' = 'featurestream-test-{source}',
            'scan.startup.mode' = 'earliest-offset',
            'scan.bounded.mode' = 'latest-offset',
            'value.format' = 'avro-confluent',
            'value.avro-confluent.url' = '{registry_url}',
            'value.avro-confluent.schema' = '{reader_schema}'
        )""")
    env.execute_sql(f"""
        CREATE TABLE sink_trades ({columns}) WITH (
            'connector' = 'kafka',
            'topic' = '{sink}',
            'properties.bootstrap.servers' = '{bootstrap}',
            'value.format' = 'avro-confluent',
            'value.avro-confluent.url' = '{registry_url}'
        )""")
    env.execute_sql("INSERT INTO sink_trades SELECT * FROM source_trades")


if __name__ == "__main__":
    main(*sys.argv[1:5])
