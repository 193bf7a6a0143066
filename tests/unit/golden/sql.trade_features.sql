-- window function fs_window_trade_symbol_v1: dev.featurestream.flink.WindowFeatures('{"aggregates":[{"function":"count","input":null,"name":"sym_trade_count_1m","window_ms":60000},{"function":"sum","input":"in_0","name":"sym_volume_1m","window_ms":60000},{"function":"sum","input":"in_1","name":"sym_notional_1m","window_ms":60000},{"function":"sum","input":"in_1","name":"sym_notional_5m","window_ms":300000},{"function":"sum","input":"in_0","name":"sym_volume_5m","window_ms":300000},{"function":"sum","input":"in_2","name":"sym_buy_volume_5m","window_ms":300000},{"function":"stddev_pop","input":"in_3","name":"sym_price_stddev_5m","window_ms":300000},{"function":"last","input":"in_3","name":"sym_last_price","window_ms":null}],"emit_inputs":true,"event_id":"trade_id","inputs":[{"column":"in_0","expression":"CAST(CAST(quantity AS DOUBLE) AS DOUBLE)","kind":"DOUBLE"},{"column":"in_1","expression":"CAST(CAST(price AS DOUBLE) * CAST(quantity AS DOUBLE) AS DOUBLE)","kind":"DOUBLE"},{"column":"in_2","expression":"CAST(CASE WHEN side = 'BUY' THEN CAST(quantity AS DOUBLE) ELSE 0E0 END AS DOUBLE)","kind":"DOUBLE"},{"column":"in_3","expression":"CAST(CAST(price AS DOUBLE) AS DOUBLE)","kind":"DOUBLE"}],"key":"symbol","last_event_retention_ms":34560000000,"retention_ms":602000,"spec_version":1,"version":1,"view":"trade_symbol"}')
-- window function fs_window_trade_account_v1: dev.featurestream.flink.WindowFeatures('{"aggregates":[{"function":"count","input":null,"name":"acct_trade_count_1h","window_ms":3600000},{"function":"sum","input":"in_0","name":"acct_notional_1h","window_ms":3600000},{"function":"distinct_count","input":"in_1","name":"acct_distinct_symbols_1h","window_ms":3600000}],"emit_inputs":true,"event_id":"trade_id","inputs":[{"column":"in_0","expression":"CAST(CAST(price AS DOUBLE) * CAST(quantity AS DOUBLE) AS DOUBLE)","kind":"DOUBLE"},{"column":"in_1","expression":"`symbol`","kind":"STRING"}],"key":"account_id","last_event_retention_ms":34560000000,"retention_ms":3902000,"spec_version":1,"version":1,"view":"trade_account"}')

