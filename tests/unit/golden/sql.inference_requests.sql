-- window function fs_window_payment_fraud_v1__payment_card_v1: dev.featurestream.flink.WindowFeatures('{"aggregates":[{"function":"count","input":null,"name":"card_txn_count_10m","window_ms":600000},{"function":"count","input":null,"name":"card_txn_count_1h","window_ms":3600000},{"function":"count","input":null,"name":"card_txn_count_24h","window_ms":86400000},{"function":"sum","input":"in_0","name":"card_amount_usd_sum_1h","window_ms":3600000},{"function":"sum","input":"in_0","name":"card_amount_usd_sum_24h","window_ms":86400000},{"function":"avg","input":"in_0","name":"card_amount_usd_avg_24h","window_ms":86400000},{"function":"max","input":"in_0","name":"card_amount_usd_max_24h","window_ms":86400000},{"function":"distinct_count","input":"in_1","name":"card_distinct_merchants_24h","window_ms":86400000},{"function":"distinct_count","input":"in_2","name":"card_distinct_countries_24h","window_ms":86400000},{"function":"seconds_since_prev","input":null,"name":"card_seconds_since_prev","window_ms":null}],"carry":["src_topic","src_partition","src_offset","ev_amount_usd_cents"],"event_id":"payment_id","inputs":[{"column":"in_0","expression":"`amount_usd_cents`","kind":"BIGINT"},{"column":"in_1","expression":"`merchant_id`","kind":"STRING"},{"column":"in_2","expression":"`country`","kind":"STRING"}],"key":"card_id","last_event_retention_ms":34560000000,"retention_ms":86705000,"spec_version":1,"version":1,"view":"payment_card"}')
-- window function fs_window_payment_fraud_v1__payment_merchant_v1: dev.featurestream.flink.WindowFeatures('{"aggregates":[{"function":"count","input":null,"name":"merchant_txn_count_1h","window_ms":3600000},{"function":"sum","input":"in_0","name":"merchant_amount_usd_sum_1h","window_ms":3600000},{"function":"distinct_count","input":"in_1","name":"merchant_distinct_cards_1h","window_ms":3600000}],"event_id":"payment_id","inputs":[{"column":"in_0","expression":"`amount_usd_cents`","kind":"BIGINT"},{"column":"in_1","expression":"`card_id`","kind":"STRING"}],"key":"merchant_id","last_event_retention_ms":34560000000,"retention_ms":3905000,"spec_version":1,"version":1,"view":"payment_merchant"}')
-- window function fs_window_trade_anomaly_v1__trade_symbol_v1: dev.featurestream.flink.WindowFeatures('{"aggregates":[{"function":"count","input":null,"name":"sym_trade_count_1m","window_ms":60000},{"function":"sum","input":"in_0","name":"sym_volume_1m","window_ms":60000},{"function":"sum","input":"in_1","name":"sym_notional_1m","window_ms":60000},{"function":"sum","input":"in_1","name":"sym_notional_5m","window_ms":300000},{"function":"sum","input":"in_0","name":"sym_volume_5m","window_ms":300000},{"function":"sum","input":"in_2","name":"sym_buy_volume_5m","window_ms":300000},{"function":"stddev_pop","input":"in_3","name":"sym_price_stddev_5m","window_ms":300000},{"function":"last","input":"in_3","name":"sym_last_price","window_ms":null}],"carry":["src_topic","src_partition","src_offset","ev_price","ev_quantity"],"event_id":"trade_id","inputs":[{"column":"in_0","expression":"CAST(CAST(quantity AS DOUBLE) AS DOUBLE)","kind":"DOUBLE"},{"column":"in_1","expression":"CAST(CAST(price AS DOUBLE) * CAST(quantity AS DOUBLE) AS DOUBLE)","kind":"DOUBLE"},{"column":"in_2","expression":"CAST(CASE WHEN side = 'BUY' THEN CAST(quantity AS DOUBLE) ELSE 0E0 END AS DOUBLE)","kind":"DOUBLE"},{"column":"in_3","expression":"CAST(CAST(price AS DOUBLE) AS DOUBLE)","kind":"DOUBLE"}],"key":"symbol","last_event_retention_ms":34560000000,"retention_ms":602000,"spec_version":1,"version":1,"view":"trade_symbol"}')
-- window function fs_window_trade_anomaly_v1__trade_account_v1: dev.featurestream.flink.WindowFeatures('{"aggregates":[{"function":"count","input":null,"name":"acct_trade_count_1h","window_ms":3600000},{"function":"sum","input":"in_0","name":"acct_notional_1h","window_ms":3600000},{"function":"distinct_count","input":"in_1","name":"acct_distinct_symbols_1h","window_ms":3600000}],"event_id":"trade_id","inputs":[{"column":"in_0","expression":"CAST(CAST(price AS DOUBLE) * CAST(quantity AS DOUBLE) AS DOUBLE)","kind":"DOUBLE"},{"column":"in_1","expression":"`symbol`","kind":"STRING"}],"key":"account_id","last_event_retention_ms":34560000000,"retention_ms":3902000,"spec_version":1,"version":1,"view":"trade_account"}')

