-- window function fs_window_payment_card_v1: dev.featurestream.flink.WindowFeatures('{"aggregates":[{"function":"count","input":null,"name":"card_txn_count_10m","window_ms":600000},{"function":"count","input":null,"name":"card_txn_count_1h","window_ms":3600000},{"function":"count","input":null,"name":"card_txn_count_24h","window_ms":86400000},{"function":"sum","input":"in_0","name":"card_amount_usd_sum_1h","window_ms":3600000},{"function":"sum","input":"in_0","name":"card_amount_usd_sum_24h","window_ms":86400000},{"function":"avg","input":"in_0","name":"card_amount_usd_avg_24h","window_ms":86400000},{"function":"max","input":"in_0","name":"card_amount_usd_max_24h","window_ms":86400000},{"function":"distinct_count","input":"in_1","name":"card_distinct_merchants_24h","window_ms":86400000},{"function":"distinct_count","input":"in_2","name":"card_distinct_countries_24h","window_ms":86400000},{"function":"seconds_since_prev","input":null,"name":"card_seconds_since_prev","window_ms":null}],"emit_inputs":true,"event_id":"payment_id","inputs":[{"column":"in_0","expression":"`amount_usd_cents`","kind":"BIGINT"},{"column":"in_1","expression":"`merchant_id`","kind":"STRING"},{"column":"in_2","expression":"`country`","kind":"STRING"}],"key":"card_id","last_event_retention_ms":34560000000,"retention_ms":86705000,"spec_version":1,"version":1,"view":"payment_card"}')
-- window function fs_window_payment_merchant_v1: dev.featurestream.flink.WindowFeatures('{"aggregates":[{"function":"count","input":null,"name":"merchant_txn_count_1h","window_ms":3600000},{"function":"sum","input":"in_0","name":"merchant_amount_usd_sum_1h","window_ms":3600000},{"function":"distinct_count","input":"in_1","name":"merchant_distinct_cards_1h","window_ms":3600000}],"emit_inputs":true,"event_id":"payment_id","inputs":[{"column":"in_0","expression":"`amount_usd_cents`","kind":"BIGINT"},{"column":"in_1","expression":"`card_id`","kind":"STRING"}],"key":"merchant_id","last_event_retention_ms":34560000000,"retention_ms":3905000,"spec_version":1,"version":1,"view":"payment_merchant"}')