CREATE TABLE `source_events` (
  `raw_key` BYTES,
  `trade_id` STRING NOT NULL,
  `venue` STRING NOT NULL,
  `symbol` STRING NOT NULL,
  `side` STRING NOT NULL,
  `price` DECIMAL(18, 8) NOT NULL,
  `quantity` DECIMAL(18, 8) NOT NULL,
  `account_id` STRING NOT NULL,
  `event_time` TIMESTAMP(3) NOT NULL,
  `producer` STRING NOT NULL,
  `sequence` BIGINT NOT NULL,
  `decode_error` STRING,
  `raw_value` BYTES,
  `src_topic` STRING METADATA FROM 'topic' VIRTUAL,
  `src_partition` INT METADATA FROM 'partition' VIRTUAL,
  `src_offset` BIGINT METADATA FROM 'offset' VIRTUAL,
  `src_timestamp` TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
  WATERMARK FOR `event_time` AS CASE WHEN `event_time` > LOCALTIMESTAMP + INTERVAL '0 00:05:00.000' DAY TO SECOND(3) THEN CAST(NULL AS TIMESTAMP(3)) ELSE `event_time` - INTERVAL '0 00:00:02.000' DAY TO SECOND(3) END
) WITH (
  'connector' = 'kafka',
  'topic' = 'trades',
  'properties.bootstrap.servers' = 'kafka:9092',
  'properties.group.id' = 'featurestream-trade-features',
  'properties.isolation.level' = 'read_committed',
  'key.format' = 'raw',
  'key.fields' = 'raw_key',
  'value.format' = 'featurestream-avro',
  'value.featurestream-avro.schema' = '{
  "type": "record",
  "name": "TradeEvent",
  "namespace": "dev.featurestream.events",
  "doc": "One fill of a taker order on a crypto venue. Topic `trades`, keyed by `symbol` (UTF-8).",
  "fields": [
    {
      "name": "trade_id",
      "type": "string",
      "doc": "Identifier of the fill, unique per venue and stable across replays."
    },
    {
      "name": "venue",
      "type": "string",
      "doc": "Exchange the fill happened on, lower case (for example `coinbase`)."
    },
    {
      "name": "symbol",
      "type": "string",
      "doc": "Instrument as BASE-QUOTE in upper case (for example `BTC-USD`); the message key."
    },
    {
      "name": "side",
      "type": {
        "type": "enum",
        "name": "Side",
        "doc": "Direction of the taker: BUY lifts the ask, SELL hits the bid.",
        "symbols": ["BUY", "SELL"]
      },
      "doc": "Side of the taker order."
    },
    {
      "name": "price",
      "type": {"type": "bytes", "logicalType": "decimal", "precision": 18, "scale": 8},
      "doc": "Fill price in units of the quote currency per unit of the base currency."
    },
    {
      "name": "quantity",
      "type": {"type": "bytes", "logicalType": "decimal", "precision": 18, "scale": 8},
      "doc": "Filled quantity in units of the base currency; always positive."
    },
    {
      "name": "account_id",
      "type": "string",
      "doc": "Opaque identifier of the taker''s account."
    },
    {
      "name": "event_time",
      "type": {"type": "long", "logicalType": "timestamp-millis"},
      "doc": "When the venue matched the fill (UTC, milliseconds since the epoch); the event time."
    },
    {
      "name": "producer",
      "type": "string",
      "doc": "Ingest metadata: name of the process that wrote the record (for example `featurestream-generator`)."
    },
    {
      "name": "sequence",
      "type": "long",
      "doc": "Ingest metadata: the producer''s sequence number of the record, increasing from 0 within one run."
    }
  ]
}
',
  'value.featurestream-avro.url' = 'http://registry:8081/apis/ccompat/v7',
  'value.fields-include' = 'EXCEPT_KEY',
  'scan.startup.mode' = 'group-offsets',
  'properties.auto.offset.reset' = 'earliest'
);

CREATE TEMPORARY VIEW `classified` AS
SELECT *, CASE
    WHEN `decode_error` IS NOT NULL THEN `decode_error`
    WHEN `event_time` > LOCALTIMESTAMP + INTERVAL '0 00:05:00.000' DAY TO SECOND(3) THEN 'future_event_time'
    WHEN `event_time` <= CURRENT_WATERMARK(`event_time`) THEN 'late'
    WHEN `symbol` IS NULL OR CHAR_LENGTH(TRIM(`symbol`)) = 0 OR `account_id` IS NULL OR CHAR_LENGTH(TRIM(`account_id`)) = 0 THEN 'null_key'
    WHEN CHAR_LENGTH(`symbol`) > 256 OR CHAR_LENGTH(`account_id`) > 256 OR CHAR_LENGTH(`trade_id`) > 256 THEN 'key_too_long'
    WHEN (price > 0) IS NOT TRUE OR (quantity > 0) IS NOT TRUE THEN 'invalid_value'
  END AS `reject_reason`
FROM `source_events`;