CREATE TABLE `payment_fraud_v1__source_events` (
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
  'properties.group.id' = 'featurestream-inference-requests',
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

CREATE TEMPORARY VIEW `payment_fraud_v1__classified` AS
SELECT *, CASE
    WHEN `decode_error` IS NOT NULL THEN `decode_error`
    WHEN `event_time` > LOCALTIMESTAMP + INTERVAL '0 00:05:00.000' DAY TO SECOND(3) THEN 'future_event_time'
    WHEN `event_time` <= CURRENT_WATERMARK(`event_time`) THEN 'late'
    WHEN `card_id` IS NULL OR CHAR_LENGTH(TRIM(`card_id`)) = 0 OR `merchant_id` IS NULL OR CHAR_LENGTH(TRIM(`merchant_id`)) = 0 THEN 'null_key'
    WHEN CHAR_LENGTH(`card_id`) > 256 OR CHAR_LENGTH(`merchant_id`) > 256 OR CHAR_LENGTH(`payment_id`) > 256 THEN 'key_too_long'
    WHEN (amount_minor >= 0) IS NOT TRUE OR (amount_usd_cents >= 0) IS NOT TRUE THEN 'invalid_value'
  END AS `reject_reason`
FROM `payment_fraud_v1__source_events`;

CREATE TABLE `payment_fraud_v1__dead_letters` (
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
  'topic' = 'dlq.inference_requests',
  'properties.bootstrap.servers' = 'kafka:9092',
  'sink.delivery-guarantee' = 'exactly-once',
  'properties.transaction.timeout.ms' = '900000',
  'sink.transactional-id-prefix' = 'featurestream-inference-requests-payment-fraud-v1-dlq',
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
  'value.featurestream-avro.subject' = 'dlq.inference_requests-value'
);

CREATE TEMPORARY VIEW `payment_fraud_v1__inputs_payment_card_v1` AS
SELECT `card_id`, `payment_id`, `event_time`, `amount_usd_cents` AS `in_0`, `merchant_id` AS `in_1`, `country` AS `in_2`, `src_topic` AS `src_topic`, `src_partition` AS `src_partition`, `src_offset` AS `src_offset`, `amount_usd_cents` AS `ev_amount_usd_cents`
FROM `payment_fraud_v1__classified` WHERE `reject_reason` IS NULL;

CREATE TEMPORARY VIEW `payment_fraud_v1__window_payment_card_v1` AS
SELECT * FROM fs_window_payment_fraud_v1__payment_card_v1(
  input => TABLE `payment_fraud_v1__inputs_payment_card_v1` PARTITION BY `card_id`,
  on_time => DESCRIPTOR(`event_time`),
  uid => 'payment_fraud_v1__payment_card_v1');

CREATE TEMPORARY VIEW `payment_fraud_v1__features_payment_card_v1` AS
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
  `src_topic`,
  `src_partition`,
  `src_offset`,
  `ev_amount_usd_cents`,
  'payment_card' AS `feature_view`, 1 AS `feature_view_version`
FROM `payment_fraud_v1__window_payment_card_v1` WHERE `reject_reason` IS NULL;

CREATE TEMPORARY VIEW `payment_fraud_v1__inputs_payment_merchant_v1` AS
SELECT `merchant_id`, `payment_id`, `event_time`, `amount_usd_cents` AS `in_0`, `card_id` AS `in_1`, `src_partition`, `src_offset`
FROM `payment_fraud_v1__classified` WHERE `reject_reason` IS NULL;

CREATE TEMPORARY VIEW `payment_fraud_v1__window_payment_merchant_v1` AS
SELECT * FROM fs_window_payment_fraud_v1__payment_merchant_v1(
  input => TABLE `payment_fraud_v1__inputs_payment_merchant_v1` PARTITION BY `merchant_id`,
  on_time => DESCRIPTOR(`event_time`),
  uid => 'payment_fraud_v1__payment_merchant_v1');

CREATE TEMPORARY VIEW `payment_fraud_v1__features_payment_merchant_v1` AS
SELECT `payment_id` AS `event_id`, `merchant_id`, `rowtime` AS `event_time`,
  `merchant_txn_count_1h`,
  `merchant_amount_usd_sum_1h`,
  `merchant_distinct_cards_1h`,
  'payment_merchant' AS `feature_view`, 1 AS `feature_view_version`
FROM `payment_fraud_v1__window_payment_merchant_v1` WHERE `reject_reason` IS NULL;

CREATE TABLE `payment_fraud_v1__request_sink` (
  `request_id` STRING NOT NULL,
  `model_name` STRING NOT NULL,
  `model_version` INT NOT NULL,
  `event_id` STRING NOT NULL,
  `event_time` TIMESTAMP(3) NOT NULL,
  `entity_keys` ROW<`card_id` STRING NOT NULL, `merchant_id` STRING NOT NULL> NOT NULL,
  `features` ROW<`amount_usd_cents` BIGINT, `card_txn_count_10m` BIGINT, `card_txn_count_1h` BIGINT, `card_txn_count_24h` BIGINT, `card_amount_usd_sum_1h` BIGINT, `card_amount_usd_sum_24h` BIGINT, `card_amount_usd_avg_24h` DOUBLE, `card_amount_usd_max_24h` BIGINT, `card_distinct_merchants_24h` BIGINT, `card_distinct_countries_24h` BIGINT, `card_seconds_since_prev` DOUBLE, `merchant_txn_count_1h` BIGINT, `merchant_amount_usd_sum_1h` BIGINT, `merchant_distinct_cards_1h` BIGINT> NOT NULL,
  `feature_times` ROW<`payment_card_v1` TIMESTAMP(3) NOT NULL, `payment_merchant_v1` TIMESTAMP(3) NOT NULL> NOT NULL,
  `lineage` ROW<`source_topic` STRING NOT NULL, `source_partition` INT NOT NULL, `source_offset` BIGINT NOT NULL, `feature_views` ARRAY<STRING NOT NULL> NOT NULL, `job` STRING NOT NULL, `job_version` STRING NOT NULL> NOT NULL,
  `request_time` TIMESTAMP(3) NOT NULL
) WITH (
  'connector' = 'kafka',
  'topic' = 'inference.requests.payment_fraud.v1',
  'properties.bootstrap.servers' = 'kafka:9092',
  'sink.delivery-guarantee' = 'exactly-once',
  'properties.transaction.timeout.ms' = '900000',
  'sink.transactional-id-prefix' = 'featurestream-inference-requests-payment-fraud-v1-requests',
  'key.format' = 'raw',
  'key.fields' = 'request_id',
  'properties.linger.ms' = '20',
  'properties.batch.size' = '131072',
  'value.format' = 'featurestream-avro',
  'value.featurestream-avro.url' = 'http://registry:8081/apis/ccompat/v7',
  'value.featurestream-avro.schema' = '{
  "type": "record",
  "name": "PaymentFraudV1Request",
  "namespace": "dev.featurestream.inference",
  "doc": "Inference request of payment_fraud.v1. Probability that a card payment is fraudulent (velocity bursts on a card).",
  "fields": [
    {
      "name": "request_id",
      "type": "string",
      "doc": "Deterministic per event and model."
    },
    {
      "name": "model_name",
      "type": "string"
    },
    {
      "name": "model_version",
      "type": "int"
    },
    {
      "name": "event_id",
      "type": "string",
      "doc": "Id of the triggering event."
    },
    {
      "name": "event_time",
      "type": {
        "type": "long",
        "logicalType": "timestamp-millis"
      }
    },
    {
      "name": "entity_keys",
      "type": {
        "type": "record",
        "name": "PaymentFraudV1EntityKeys",
        "fields": [
          {
            "name": "card_id",
            "type": "string"
          },
          {
            "name": "merchant_id",
            "type": "string"
          }
        ]
      }
    },
    {
      "name": "features",
      "type": {
        "type": "record",
        "name": "PaymentFraudV1Features",
        "doc": "The model inputs, in model order; null where a feature has no value.",
        "fields": [
          {
            "name": "amount_usd_cents",
            "type": [
              "null",
              "long"
            ],
            "default": null,
            "doc": "event.amount_usd_cents"
          },
          {
            "name": "card_txn_count_10m",
            "type": [
              "null",
              "long"
            ],
            "default": null,
            "doc": "payment_card.card_txn_count_10m"
          },
          {
            "name": "card_txn_count_1h",
            "type": [
              "null",
              "long"
            ],
            "default": null,
            "doc": "payment_card.card_txn_count_1h"
          },
          {
            "name": "card_txn_count_24h",
            "type": [
              "null",
              "long"
            ],
            "default": null,
            "doc": "payment_card.card_txn_count_24h"
          },
          {
            "name": "card_amount_usd_sum_1h",
            "type": [
              "null",
              "long"
            ],
            "default": null,
            "doc": "payment_card.card_amount_usd_sum_1h"
          },
          {
            "name": "card_amount_usd_sum_24h",
            "type": [
              "null",
              "long"
            ],
            "default": null,
            "doc": "payment_card.card_amount_usd_sum_24h"
          },
          {
            "name": "card_amount_usd_avg_24h",
            "type": [
              "null",
              "double"
            ],
            "default": null,
            "doc": "payment_card.card_amount_usd_avg_24h"
          },
          {
            "name": "card_amount_usd_max_24h",
            "type": [
              "null",
              "long"
            ],
            "default": null,
            "doc": "payment_card.card_amount_usd_max_24h"
          },
          {
            "name": "card_distinct_merchants_24h",
            "type": [
              "null",
              "long"
            ],
            "default": null,
            "doc": "payment_card.card_distinct_merchants_24h"
          },
          {
            "name": "card_distinct_countries_24h",
            "type": [
              "null",
              "long"
            ],
            "default": null,
            "doc": "payment_card.card_distinct_countries_24h"
          },
          {
            "name": "card_seconds_since_prev",
            "type": [
              "null",
              "double"
            ],
            "default": null,
            "doc": "payment_card.card_seconds_since_prev"
          },
          {
            "name": "merchant_txn_count_1h",
            "type": [
              "null",
              "long"
            ],
            "default": null,
            "doc": "payment_merchant.merchant_txn_count_1h"
          },
          {
            "name": "merchant_amount_usd_sum_1h",
            "type": [
              "null",
              "long"
            ],
            "default": null,
            "doc": "payment_merchant.merchant_amount_usd_sum_1h"
          },
          {
            "name": "merchant_distinct_cards_1h",
            "type": [
              "null",
              "long"
            ],
            "default": null,
            "doc": "payment_merchant.merchant_distinct_cards_1h"
          }
        ]
      }
    },
    {
      "name": "feature_times",
      "type": {
        "type": "record",
        "name": "PaymentFraudV1FeatureTimes",
        "doc": "The instant each feature view''s values are as of (the event time: point in time).",
        "fields": [
          {
            "name": "payment_card_v1",
            "type": {
              "type": "long",
              "logicalType": "timestamp-millis"
            }
          },
          {
            "name": "payment_merchant_v1",
            "type": {
              "type": "long",
              "logicalType": "timestamp-millis"
            }
          }
        ]
      }
    },
    {
      "name": "lineage",
      "type": {
        "type": "record",
        "name": "PaymentFraudV1Lineage",
        "fields": [
          {
            "name": "source_topic",
            "type": "string"
          },
          {
            "name": "source_partition",
            "type": "int"
          },
          {
            "name": "source_offset",
            "type": "long"
          },
          {
            "name": "feature_views",
            "type": {
              "type": "array",
              "items": "string"
            },
            "doc": "Qualified feature views the features come from (payment_card.v1)."
          },
          {
            "name": "job",
            "type": "string",
            "doc": "The job that built the request."
          },
          {
            "name": "job_version",
            "type": "string",
            "doc": "Code version of that job."
          }
        ]
      }
    },
    {
      "name": "request_time",
      "type": {
        "type": "long",
        "logicalType": "timestamp-millis"
      },
      "doc": "When the request was built."
    }
  ]
}
',
  'value.featurestream-avro.subject' = 'inference.requests.payment_fraud.v1-value',
  'value.fields-include' = 'ALL'
);

