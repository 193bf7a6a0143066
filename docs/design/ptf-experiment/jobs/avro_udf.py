"""Q3: ScalarFunction with schema-literal-driven output ROW type, decoding Confluent wire-format Avro."""
import json, sys
from pyflink.table import EnvironmentSettings, TableEnvironment
JAR = "/tmp/ptf-exp/udf/target/fsexp-udf-0.1.jar"
d = json.load(open("/tmp/ptf-exp/avro_cases.json"))
schema = d["schema"].replace("'", "''")
t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
t_env.get_config().set("pipeline.jars", "file://" + JAR)
t_env.execute_sql("CREATE TEMPORARY FUNCTION decode_avro AS 'fsexp.DecodeConfluentAvro' LANGUAGE JAVA")
values = ",\n".join(f"('{k}', X'{v}')" for k, v in d["cases"].items())
t_env.execute_sql(f"CREATE TEMPORARY VIEW raw_in AS SELECT * FROM (VALUES {values}) AS t(name, raw_value)")
t_env.execute_sql(f"CREATE TEMPORARY VIEW decoded AS SELECT name, decode_avro(raw_value, '{schema}') AS d FROM raw_in")
tbl = t_env.sql_query("SELECT name, d.user_id, d.amount, d.qty, CAST(d.ts AS STRING) AS ts, d.kind, CAST(d.tags AS STRING) AS tags, d.geo.lat AS lat, CAST(d.geo AS STRING) AS geo, d.error FROM decoded")
print("RESULT SCHEMA:"); tbl.print_schema()
print("decode_avro type:", t_env.sql_query("SELECT d FROM decoded").get_schema())
with tbl.execute().collect() as it:
    for r in it:
        print(r)
# planning-time error path: non-literal schema argument
try:
    t_env.sql_query("SELECT decode_avro(raw_value, name) FROM raw_in").get_schema()
except Exception as e:
    print("NON-LITERAL SCHEMA ->", [l for l in str(e).splitlines() if "decode_avro" in l or "Invalid" in l][:2])
try:
    t_env.sql_query("SELECT decode_avro(raw_value, '{\"type\":\"int\"}') FROM raw_in").get_schema()
except Exception as e:
    print("NON-RECORD SCHEMA ->", [l for l in str(e).splitlines() if "decode_avro" in l or "Invalid" in l][:2])