CREATE TABLE `dead_letters` (
  `source_topic` STRING NOT NULL,
  `source_partition` INT NOT NULL,
  `source_offset` BIGINT NOT NULL,
  `job` STRING NOT NULL,
  `reason` STRING NOT NULL,
  `message` STRING NOT NULL,
  `raw_key` BYTES,
  `raw_value` BYTES,
  `source_timestamp` TIMESTAMP(3),
  `dead_letter_time` TIMESTAMP(3) NOT NULL,
  `feature_view` STRING
) WITH (
  'connector' = 'kafka',
  'topic' = 'dlq.trade_features',
  'properties.bootstrap.servers' = 'kafka:9092',
  'sink.delivery-guarantee' = 'exactly-once',
  'properties.transaction.timeout.ms' = '900000',
  'sink.transactional-id-prefix' = 'featurestream-trade-features-dlq',
  'properties.linger.ms' = '20',
  'properties.batch.size' = '131072',
  'value.format' = 'featurestream-avro',
  'value.featurestream-avro.url' = 'http://registry:8081/apis/ccompat/v7',
  'value.featurestream-avro.schema' = '{
  "type": "record",
  "name": "DeadLetter",
  "namespace": "dev.featurestream.dlq",
  "doc": "A record a job rejected, with why and where it came from. Topics `dlq.<job>`.",
  "fields": [
    {
      "name": "source_topic",
      "type": "string",
      "doc": "Topic the rejected record was read from."
    },
    {
      "name": "source_partition",
      "type": "int",
      "doc": "Partition the rejected record was read from."
    },
    {
      "name": "source_offset",
      "type": "long",
      "doc": "Offset of the rejected record in its partition."
    },
    {
      "name": "job",
      "type": "string",
      "doc": "Name of the job that rejected the record (the `jobs/<job>` folder name)."
    },
    {
      "name": "reason",
      "type": "string",
      "doc": "Machine-readable reason code. A string rather than an enum so that a new code never breaks a reader. Known codes: `undecodable` (the Avro body does not decode), `wrong_magic_byte` (the first byte is not 0, so not the Confluent wire format), `unknown_schema_id` (the registry has no schema with the id in the header), `truncated` (fewer than 5 bytes, or the body ends early), `null_key` (the record has no key where one is required), `key_too_long` (an entity key or the event id is longer than the source allows), `invalid_value` (decodes, but a field breaks a rule of the job), `late` (event time not after the watermark), `future_event_time` (event time further ahead of the wall clock, when read, than the source allows), `late_after_restore` (event time not after what the key''s window state had already released before a restart; concerns one view, see `feature_view`)."
    },
    {
      "name": "message",
      "type": "string",
      "doc": "Human-readable detail of the rejection."
    },
    {
      "name": "raw_key",
      "type": ["null", "bytes"],
      "default": null,
      "doc": "The rejected record''s key as read, byte for byte; null if it had none."
    },
    {
      "name": "raw_value",
      "type": ["null", "bytes"],
      "default": null,
      "doc": "The rejected record''s value as read, byte for byte; null if it had none."
    },
    {
      "name": "source_timestamp",
      "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}],
      "default": null,
      "doc": "The Kafka timestamp of the rejected record (UTC, milliseconds since the epoch); null if unknown."
    },
    {
      "name": "dead_letter_time",
      "type": {"type": "long", "logicalType": "timestamp-millis"},
      "doc": "When the job wrote this dead letter (UTC, milliseconds since the epoch)."
    },
    {
      "name": "feature_view",
      "type": ["null", "string"],
      "default": null,
      "doc": "The feature view (`<view>.v<N>`) that rejected the record when the reason concerns one view only (`late_after_restore`); null when the job rejected it for every view."
    }
  ]
}
',
  'value.featurestream-avro.subject' = 'dlq.trade_features-value'
);

CREATE TEMPORARY VIEW `inputs_trade_symbol_v1` AS
SELECT `symbol`, `trade_id`, `event_time`, CAST(CAST(quantity AS DOUBLE) AS DOUBLE) AS `in_0`, CAST(CAST(price AS DOUBLE) * CAST(quantity AS DOUBLE) AS DOUBLE) AS `in_1`, CAST(CASE WHEN side = 'BUY' THEN CAST(quantity AS DOUBLE) ELSE 0E0 END AS DOUBLE) AS `in_2`, CAST(CAST(price AS DOUBLE) AS DOUBLE) AS `in_3`, `src_partition`, `src_offset`
FROM `classified` WHERE `reject_reason` IS NULL;

CREATE TEMPORARY VIEW `window_trade_symbol_v1` AS
SELECT * FROM fs_window_trade_symbol_v1(
  input => TABLE `inputs_trade_symbol_v1` PARTITION BY `symbol`,
  on_time => DESCRIPTOR(`event_time`),
  uid => 'trade_symbol_v1');