CREATE TABLE `trade_anomaly_v1__source_events` (
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
  'properties.group.id' = 'featurestream-inference-requests',
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

CREATE TEMPORARY VIEW `trade_anomaly_v1__classified` AS
SELECT *, CASE
    WHEN `decode_error` IS NOT NULL THEN `decode_error`
    WHEN `event_time` > LOCALTIMESTAMP + INTERVAL '0 00:05:00.000' DAY TO SECOND(3) THEN 'future_event_time'
    WHEN `event_time` <= CURRENT_WATERMARK(`event_time`) THEN 'late'
    WHEN `symbol` IS NULL OR CHAR_LENGTH(TRIM(`symbol`)) = 0 OR `account_id` IS NULL OR CHAR_LENGTH(TRIM(`account_id`)) = 0 THEN 'null_key'
    WHEN CHAR_LENGTH(`symbol`) > 256 OR CHAR_LENGTH(`account_id`) > 256 OR CHAR_LENGTH(`trade_id`) > 256 THEN 'key_too_long'
    WHEN (price > 0) IS NOT TRUE OR (quantity > 0) IS NOT TRUE THEN 'invalid_value'
  END AS `reject_reason`
FROM `trade_anomaly_v1__source_events`;

CREATE TABLE `trade_anomaly_v1__dead_letters` (
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
  'topic' = 'dlq.inference_requests',
  'properties.bootstrap.servers' = 'kafka:9092',
  'sink.delivery-guarantee' = 'exactly-once',
  'properties.transaction.timeout.ms' = '900000',
  'sink.transactional-id-prefix' = 'featurestream-inference-requests-trade-anomaly-v1-dlq',
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
  'value.featurestream-avro.subject' = 'dlq.inference_requests-value'
);

CREATE TEMPORARY VIEW `trade_anomaly_v1__inputs_trade_symbol_v1` AS
SELECT `symbol`, `trade_id`, `event_time`, CAST(CAST(quantity AS DOUBLE) AS DOUBLE) AS `in_0`, CAST(CAST(price AS DOUBLE) * CAST(quantity AS DOUBLE) AS DOUBLE) AS `in_1`, CAST(CASE WHEN side = 'BUY' THEN CAST(quantity AS DOUBLE) ELSE 0E0 END AS DOUBLE) AS `in_2`, CAST(CAST(price AS DOUBLE) AS DOUBLE) AS `in_3`, `src_topic` AS `src_topic`, `src_partition` AS `src_partition`, `src_offset` AS `src_offset`, CAST(`price` AS DOUBLE) AS `ev_price`, CAST(`quantity` AS DOUBLE) AS `ev_quantity`
FROM `trade_anomaly_v1__classified` WHERE `reject_reason` IS NULL;

CREATE TEMPORARY VIEW `trade_anomaly_v1__window_trade_symbol_v1` AS
SELECT * FROM fs_window_trade_anomaly_v1__trade_symbol_v1(
  input => TABLE `trade_anomaly_v1__inputs_trade_symbol_v1` PARTITION BY `symbol`,
  on_time => DESCRIPTOR(`event_time`),
  uid => 'trade_anomaly_v1__trade_symbol_v1');

CREATE TEMPORARY VIEW `trade_anomaly_v1__features_trade_symbol_v1` AS
SELECT `trade_id` AS `event_id`, `symbol`, `rowtime` AS `event_time`,
  `sym_trade_count_1m`,
  `sym_volume_1m`,
  `sym_notional_1m`,
  CAST(sym_notional_5m / NULLIF(sym_volume_5m, 0E0) AS DOUBLE) AS `sym_vwap_5m`,
  `sym_price_stddev_5m`,
  CAST(sym_buy_volume_5m / NULLIF(sym_volume_5m, 0E0) AS DOUBLE) AS `sym_buy_ratio_5m`,
  `sym_last_price`,
  `src_topic`,
  `src_partition`,
  `src_offset`,
  `ev_price`,
  `ev_quantity`,
  'trade_symbol' AS `feature_view`, 1 AS `feature_view_version`
FROM `trade_anomaly_v1__window_trade_symbol_v1` WHERE `reject_reason` IS NULL;

CREATE TEMPORARY VIEW `trade_anomaly_v1__inputs_trade_account_v1` AS
SELECT `account_id`, `trade_id`, `event_time`, CAST(CAST(price AS DOUBLE) * CAST(quantity AS DOUBLE) AS DOUBLE) AS `in_0`, `symbol` AS `in_1`, `src_partition`, `src_offset`
FROM `trade_anomaly_v1__classified` WHERE `reject_reason` IS NULL;

CREATE TEMPORARY VIEW `trade_anomaly_v1__window_trade_account_v1` AS
SELECT * FROM fs_window_trade_anomaly_v1__trade_account_v1(
  input => TABLE `trade_anomaly_v1__inputs_trade_account_v1` PARTITION BY `account_id`,
  on_time => DESCRIPTOR(`event_time`),
  uid => 'trade_anomaly_v1__trade_account_v1');

CREATE TEMPORARY VIEW `trade_anomaly_v1__features_trade_account_v1` AS
SELECT `trade_id` AS `event_id`, `account_id`, `rowtime` AS `event_time`,
  `acct_trade_count_1h`,
  `acct_notional_1h`,
  `acct_distinct_symbols_1h`,
  'trade_account' AS `feature_view`, 1 AS `feature_view_version`
FROM `trade_anomaly_v1__window_trade_account_v1` WHERE `reject_reason` IS NULL;

CREATE TABLE `trade_anomaly_v1__request_sink` (
  `request_id` STRING NOT NULL,
  `model_name` STRING NOT NULL,
  `model_version` INT NOT NULL,
  `event_id` STRING NOT NULL,
  `event_time` TIMESTAMP(3) NOT NULL,
  `entity_keys` ROW<`symbol` STRING NOT NULL, `account_id` STRING NOT NULL> NOT NULL,
  `features` ROW<`price` DOUBLE, `quantity` DOUBLE, `sym_trade_count_1m` BIGINT, `sym_volume_1m` DOUBLE, `sym_notional_1m` DOUBLE, `sym_vwap_5m` DOUBLE, `sym_price_stddev_5m` DOUBLE, `sym_buy_ratio_5m` DOUBLE, `sym_last_price` DOUBLE, `acct_trade_count_1h` BIGINT, `acct_notional_1h` DOUBLE, `acct_distinct_symbols_1h` BIGINT> NOT NULL,
  `feature_times` ROW<`trade_symbol_v1` TIMESTAMP(3) NOT NULL, `trade_account_v1` TIMESTAMP(3) NOT NULL> NOT NULL,
  `lineage` ROW<`source_topic` STRING NOT NULL, `source_partition` INT NOT NULL, `source_offset` BIGINT NOT NULL, `feature_views` ARRAY<STRING NOT NULL> NOT NULL, `job` STRING NOT NULL, `job_version` STRING NOT NULL> NOT NULL,
  `request_time` TIMESTAMP(3) NOT NULL
) WITH (
  'connector' = 'kafka',
  'topic' = 'inference.requests.trade_anomaly.v1',
  'properties.bootstrap.servers' = 'kafka:9092',
  'sink.delivery-guarantee' = 'exactly-once',
  'properties.transaction.timeout.ms' = '900000',
  'sink.transactional-id-prefix' = 'featurestream-inference-requests-trade-anomaly-v1-requests',
  'key.format' = 'raw',
  'key.fields' = 'request_id',
  'properties.linger.ms' = '20',
  'properties.batch.size' = '131072',
  'value.format' = 'featurestream-avro',
  'value.featurestream-avro.url' = 'http://registry:8081/apis/ccompat/v7',
  'value.featurestream-avro.schema' = '{
  "type": "record",
  "name": "TradeAnomalyV1Request",
  "namespace": "dev.featurestream.inference",
  "doc": "Inference request of trade_anomaly.v1. How unusual a trade is for its instrument and its taker account.",
  "fields": [
    {
      "name": "request_id",
      "type": "string",
      "doc": "Deterministic per event and model."
    },
    {
      "name": "model_name",
      "type": "string"
    },
    {
      "name": "model_version",
      "type": "int"
    },
    {
      "name": "event_id",
      "type": "string",
      "doc": "Id of the triggering event."
    },
    {
      "name": "event_time",
      "type": {
        "type": "long",
        "logicalType": "timestamp-millis"
      }
    },
    {
      "name": "entity_keys",
      "type": {
        "type": "record",
        "name": "TradeAnomalyV1EntityKeys",
        "fields": [
          {
            "name": "symbol",
            "type": "string"
          },
          {
            "name": "account_id",
            "type": "string"
          }
        ]
      }
    },
    {
      "name": "features",
      "type": {
        "type": "record",
        "name": "TradeAnomalyV1Features",
        "doc": "The model inputs, in model order; null where a feature has no value.",
        "fields": [
          {
            "name": "price",
            "type": [
              "null",
              "double"
            ],
            "default": null,
            "doc": "event.price"
          },
          {
            "name": "quantity",
            "type": [
              "null",
              "double"
            ],
            "default": null,
            "doc": "event.quantity"
          },
          {
            "name": "sym_trade_count_1m",
            "type": [
              "null",
              "long"
            ],
            "default": null,
            "doc": "trade_symbol.sym_trade_count_1m"
          },
          {
            "name": "sym_volume_1m",
            "type": [
              "null",
              "double"
            ],
            "default": null,
            "doc": "trade_symbol.sym_volume_1m"
          },
          {
            "name": "sym_notional_1m",
            "type": [
              "null",
              "double"
            ],
            "default": null,
            "doc": "trade_symbol.sym_notional_1m"
          },
          {
            "name": "sym_vwap_5m",
            "type": [
              "null",
              "double"
            ],
            "default": null,
            "doc": "trade_symbol.sym_vwap_5m"
          },
          {
            "name": "sym_price_stddev_5m",
            "type": [
              "null",
              "double"
            ],
            "default": null,
            "doc": "trade_symbol.sym_price_stddev_5m"
          },
          {
            "name": "sym_buy_ratio_5m",
            "type": [
              "null",
              "double"
            ],
            "default": null,
            "doc": "trade_symbol.sym_buy_ratio_5m"
          },
          {
            "name": "sym_last_price",
            "type": [
              "null",
              "double"
            ],
            "default": null,
            "doc": "trade_symbol.sym_last_price"
          },
          {
            "name": "acct_trade_count_1h",
            "type": [
              "null",
              "long"
            ],
            "default": null,
            "doc": "trade_account.acct_trade_count_1h"
          },
          {
            "name": "acct_notional_1h",
            "type": [
              "null",
              "double"
            ],
            "default": null,
            "doc": "trade_account.acct_notional_1h"
          },
          {
            "name": "acct_distinct_symbols_1h",
            "type": [
              "null",
              "long"
            ],
            "default": null,
            "doc": "trade_account.acct_distinct_symbols_1h"
          }
        ]
      }
    },
    {
      "name": "feature_times",
      "type": {
        "type": "record",
        "name": "TradeAnomalyV1FeatureTimes",
        "doc": "The instant each feature view''s values are as of (the event time: point in time).",
        "fields": [
          {
            "name": "trade_symbol_v1",
            "type": {
              "type": "long",
              "logicalType": "timestamp-millis"
            }
          },
          {
            "name": "trade_account_v1",
            "type": {
              "type": "long",
              "logicalType": "timestamp-millis"
            }
          }
        ]
      }
    },
    {
      "name": "lineage",
      "type": {
        "type": "record",
        "name": "TradeAnomalyV1Lineage",
        "fields": [
          {
            "name": "source_topic",
            "type": "string"
          },
          {
            "name": "source_partition",
            "type": "int"
          },
          {
            "name": "source_offset",
            "type": "long"
          },
          {
            "name": "feature_views",
            "type": {
              "type": "array",
              "items": "string"
            },
            "doc": "Qualified feature views the features come from (payment_card.v1)."
          },
          {
            "name": "job",
            "type": "string",
            "doc": "The job that built the request."
          },
          {
            "name": "job_version",
            "type": "string",
            "doc": "Code version of that job."
          }
        ]
      }
    },
    {
      "name": "request_time",
      "type": {
        "type": "long",
        "logicalType": "timestamp-millis"
      },
      "doc": "When the request was built."
    }
  ]
}
',
  'value.featurestream-avro.subject' = 'inference.requests.trade_anomaly.v1-value',
  'value.fields-include' = 'ALL'
);

