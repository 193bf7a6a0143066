"""Shared DDL/SQL for the PTF vs stacked-OVER experiment."""
JAR = "/tmp/ptf-exp/udf/target/fsexp-udf-0.1.jar"
BASE_MS = 1_700_000_000_000


def source_ddl(name, n, keys, step_ms=100, jitter_s=30, round_ms=1000, rps=None):
    # deterministic everything from the sequence id -> identical input for every query
    j = jitter_s * 1000
    rate = f", 'rows-per-second' = '{rps}'" if rps else ", 'rows-per-second' = '100000000'"
    return f"""
    CREATE TEMPORARY TABLE {name} (
      id BIGINT,
      ts_ms AS (CAST({BASE_MS} AS BIGINT) + id * {step_ms} + MOD(id * 2654435761, {j}))
               - MOD(CAST({BASE_MS} AS BIGINT) + id * {step_ms} + MOD(id * 2654435761, {j}), {round_ms}),
      k AS MOD(id * 7919, {keys}),
      amount AS CAST(MOD(id * 31, 1000) AS DOUBLE) / 10,
      cat AS CONCAT('c', CAST(MOD(id * 13, 7) AS STRING)),
      ts AS TO_TIMESTAMP_LTZ((CAST({BASE_MS} AS BIGINT) + id * {step_ms} + MOD(id * 2654435761, {j}))
               - MOD(CAST({BASE_MS} AS BIGINT) + id * {step_ms} + MOD(id * 2654435761, {j}), {round_ms}), 3),
      WATERMARK FOR ts AS ts - INTERVAL '{(jitter_s + round_ms // 1000) // 60}:{(jitter_s + round_ms // 1000) % 60:02d}' MINUTE TO SECOND
    ) WITH ('connector' = 'datagen', 'fields.id.kind' = 'sequence',
            'fields.id.start' = '0', 'fields.id.end' = '{n - 1}'{rate})
    """


VIEW_DDL = "CREATE TEMPORARY VIEW src_v AS SELECT k, id, amount, cat, ts FROM src"
FEATS = "cnt_10m, cnt_1h, cnt_24h, sum_1h, sum_24h, max_24h, dcnt_cat_24h, seconds_since_prev"

PTF_SQL = f"""
SELECT k, id, amount, cat, {FEATS}
FROM TABLE(mwf(input => TABLE src_v PARTITION BY k,
               on_time => DESCRIPTOR(ts)))
"""

# stacked OVER: one nested level per distinct frame
OVER_SQL = """
SELECT k, id, amount, cat, cnt_10m, cnt_1h, cnt_24h, sum_1h, sum_24h, max_24h, dcnt_cat_24h,
       CASE WHEN prev_ms < 0 THEN CAST(NULL AS DOUBLE) ELSE (ts_ms - prev_ms) / 1000.0 END AS seconds_since_prev
FROM (
 SELECT k, id, amount, cat, ts_ms, prev_ms, cnt_10m, cnt_1h, sum_1h,
   COUNT(*) OVER w24 AS cnt_24h, SUM(amount) OVER w24 AS sum_24h, MAX(amount) OVER w24 AS max_24h,
   COUNT(DISTINCT cat) OVER w24 AS dcnt_cat_24h
 FROM (
  SELECT k, id, amount, cat, ts, ts_ms, prev_ms, cnt_10m, COUNT(*) OVER w1 AS cnt_1h, SUM(amount) OVER w1 AS sum_1h
  FROM (
   SELECT k, id, amount, cat, ts, ts_ms, prev_ms, COUNT(*) OVER w10 AS cnt_10m
   FROM (
    SELECT k, id, amount, cat, ts, ts_ms, MIN(lag_ms) OVER wp AS prev_ms
    FROM (
     SELECT k, id, amount, cat, ts, ts_ms,
            CASE WHEN COUNT(*) OVER wr = 2 THEN MIN(ts_ms) OVER wr ELSE CAST(-1 AS BIGINT) END AS lag_ms
     FROM src
     WINDOW wr AS (PARTITION BY k ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)
    ) WINDOW wp AS (PARTITION BY k ORDER BY ts RANGE BETWEEN INTERVAL '0' SECOND PRECEDING AND CURRENT ROW)
   ) WINDOW w10 AS (PARTITION BY k ORDER BY ts RANGE BETWEEN INTERVAL '10' MINUTE PRECEDING AND CURRENT ROW)
  ) WINDOW w1 AS (PARTITION BY k ORDER BY ts RANGE BETWEEN INTERVAL '1' HOUR PRECEDING AND CURRENT ROW)
 ) WINDOW w24 AS (PARTITION BY k ORDER BY ts RANGE BETWEEN INTERVAL '24' HOUR PRECEDING AND CURRENT ROW)
)
"""