CREATE TEMPORARY VIEW `features_trade_symbol_v1` AS
SELECT `trade_id` AS `event_id`, `symbol`, `rowtime` AS `event_time`,
  `sym_trade_count_1m`,
  `sym_volume_1m`,
  `sym_notional_1m`,
  CAST(sym_notional_5m / NULLIF(sym_volume_5m, 0E0) AS DOUBLE) AS `sym_vwap_5m`,
  `sym_price_stddev_5m`,
  CAST(sym_buy_volume_5m / NULLIF(sym_volume_5m, 0E0) AS DOUBLE) AS `sym_buy_ratio_5m`,
  `sym_last_price`,
  'trade_symbol' AS `feature_view`, 1 AS `feature_view_version`, `in_0`, `in_1`, `in_2`, `in_3`
FROM `window_trade_symbol_v1` WHERE `reject_reason` IS NULL;

CREATE TABLE `sink_features_trade_symbol_v1` (
  `event_id` STRING NOT NULL,
  `symbol` STRING NOT NULL,
  `event_time` TIMESTAMP(3) NOT NULL,
  `sym_trade_count_1m` BIGINT,
  `sym_volume_1m` DOUBLE,
  `sym_notional_1m` DOUBLE,
  `sym_vwap_5m` DOUBLE,
  `sym_price_stddev_5m` DOUBLE,
  `sym_buy_ratio_5m` DOUBLE,
  `sym_last_price` DOUBLE,
  `feature_view` STRING NOT NULL,
  `feature_view_version` INT NOT NULL
) WITH (
  'connector' = 'kafka',
  'topic' = 'features.trade_symbol.v1',
  'properties.bootstrap.servers' = 'kafka:9092',
  'sink.delivery-guarantee' = 'exactly-once',
  'properties.transaction.timeout.ms' = '900000',
  'sink.transactional-id-prefix' = 'featurestream-trade-features-trade-symbol-v1',
  'key.format' = 'raw',
  'key.fields' = 'symbol',
  'properties.linger.ms' = '20',
  'properties.batch.size' = '131072',
  'value.format' = 'featurestream-avro',
  'value.featurestream-avro.url' = 'http://registry:8081/apis/ccompat/v7',
  'value.featurestream-avro.schema' = '{
  "type": "record",
  "name": "TradeSymbolV1",
  "namespace": "dev.featurestream.features",
  "doc": "Per-event features of view trade_symbol.v1. Activity and price dynamics of the instrument, per trade.",
  "fields": [
    {
      "name": "event_id",
      "type": "string",
      "doc": "Id of the source event."
    },
    {
      "name": "symbol",
      "type": "string",
      "doc": "Entity key."
    },
    {
      "name": "event_time",
      "type": {
        "type": "long",
        "logicalType": "timestamp-millis"
      },
      "doc": "Event time of the source event: the features are as of this instant."
    },
    {
      "name": "sym_trade_count_1m",
      "type": [
        "null",
        "long"
      ],
      "default": null
    },
    {
      "name": "sym_volume_1m",
      "type": [
        "null",
        "double"
      ],
      "default": null
    },
    {
      "name": "sym_notional_1m",
      "type": [
        "null",
        "double"
      ],
      "default": null
    },
    {
      "name": "sym_vwap_5m",
      "type": [
        "null",
        "double"
      ],
      "default": null
    },
    {
      "name": "sym_price_stddev_5m",
      "type": [
        "null",
        "double"
      ],
      "default": null
    },
    {
      "name": "sym_buy_ratio_5m",
      "type": [
        "null",
        "double"
      ],
      "default": null
    },
    {
      "name": "sym_last_price",
      "type": [
        "null",
        "double"
      ],
      "default": null
    },
    {
      "name": "feature_view",
      "type": "string"
    },
    {
      "name": "feature_view_version",
      "type": "int"
    }
  ]
}
',
  'value.featurestream-avro.subject' = 'features.trade_symbol.v1-value',
  'value.fields-include' = 'ALL'
);