CREATE TABLE `source_events` (
  `raw_key` BYTES,
  `payment_id` STRING NOT NULL,
  `merchant_id` STRING NOT NULL,
  `card_id` STRING NOT NULL,
  `amount_minor` BIGINT NOT NULL,
  `currency` STRING NOT NULL,
  `amount_usd_cents` BIGINT NOT NULL,
  `country` STRING NOT NULL,
  `mcc` STRING NOT NULL,
  `channel` STRING NOT NULL,
  `status` STRING NOT NULL,
  `event_time` TIMESTAMP(3) NOT NULL,
  `producer` STRING NOT NULL,
  `sequence` BIGINT NOT NULL,
  `decode_error` STRING,
  `raw_value` BYTES,
  `src_topic` STRING METADATA FROM 'topic' VIRTUAL,
  `src_partition` INT METADATA FROM 'partition' VIRTUAL,
  `src_offset` BIGINT METADATA FROM 'offset' VIRTUAL,
  `src_timestamp` TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
  WATERMARK FOR `event_time` AS CASE WHEN `event_time` > LOCALTIMESTAMP + INTERVAL '0 00:05:00.000' DAY TO SECOND(3) THEN CAST(NULL AS TIMESTAMP(3)) ELSE `event_time` - INTERVAL '0 00:00:05.000' DAY TO SECOND(3) END
) WITH (
  'connector' = 'kafka',
  'topic' = 'payments',
  'properties.bootstrap.servers' = 'kafka:9092',
  'properties.group.id' = 'featurestream-payment-features',
  'properties.isolation.level' = 'read_committed',
  'key.format' = 'raw',
  'key.fields' = 'raw_key',
  'value.format' = 'featurestream-avro',
  'value.featurestream-avro.schema' = '{
  "type": "record",
  "name": "PaymentEvent",
  "namespace": "dev.featurestream.events",
  "doc": "One card payment as seen by the acquirer. Topic `payments`, keyed by `card_id` (UTF-8). Carries no card number: the card is identified by a token only.",
  "fields": [
    {
      "name": "payment_id",
      "type": "string",
      "doc": "Identifier of the payment event, unique and stable across replays."
    },
    {
      "name": "merchant_id",
      "type": "string",
      "doc": "Opaque identifier of the merchant."
    },
    {
      "name": "card_id",
      "type": "string",
      "doc": "Opaque card token (for example `tok_3f9a1c0b7e2d4a6f`); never a card number. The message key."
    },
    {
      "name": "amount_minor",
      "type": "long",
      "doc": "Amount in minor units of `currency` (cents for USD, yen for JPY, fils for BHD)."
    },
    {
      "name": "currency",
      "type": "string",
      "doc": "ISO 4217 alphabetic code of the currency of `amount_minor` (for example `EUR`)."
    },
    {
      "name": "amount_usd_cents",
      "type": "long",
      "doc": "The amount converted to US cents upstream, for comparing amounts across currencies."
    },
    {
      "name": "country",
      "type": "string",
      "doc": "ISO 3166-1 alpha-2 code of the country the payment was made in (the merchant''s country)."
    },
    {
      "name": "mcc",
      "type": "string",
      "doc": "ISO 18245 merchant category code of the merchant: four digits, leading zeros kept (for example `5411`)."
    },
    {
      "name": "channel",
      "type": {
        "type": "enum",
        "name": "Channel",
        "doc": "How the card was presented: chip or swipe at a terminal, online, tapped, or mail/telephone order.",
        "symbols": ["CARD_PRESENT", "ECOMMERCE", "CONTACTLESS", "MOTO"]
      },
      "doc": "Channel of the payment."
    },
    {
      "name": "status",
      "type": {
        "type": "enum",
        "name": "PaymentStatus",
        "doc": "Outcome of the payment at the time of the event: authorised, declined by the issuer, captured (settled), or refunded.",
        "symbols": ["AUTHORIZED", "DECLINED", "CAPTURED", "REFUNDED"]
      },
      "doc": "Status of the payment."
    },
    {
      "name": "event_time",
      "type": {"type": "long", "logicalType": "timestamp-millis"},
      "doc": "When the payment happened (UTC, milliseconds since the epoch); the event time."
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
    WHEN `card_id` IS NULL OR CHAR_LENGTH(TRIM(`card_id`)) = 0 OR `merchant_id` IS NULL OR CHAR_LENGTH(TRIM(`merchant_id`)) = 0 THEN 'null_key'
    WHEN CHAR_LENGTH(`card_id`) > 256 OR CHAR_LENGTH(`merchant_id`) > 256 OR CHAR_LENGTH(`payment_id`) > 256 THEN 'key_too_long'
    WHEN (amount_minor >= 0) IS NOT TRUE OR (amount_usd_cents >= 0) IS NOT TRUE THEN 'invalid_value'
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
  'topic' = 'dlq.payment_features',
  'properties.bootstrap.servers' = 'kafka:9092',
  'sink.delivery-guarantee' = 'exactly-once',
  'properties.transaction.timeout.ms' = '900000',
  'sink.transactional-id-prefix' = 'featurestream-payment-features-dlq',
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
  'value.featurestream-avro.subject' = 'dlq.payment_features-value'
);

CREATE TEMPORARY VIEW `inputs_payment_card_v1` AS
SELECT `card_id`, `payment_id`, `event_time`, `amount_usd_cents` AS `in_0`, `merchant_id` AS `in_1`, `country` AS `in_2`, `src_partition`, `src_offset`
FROM `classified` WHERE `reject_reason` IS NULL;

CREATE TEMPORARY VIEW `window_payment_card_v1` AS
SELECT * FROM fs_window_payment_card_v1(
  input => TABLE `inputs_payment_card_v1` PARTITION BY `card_id`,
  on_time => DESCRIPTOR(`event_time`),
  uid => 'payment_card_v1');

CREATE TEMPORARY VIEW `features_payment_card_v1` AS
SELECT `payment_id` AS `event_id`, `card_id`, `rowtime` AS `event_time`,
  `card_txn_count_10m`,
  `card_txn_count_1h`,
  `card_txn_count_24h`,
  `card_amount_usd_sum_1h`,
  `card_amount_usd_sum_24h`,
  `card_amount_usd_avg_24h`,
  `card_amount_usd_max_24h`,
  `card_distinct_merchants_24h`,
  `card_distinct_countries_24h`,
  `card_seconds_since_prev`,
  'payment_card' AS `feature_view`, 1 AS `feature_view_version`, `in_0`, `in_1`, `in_2`
FROM `window_payment_card_v1` WHERE `reject_reason` IS NULL;

CREATE TABLE `sink_features_payment_card_v1` (
  `event_id` STRING NOT NULL,
  `card_id` STRING NOT NULL,
  `event_time` TIMESTAMP(3) NOT NULL,
  `card_txn_count_10m` BIGINT,
  `card_txn_count_1h` BIGINT,
  `card_txn_count_24h` BIGINT,
  `card_amount_usd_sum_1h` BIGINT,
  `card_amount_usd_sum_24h` BIGINT,
  `card_amount_usd_avg_24h` DOUBLE,
  `card_amount_usd_max_24h` BIGINT,
  `card_distinct_merchants_24h` BIGINT,
  `card_distinct_countries_24h` BIGINT,
  `card_seconds_since_prev` DOUBLE,
  `feature_view` STRING NOT NULL,
  `feature_view_version` INT NOT NULL
) WITH (
  'connector' = 'kafka',
  'topic' = 'features.payment_card.v1',
  'properties.bootstrap.servers' = 'kafka:9092',
  'sink.delivery-guarantee' = 'exactly-once',
  'properties.transaction.timeout.ms' = '900000',
  'sink.transactional-id-prefix' = 'featurestream-payment-features-payment-card-v1',
  'key.format' = 'raw',
  'key.fields' = 'card_id',
  'properties.linger.ms' = '20',
  'properties.batch.size' = '131072',
  'value.format' = 'featurestream-avro',
  'value.featurestream-avro.url' = 'http://registry:8081/apis/ccompat/v7',
  'value.featurestream-avro.schema' = '{
  "type": "record",
  "name": "PaymentCardV1",
  "namespace": "dev.featurestream.features",
  "doc": "Per-event features of view payment_card.v1. Velocity and spend of the card, per payment.",
  "fields": [
    {
      "name": "event_id",
      "type": "string",
      "doc": "Id of the source event."
    },
    {
      "name": "card_id",
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
      "name": "card_txn_count_10m",
      "type": [
        "null",
        "long"
      ],
      "default": null
    },
    {
      "name": "card_txn_count_1h",
      "type": [
        "null",
        "long"
      ],
      "default": null
    },
    {
      "name": "card_txn_count_24h",
      "type": [
        "null",
        "long"
      ],
      "default": null
    },
    {
      "name": "card_amount_usd_sum_1h",
      "type": [
        "null",
        "long"
      ],
      "default": null
    },
    {
      "name": "card_amount_usd_sum_24h",
      "type": [
        "null",
        "long"
      ],
      "default": null
    },
    {
      "name": "card_amount_usd_avg_24h",
      "type": [
        "null",
        "double"
      ],
      "default": null
    },
    {
      "name": "card_amount_usd_max_24h",
      "type": [
        "null",
        "long"
      ],
      "default": null
    },
    {
      "name": "card_distinct_merchants_24h",
      "type": [
        "null",
        "long"
      ],
      "default": null
    },
    {
      "name": "card_distinct_countries_24h",
      "type": [
        "null",
        "long"
      ],
      "default": null
    },
    {
      "name": "card_seconds_since_prev",
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
  'value.featurestream-avro.subject' = 'features.payment_card.v1-value',
  'value.fields-include' = 'ALL'
);

CREATE TABLE `online_features_payment_card_v1` (
  `event_id` STRING NOT NULL,
  `card_id` STRING NOT NULL,
  `event_time` TIMESTAMP(3) NOT NULL,
  `card_txn_count_10m` BIGINT,
  `card_txn_count_1h` BIGINT,
  `card_txn_count_24h` BIGINT,
  `card_amount_usd_sum_1h` BIGINT,
  `card_amount_usd_sum_24h` BIGINT,
  `card_amount_usd_avg_24h` DOUBLE,
  `card_amount_usd_max_24h` BIGINT,
  `card_distinct_merchants_24h` BIGINT,
  `card_distinct_countries_24h` BIGINT,
  `card_seconds_since_prev` DOUBLE,
  `in_0` BIGINT,
  `in_1` STRING,
  `in_2` STRING
) WITH (
  'connector' = 'featurestream-redis',
  'url' = 'redis://redis:6379/0',
  'view' = 'payment_card',
  'version' = '1',
  'key-column' = 'card_id',
  'event-id-column' = 'event_id',
  'event-time-column' = 'event_time',
  'ttl' = '86705000 ms',
  'history-columns' = 'in_0,in_1,in_2',
  'history-keep' = '86705000 ms',
  'history-ttl' = '34560000000 ms'
);

CREATE TEMPORARY VIEW `inputs_payment_merchant_v1` AS
SELECT `merchant_id`, `payment_id`, `event_time`, `amount_usd_cents` AS `in_0`, `card_id` AS `in_1`, `src_partition`, `src_offset`
FROM `classified` WHERE `reject_reason` IS NULL;

CREATE TEMPORARY VIEW `window_payment_merchant_v1` AS
SELECT * FROM fs_window_payment_merchant_v1(
  input => TABLE `inputs_payment_merchant_v1` PARTITION BY `merchant_id`,
  on_time => DESCRIPTOR(`event_time`),
  uid => 'payment_merchant_v1');

CREATE TEMPORARY VIEW `features_payment_merchant_v1` AS
SELECT `payment_id` AS `event_id`, `merchant_id`, `rowtime` AS `event_time`,
  `merchant_txn_count_1h`,
  `merchant_amount_usd_sum_1h`,
  `merchant_distinct_cards_1h`,
  'payment_merchant' AS `feature_view`, 1 AS `feature_view_version`, `in_0`, `in_1`
FROM `window_payment_merchant_v1` WHERE `reject_reason` IS NULL;

CREATE TABLE `sink_features_payment_merchant_v1` (
  `event_id` STRING NOT NULL,
  `merchant_id` STRING NOT NULL,
  `event_time` TIMESTAMP(3) NOT NULL,
  `merchant_txn_count_1h` BIGINT,
  `merchant_amount_usd_sum_1h` BIGINT,
  `merchant_distinct_cards_1h` BIGINT,
  `feature_view` STRING NOT NULL,
  `feature_view_version` INT NOT NULL
) WITH (
  'connector' = 'kafka',
  'topic' = 'features.payment_merchant.v1',
  'properties.bootstrap.servers' = 'kafka:9092',
  'sink.delivery-guarantee' = 'exactly-once',
  'properties.transaction.timeout.ms' = '900000',
  'sink.transactional-id-prefix' = 'featurestream-payment-features-payment-merchant-v1',
  'key.format' = 'raw',
  'key.fields' = 'merchant_id',
  'properties.linger.ms' = '20',
  'properties.batch.size' = '131072',
  'value.format' = 'featurestream-avro',
  'value.featurestream-avro.url' = 'http://registry:8081/apis/ccompat/v7',
  'value.featurestream-avro.schema' = '{
  "type": "record",
  "name": "PaymentMerchantV1",
  "namespace": "dev.featurestream.features",
  "doc": "Per-event features of view payment_merchant.v1. Load on the merchant, per payment.",
  "fields": [
    {
      "name": "event_id",
      "type": "string",
      "doc": "Id of the source event."
    },
    {
      "name": "merchant_id",
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
      "name": "merchant_txn_count_1h",
      "type": [
        "null",
        "long"
      ],
      "default": null
    },
    {
      "name": "merchant_amount_usd_sum_1h",
      "type": [
        "null",
        "long"
      ],
      "default": null
    },
    {
      "name": "merchant_distinct_cards_1h",
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
  'value.featurestream-avro.subject' = 'features.payment_merchant.v1-value',
  'value.fields-include' = 'ALL'
);

CREATE TABLE `online_features_payment_merchant_v1` (
  `event_id` STRING NOT NULL,
  `merchant_id` STRING NOT NULL,
  `event_time` TIMESTAMP(3) NOT NULL,
  `merchant_txn_count_1h` BIGINT,
  `merchant_amount_usd_sum_1h` BIGINT,
  `merchant_distinct_cards_1h` BIGINT,
  `in_0` BIGINT,
  `in_1` STRING
) WITH (
  'connector' = 'featurestream-redis',
  'url' = 'redis://redis:6379/0',
  'view' = 'payment_merchant',
  'version' = '1',
  'key-column' = 'merchant_id',
  'event-id-column' = 'event_id',
  'event-time-column' = 'event_time',
  'ttl' = '3905000 ms',
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
  'topic' = 'dlq.payment_features',
  'properties.bootstrap.servers' = 'kafka:9092',
  'sink.delivery-guarantee' = 'exactly-once',
  'properties.transaction.timeout.ms' = '900000',
  'sink.transactional-id-prefix' = 'featurestream-payment-features-dlq-windows',
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
  'value.featurestream-avro.subject' = 'dlq.payment_features-value'
);

INSERT INTO `dead_letters`
SELECT `src_topic`, `src_partition`, `src_offset`, 'payment_features', fs_count_dead_letter(`reject_reason`), CASE `reject_reason`
    WHEN 'late' THEN 'event time ' || CAST(`event_time` AS STRING) || ' is not after the watermark ' || COALESCE(CAST(CURRENT_WATERMARK(`event_time`) AS STRING), '')
    WHEN 'future_event_time' THEN 'event time ' || CAST(`event_time` AS STRING) || ' is more than 5 min after the wall clock when read (' || CAST(LOCALTIMESTAMP AS STRING) || ')'
    WHEN 'null_key' THEN 'an entity key is null or empty'
    WHEN 'key_too_long' THEN 'an entity key or the event id is longer than 256 characters'
    WHEN 'invalid_value' THEN 'a value check failed: amount_minor >= 0; amount_usd_cents >= 0'
    ELSE 'value could not be decoded: ' || `reject_reason`
  END,
  `raw_key`, `raw_value`, CAST(`src_timestamp` AS TIMESTAMP(3)), CAST(LOCALTIMESTAMP AS TIMESTAMP(3)), CAST(NULL AS STRING)
FROM `classified` WHERE `reject_reason` IS NOT NULL;

INSERT INTO `sink_features_payment_card_v1` SELECT `event_id`, `card_id`, `event_time`, `card_txn_count_10m`, `card_txn_count_1h`, `card_txn_count_24h`, `card_amount_usd_sum_1h`, `card_amount_usd_sum_24h`, `card_amount_usd_avg_24h`, `card_amount_usd_max_24h`, `card_distinct_merchants_24h`, `card_distinct_countries_24h`, `card_seconds_since_prev`, `feature_view`, `feature_view_version` FROM `features_payment_card_v1`;

INSERT INTO `online_features_payment_card_v1` SELECT `event_id`, `card_id`, `event_time`, `card_txn_count_10m`, `card_txn_count_1h`, `card_txn_count_24h`, `card_amount_usd_sum_1h`, `card_amount_usd_sum_24h`, `card_amount_usd_avg_24h`, `card_amount_usd_max_24h`, `card_distinct_merchants_24h`, `card_distinct_countries_24h`, `card_seconds_since_prev`, `in_0`, `in_1`, `in_2` FROM `features_payment_card_v1`;

INSERT INTO `sink_features_payment_merchant_v1` SELECT `event_id`, `merchant_id`, `event_time`, `merchant_txn_count_1h`, `merchant_amount_usd_sum_1h`, `merchant_distinct_cards_1h`, `feature_view`, `feature_view_version` FROM `features_payment_merchant_v1`;

INSERT INTO `online_features_payment_merchant_v1` SELECT `event_id`, `merchant_id`, `event_time`, `merchant_txn_count_1h`, `merchant_amount_usd_sum_1h`, `merchant_distinct_cards_1h`, `in_0`, `in_1` FROM `features_payment_merchant_v1`;

INSERT INTO `window_dead_letters`
SELECT 'payments', `reject_partition`, `reject_offset`, 'payment_features', fs_count_dead_letter(`reject_reason`), `reject_message`,
  CAST(NULL AS BYTES), CAST(NULL AS BYTES), CAST(NULL AS TIMESTAMP(3)), CAST(LOCALTIMESTAMP AS TIMESTAMP(3)), 'payment_card.v1'
FROM `window_payment_card_v1` WHERE `reject_reason` IS NOT NULL
UNION ALL
SELECT 'payments', `reject_partition`, `reject_offset`, 'payment_features', fs_count_dead_letter(`reject_reason`), `reject_message`,
  CAST(NULL AS BYTES), CAST(NULL AS BYTES), CAST(NULL AS TIMESTAMP(3)), CAST(LOCALTIMESTAMP AS TIMESTAMP(3)), 'payment_merchant.v1'
FROM `window_payment_merchant_v1` WHERE `reject_reason` IS NOT NULL;