CREATE TABLE `payment_fraud_v1__window_dead_letters` (
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
  'topic' = 'dlq.inference_requests',
  'properties.bootstrap.servers' = 'kafka:9092',
  'sink.delivery-guarantee' = 'exactly-once',
  'properties.transaction.timeout.ms' = '900000',
  'sink.transactional-id-prefix' = 'featurestream-inference-requests-payment-fraud-v1-dlq-windows',
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
  'value.featurestream-avro.subject' = 'dlq.inference_requests-value'
);

CREATE TABLE `trade_anomaly_v1__window_dead_letters` (
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
  'topic' = 'dlq.inference_requests',
  'properties.bootstrap.servers' = 'kafka:9092',
  'sink.delivery-guarantee' = 'exactly-once',
  'properties.transaction.timeout.ms' = '900000',
  'sink.transactional-id-prefix' = 'featurestream-inference-requests-trade-anomaly-v1-dlq-windows',
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
  'value.featurestream-avro.subject' = 'dlq.inference_requests-value'
);

INSERT INTO `payment_fraud_v1__dead_letters`
SELECT `src_topic`, `src_partition`, `src_offset`, 'inference_requests', fs_count_dead_letter(`reject_reason`), CASE `reject_reason`
    WHEN 'late' THEN 'event time ' || CAST(`event_time` AS STRING) || ' is not after the watermark ' || COALESCE(CAST(CURRENT_WATERMARK(`event_time`) AS STRING), '')
    WHEN 'future_event_time' THEN 'event time ' || CAST(`event_time` AS STRING) || ' is more than 5 min after the wall clock when read (' || CAST(LOCALTIMESTAMP AS STRING) || ')'
    WHEN 'null_key' THEN 'an entity key is null or empty'
    WHEN 'key_too_long' THEN 'an entity key or the event id is longer than 256 characters'
    WHEN 'invalid_value' THEN 'a value check failed: amount_minor >= 0; amount_usd_cents >= 0'
    ELSE 'value could not be decoded: ' || `reject_reason`
  END,
  `raw_key`, `raw_value`, CAST(`src_timestamp` AS TIMESTAMP(3)), CAST(LOCALTIMESTAMP AS TIMESTAMP(3)), CAST(NULL AS STRING)