CREATE TABLE `online_features_trade_symbol_v1` (
  `event_id` STRING NOT NULL,
  `symbol` STRING NOT NULL,
  `event_time` TIMESTAMP(3) NOT NULL,
  `sym_trade_count_1m` BIGINT,
  `sym_volume_1m` DOUBLE,
  `sym_notional_1m` DOUBLE,
  `sym_vwap_5m` DOUBLE,
  `sym_price_stddev_5m` DOUBLE,
  `sym_buy_ratio_5m` DOUBLE,
  `sym_last_price` DOUBLE,
  `in_0` DOUBLE,
  `in_1` DOUBLE,
  `in_2` DOUBLE,
  `in_3` DOUBLE
) WITH (
  'connector' = 'featurestream-redis',
  'url' = 'redis://redis:6379/0',
  'view' = 'trade_symbol',
  'version' = '1',
  'key-column' = 'symbol',
  'event-id-column' = 'event_id',
  'event-time-column' = 'event_time',
  'ttl' = '602000 ms',
  'history-columns' = 'in_0,in_1,in_2,in_3',
  'history-keep' = '305000 ms',
  'history-ttl' = '34560000000 ms',
  'history-tile' = '5000 ms',
  'history-parts' = 'ns,ns,ns,nw'
);

CREATE TEMPORARY VIEW `inputs_trade_account_v1` AS
SELECT `account_id`, `trade_id`, `event_time`, CAST(CAST(price AS DOUBLE) * CAST(quantity AS DOUBLE) AS DOUBLE) AS `in_0`, `symbol` AS `in_1`, `src_partition`, `src_offset`
FROM `classified` WHERE `reject_reason` IS NULL;

CREATE TEMPORARY VIEW `window_trade_account_v1` AS
SELECT * FROM fs_window_trade_account_v1(
  input => TABLE `inputs_trade_account_v1` PARTITION BY `account_id`,
  on_time => DESCRIPTOR(`event_time`),
  uid => 'trade_account_v1');

CREATE TEMPORARY VIEW `features_trade_account_v1` AS
SELECT `trade_id` AS `event_id`, `account_id`, `rowtime` AS `event_time`,
  `acct_trade_count_1h`,
  `acct_notional_1h`,
  `acct_distinct_symbols_1h`,
  'trade_account' AS `feature_view`, 1 AS `feature_view_version`, `in_0`, `in_1`
FROM `window_trade_account_v1` WHERE `reject_reason` IS NULL;

CREATE TABLE `sink_features_trade_account_v1` (
  `event_id` STRING NOT NULL,
  `account_id` STRING NOT NULL,
  `event_time` TIMESTAMP(3) NOT NULL,
  `acct_trade_count_1h` BIGINT,
  `acct_notional_1h` DOUBLE,
  `acct_distinct_symbols_1h` BIGINT,
  `feature_view` STRING NOT NULL,
  `feature_view_version` INT NOT NULL
) WITH (
  'connector' = 'kafka',
  'topic' = 'features.trade_account.v1',
  'properties.bootstrap.servers' = 'kafka:9092',
  'sink.delivery-guarantee' = 'exactly-once',
  'properties.transaction.timeout.ms' = '900000',
  'sink.transactional-id-prefix' = 'featurestream-trade-features-trade-account-v1',
  'key.format' = 'raw',
  'key.fields' = 'account_id',
  'properties.linger.ms' = '20',
  'properties.batch.size' = '131072',
  'value.format' = 'featurestream-avro',
  'value.featurestream-avro.url' = 'http://registry:8081/apis/ccompat/v7',
  'value.featurestream-avro.schema' = '{
  "type": "record",
  "name": "TradeAccountV1",
  "namespace": "dev.featurestream.features",
  "doc": "Per-event features of view trade_account.v1. Activity of the taker account, per trade.",
  "fields": [
    {
      "name": "event_id",
      "type": "string",
      "doc": "Id of the source event."
    },
    {
      "name": "account_id",
      "type": "string",
      "doc": "Entity key."
    },
    {
      "name": "event_time",
      "type": {
        "type": "long",
        "logicalType": "timestamp-millis"
      },
      "doc": "Event time of the source event: the features are as of this instant."
    },
    {
      "name": "acct_trade_count_1h",
      "type": [
        "null",
        "long"
      ],
      "default": null
    },
    {
      "name": "acct_notional_1h",
      "type": [
        "null",
        "double"
      ],
      "default": null
    },
    {
      "name": "acct_distinct_symbols_1h",
      "type": [
        "null",
        "long"
      ],
      "default": null
    },
    {
      "name": "feature_view",
      "type": "string"
    },
    {
      "name": "feature_view_version",
      "type": "int"
    }
  ]
}
',
  'value.featurestream-avro.subject' = 'features.trade_account.v1-value',
  'value.fields-include' = 'ALL'
);

