"""datagen -> blackhole, parallelism 1. argv: which(ptf|over) n keys. Submitted detached to the session cluster."""
import sys
sys.path.insert(0, "/tmp/ptf-exp/jobs")
from pyflink.table import EnvironmentSettings, TableEnvironment
from common_sql import source_ddl, PTF_SQL, OVER_SQL, VIEW_DDL

which, n, keys = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
t_env.get_config().set("parallelism.default", "1")
t_env.get_config().set("pipeline.name", f"bench-{which}-{n}-{keys}")
# 1M rows, 100 ms apart (~27.8 h of event time), 30 s jitter rounded to the second
t_env.execute_sql(source_ddl("src", n, keys, step_ms=100, jitter_s=30, round_ms=1000))
t_env.execute_sql(VIEW_DDL)
t_env.execute_sql("CREATE TEMPORARY FUNCTION mwf AS 'fsexp.MultiWindowFeatures' LANGUAGE JAVA")
t_env.execute_sql("""CREATE TEMPORARY TABLE sink (k INT, id BIGINT, amount DOUBLE, cat STRING,
  cnt_10m BIGINT, cnt_1h BIGINT, cnt_24h BIGINT, sum_1h DOUBLE, sum_24h DOUBLE, max_24h DOUBLE,
  dcnt_cat_24h BIGINT, seconds_since_prev DOUBLE) WITH ('connector' = 'blackhole')""")
BASE = "SELECT k, id, amount, cat, 0, 0, 0, 0.0, 0.0, 0.0, 0, CAST(NULL AS DOUBLE) FROM src"
t_env.execute_sql("INSERT INTO sink " + {"ptf": PTF_SQL, "over": OVER_SQL, "none": BASE}[which])