FROM `payment_fraud_v1__classified` WHERE `reject_reason` IS NOT NULL;

INSERT INTO `payment_fraud_v1__request_sink`
SELECT
  SUBSTR(SHA256('payment_fraud:v1:' || v0.`event_id`), 1, 32) AS `request_id`,
  'payment_fraud' AS `model_name`, 1 AS `model_version`,
  v0.`event_id`, v0.`event_time`,
  ROW(v0.`card_id`, v1.`merchant_id`) AS `entity_keys`,
  ROW(v0.`ev_amount_usd_cents`, v0.`card_txn_count_10m`, v0.`card_txn_count_1h`, v0.`card_txn_count_24h`, v0.`card_amount_usd_sum_1h`, v0.`card_amount_usd_sum_24h`, v0.`card_amount_usd_avg_24h`, v0.`card_amount_usd_max_24h`, v0.`card_distinct_merchants_24h`, v0.`card_distinct_countries_24h`, v0.`card_seconds_since_prev`, v1.`merchant_txn_count_1h`, v1.`merchant_amount_usd_sum_1h`, v1.`merchant_distinct_cards_1h`) AS `features`,
  ROW(v0.`event_time`, v1.`event_time`) AS `feature_times`,
  ROW(v0.`src_topic`, CAST(v0.`src_partition` AS INT), v0.`src_offset`, ARRAY['payment_card.v1', 'payment_merchant.v1'], 'inference_requests', 'test') AS `lineage`,
  CAST(LOCALTIMESTAMP AS TIMESTAMP(3)) AS `request_time`