CREATE TABLE `online_features_trade_account_v1` (
  `event_id` STRING NOT NULL,
  `account_id` STRING NOT NULL,
  `event_time` TIMESTAMP(3) NOT NULL,
  `acct_trade_count_1h` BIGINT,
  `acct_notional_1h` DOUBLE,
  `acct_distinct_symbols_1h` BIGINT,
  `in_0` DOUBLE,
  `in_1` STRING
) WITH (
  'connector' = 'featurestream-redis',
  'url' = 'redis://redis:6379/0',
  'view' = 'trade_account',
  'version' = '1',
  'key-column' = 'account_id',
  'event-id-column' = 'event_id',
  'event-time-column' = 'event_time',
  'ttl' = '3902000 ms',
  'history-columns' = 'in_0,in_1',
  'history-keep' = '3660000 ms',
  'history-ttl' = '3660000 ms',
  'history-tile' = '60000 ms',
  'history-parts' = 'ns,d'
);

CREATE TABLE `window_dead_letters` (
  `source_topic` STRING NOT NULL,
  `source_partition` INT NOT NULL,
  `source_offset` BIGINT NOT NULL,
  `job` STRING NOT NULL,
  `reason` STRING NOT NULL,
  `message` STRING NOT NULL,
  `raw_key` BYTES,
  `raw_value` BYTES,
  `source_timestamp` TIMESTAMP(3),
  `dead_letter_time` TIMESTAMP(3) NOT NULL,
  `feature_view` STRING
) WITH (
  'connector' = 'kafka',
  'topic' = 'dlq.trade_features',
  'properties.bootstrap.servers' = 'kafka:9092',
  'sink.delivery-guarantee' = 'exactly-once',
  'properties.transaction.timeout.ms' = '900000',
  'sink.transactional-id-prefix' = 'featurestream-trade-features-dlq-windows',
  'properties.linger.ms' = '20',
  'properties.batch.size' = '131072',
  'value.format' = 'featurestream-avro',
  'value.featurestream-avro.url' = 'http://registry:8081/apis/ccompat/v7',
  'value.featurestream-avro.schema' = '{
  "type": "record",
  "name": "DeadLetter",
  "namespace": "dev.featurestream.dlq",
  "doc": "A record a job rejected, with why and where it came from. Topics `dlq.<job>`.",
  "fields": [
    {
      "name": "source_topic",
      "type": "string",
      "doc": "Topic the rejected record was read from."
    },
    {
      "name": "source_partition",
      "type": "int",
      "doc": "Partition the rejected record was read from."
    },
    {
      "name": "source_offset",
      "type": "long",
      "doc": "Offset of the rejected record in its partition."
    },
    {
      "name": "job",
      "type": "string",
      "doc": "Name of the job that rejected the record (the `jobs/<job>` folder name)."
    },
    {
      "name": "reason",
      "type": "string",
      "doc": "Machine-readable reason code. A string rather than an enum so that a new code never breaks a reader. Known codes: `undecodable` (the Avro body does not decode), `wrong_magic_byte` (the first byte is not 0, so not the Confluent wire format), `unknown_schema_id` (the registry has no schema with the id in the header), `truncated` (fewer than 5 bytes, or the body ends early), `null_key` (the record has no key where one is required), `key_too_long` (an entity key or the event id is longer than the source allows), `invalid_value` (decodes, but a field breaks a rule of the job), `late` (event time not after the watermark), `future_event_time` (event time further ahead of the wall clock, when read, than the source allows), `late_after_restore` (event time not after what the key''s window state had already released before a restart; concerns one view, see `feature_view`)."
    },
    {
      "name": "message",
      "type": "string",
      "doc": "Human-readable detail of the rejection."
    },
    {
      "name": "raw_key",
      "type": ["null", "bytes"],
      "default": null,
      "doc": "The rejected record''s key as read, byte for byte; null if it had none."
    },
    {
      "name": "raw_value",
      "type": ["null", "bytes"],
      "default": null,
      "doc": "The rejected record''s value as read, byte for byte; null if it had none."
    },
    {
      "name": "source_timestamp",
      "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}],
      "default": null,
      "doc": "The Kafka timestamp of the rejected record (UTC, milliseconds since the epoch); null if unknown."
    },
    {
      "name": "dead_letter_time",
      "type": {"type": "long", "logicalType": "timestamp-millis"},
      "doc": "When the job wrote this dead letter (UTC, milliseconds since the epoch)."
    },
    {
      "name": "feature_view",
      "type": ["null", "string"],
      "default": null,
      "doc": "The feature view (`<view>.v<N>`) that rejected the record when the reason concerns one view only (`late_after_restore`); null when the job rejected it for every view."
    }
  ]
}
',
  'value.featurestream-avro.subject' = 'dlq.trade_features-value'
);