FROM `payment_fraud_v1__features_payment_card_v1` v0
JOIN `payment_fraud_v1__features_payment_merchant_v1` v1
  ON v1.`event_id` = v0.`event_id` AND v1.`event_time` BETWEEN v0.`event_time` AND v0.`event_time`;

INSERT INTO `trade_anomaly_v1__dead_letters`
SELECT `src_topic`, `src_partition`, `src_offset`, 'inference_requests', fs_count_dead_letter(`reject_reason`), CASE `reject_reason`
    WHEN 'late' THEN 'event time ' || CAST(`event_time` AS STRING) || ' is not after the watermark ' || COALESCE(CAST(CURRENT_WATERMARK(`event_time`) AS STRING), '')
    WHEN 'future_event_time' THEN 'event time ' || CAST(`event_time` AS STRING) || ' is more than 5 min after the wall clock when read (' || CAST(LOCALTIMESTAMP AS STRING) || ')'
    WHEN 'null_key' THEN 'an entity key is null or empty'
    WHEN 'key_too_long' THEN 'an entity key or the event id is longer than 256 characters'
    WHEN 'invalid_value' THEN 'a value check failed: price > 0; quantity > 0'
    ELSE 'value could not be decoded: ' || `reject_reason`
  END,
  `raw_key`, `raw_value`, CAST(`src_timestamp` AS TIMESTAMP(3)), CAST(LOCALTIMESTAMP AS TIMESTAMP(3)), CAST(NULL AS STRING)
FROM `trade_anomaly_v1__classified` WHERE `reject_reason` IS NOT NULL;

INSERT INTO `trade_anomaly_v1__request_sink`
SELECT
  SUBSTR(SHA256('trade_anomaly:v1:' || v0.`event_id`), 1, 32) AS `request_id`,
  'trade_anomaly' AS `model_name`, 1 AS `model_version`,
  v0.`event_id`, v0.`event_time`,
  ROW(v0.`symbol`, v1.`account_id`) AS `entity_keys`,
  ROW(v0.`ev_price`, v0.`ev_quantity`, v0.`sym_trade_count_1m`, v0.`sym_volume_1m`, v0.`sym_notional_1m`, v0.`sym_vwap_5m`, v0.`sym_price_stddev_5m`, v0.`sym_buy_ratio_5m`, v0.`sym_last_price`, v1.`acct_trade_count_1h`, v1.`acct_notional_1h`, v1.`acct_distinct_symbols_1h`) AS `features`,
  ROW(v0.`event_time`, v1.`event_time`) AS `feature_times`,
  ROW(v0.`src_topic`, CAST(v0.`src_partition` AS INT), v0.`src_offset`, ARRAY['trade_symbol.v1', 'trade_account.v1'], 'inference_requests', 'test') AS `lineage`,
  CAST(LOCALTIMESTAMP AS TIMESTAMP(3)) AS `request_time`