INSERT INTO `dead_letters`
SELECT `src_topic`, `src_partition`, `src_offset`, 'trade_features', fs_count_dead_letter(`reject_reason`), CASE `reject_reason`
    WHEN 'late' THEN 'event time ' || CAST(`event_time` AS STRING) || ' is not after the watermark ' || COALESCE(CAST(CURRENT_WATERMARK(`event_time`) AS STRING), '')
    WHEN 'future_event_time' THEN 'event time ' || CAST(`event_time` AS STRING) || ' is more than 5 min after the wall clock when read (' || CAST(LOCALTIMESTAMP AS STRING) || ')'
    WHEN 'null_key' THEN 'an entity key is null or empty'
    WHEN 'key_too_long' THEN 'an entity key or the event id is longer than 256 characters'
    WHEN 'invalid_value' THEN 'a value check failed: price > 0; quantity > 0'
    ELSE 'value could not be decoded: ' || `reject_reason`
  END,
  `raw_key`, `raw_value`, CAST(`src_timestamp` AS TIMESTAMP(3)), CAST(LOCALTIMESTAMP AS TIMESTAMP(3)), CAST(NULL AS STRING)
FROM `classified` WHERE `reject_reason` IS NOT NULL;

INSERT INTO `sink_features_trade_symbol_v1` SELECT `event_id`, `symbol`, `event_time`, `sym_trade_count_1m`, `sym_volume_1m`, `sym_notional_1m`, `sym_vwap_5m`, `sym_price_stddev_5m`, `sym_buy_ratio_5m`, `sym_last_price`, `feature_view`, `feature_view_version` FROM `features_trade_symbol_v1`;

INSERT INTO `online_features_trade_symbol_v1` SELECT `event_id`, `symbol`, `event_time`, `sym_trade_count_1m`, `sym_volume_1m`, `sym_notional_1m`, `sym_vwap_5m`, `sym_price_stddev_5m`, `sym_buy_ratio_5m`, `sym_last_price`, `in_0`, `in_1`, `in_2`, `in_3` FROM `features_trade_symbol_v1`;

INSERT INTO `sink_features_trade_account_v1` SELECT `event_id`, `account_id`, `event_time`, `acct_trade_count_1h`, `acct_notional_1h`, `acct_distinct_symbols_1h`, `feature_view`, `feature_view_version` FROM `features_trade_account_v1`;

INSERT INTO `online_features_trade_account_v1` SELECT `event_id`, `account_id`, `event_time`, `acct_trade_count_1h`, `acct_notional_1h`, `acct_distinct_symbols_1h`, `in_0`, `in_1` FROM `features_trade_account_v1`;

INSERT INTO `window_dead_letters`
SELECT 'trades', `reject_partition`, `reject_offset`, 'trade_features', fs_count_dead_letter(`reject_reason`), `reject_message`,
  CAST(NULL AS BYTES), CAST(NULL AS BYTES), CAST(NULL AS TIMESTAMP(3)), CAST(LOCALTIMESTAMP AS TIMESTAMP(3)), 'trade_symbol.v1'
FROM `window_trade_symbol_v1` WHERE `reject_reason` IS NOT NULL
UNION ALL
SELECT 'trades', `reject_partition`, `reject_offset`, 'trade_features', fs_count_dead_letter(`reject_reason`), `reject_message`,
  CAST(NULL AS BYTES), CAST(NULL AS BYTES), CAST(NULL AS TIMESTAMP(3)), CAST(LOCALTIMESTAMP AS TIMESTAMP(3)), 'trade_account.v1'
FROM `window_trade_account_v1` WHERE `reject_reason` IS NOT NULL;