FROM `trade_anomaly_v1__features_trade_symbol_v1` v0
JOIN `trade_anomaly_v1__features_trade_account_v1` v1
  ON v1.`event_id` = v0.`event_id` AND v1.`event_time` BETWEEN v0.`event_time` AND v0.`event_time`;

INSERT INTO `payment_fraud_v1__window_dead_letters`
SELECT 'payments', `reject_partition`, `reject_offset`, 'inference_requests', fs_count_dead_letter(`reject_reason`), `reject_message`,
  CAST(NULL AS BYTES), CAST(NULL AS BYTES), CAST(NULL AS TIMESTAMP(3)), CAST(LOCALTIMESTAMP AS TIMESTAMP(3)), 'payment_card.v1'
FROM `payment_fraud_v1__window_payment_card_v1` WHERE `reject_reason` IS NOT NULL
UNION ALL
SELECT 'payments', `reject_partition`, `reject_offset`, 'inference_requests', fs_count_dead_letter(`reject_reason`), `reject_message`,
  CAST(NULL AS BYTES), CAST(NULL AS BYTES), CAST(NULL AS TIMESTAMP(3)), CAST(LOCALTIMESTAMP AS TIMESTAMP(3)), 'payment_merchant.v1'
FROM `payment_fraud_v1__window_payment_merchant_v1` WHERE `reject_reason` IS NOT NULL;

INSERT INTO `trade_anomaly_v1__window_dead_letters`
SELECT 'trades', `reject_partition`, `reject_offset`, 'inference_requests', fs_count_dead_letter(`reject_reason`), `reject_message`,
  CAST(NULL AS BYTES), CAST(NULL AS BYTES), CAST(NULL AS TIMESTAMP(3)), CAST(LOCALTIMESTAMP AS TIMESTAMP(3)), 'trade_symbol.v1'
FROM `trade_anomaly_v1__window_trade_symbol_v1` WHERE `reject_reason` IS NOT NULL
UNION ALL
SELECT 'trades', `reject_partition`, `reject_offset`, 'inference_requests', fs_count_dead_letter(`reject_reason`), `reject_message`,
  CAST(NULL AS BYTES), CAST(NULL AS BYTES), CAST(NULL AS TIMESTAMP(3)), CAST(LOCALTIMESTAMP AS TIMESTAMP(3)), 'trade_account.v1'
FROM `trade_anomaly_v1__window_trade_account_v1` WHERE `reject_reason` IS NOT NULL;
