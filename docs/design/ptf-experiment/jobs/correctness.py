"""Run PTF and stacked-OVER on identical deterministic datagen input, collect both, compare."""
import json, math, sys, time
sys.path.insert(0, "/tmp/ptf-exp/jobs")
from pyflink.table import EnvironmentSettings, TableEnvironment
from common_sql import JAR, source_ddl, PTF_SQL, OVER_SQL, VIEW_DDL

n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
keys = int(sys.argv[2]) if len(sys.argv) > 2 else 40
step = int(sys.argv[3]) if len(sys.argv) > 3 else 20000
out = sys.argv[4] if len(sys.argv) > 4 else "/tmp/ptf-exp/correctness_result.json"

t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
t_env.get_config().set("pipeline.jars", "file://" + JAR)
t_env.get_config().set("parallelism.default", "1")
t_env.execute_sql(source_ddl("src", n, keys, step_ms=step, jitter_s=300, round_ms=60000))
t_env.execute_sql(VIEW_DDL)
t_env.execute_sql("CREATE TEMPORARY FUNCTION mwf AS 'fsexp.MultiWindowFeatures' LANGUAGE JAVA")

def run(sql):
    t0 = time.time()
    with t_env.execute_sql(sql).collect() as it:
        rows = [tuple(r) for r in it]
    return rows, time.time() - t0

open('/tmp/ptf-exp/over_plan.txt','w').write(t_env.explain_sql(OVER_SQL))
ptf, tp = run(PTF_SQL)
ovr, to = run(OVER_SQL)
a = {r[1]: r for r in ptf}; b = {r[1]: r for r in ovr}
def eq(x, y):
    if x is None or y is None: return x is None and y is None
    if isinstance(x, float) or isinstance(y, float): return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-6)
    return x == y
mism = [(i, a.get(i), b.get(i)) for i in sorted(set(a) | set(b)) if a.get(i) is None or b.get(i) is None or not all(eq(x, y) for x, y in zip(a[i], b[i]))]
peers = sum(1 for r in ptf if r[-1] is not None and r[-1] == 0)
from collections import Counter
B = 1_700_000_000_000
def tsms(i):
    raw = B + i * step + (i * 2654435761) % 300000
    return raw - raw % 60000
grp = Counter((i * 7919 % keys, tsms(i)) for i in range(n))
peer_rows = sum(c for c in grp.values() if c > 1)
inversions = sum(1 for i in range(1, n) if tsms(i) < tsms(i - 1))
res = dict(peer_rows=peer_rows, arrival_inversions=inversions, ptf_s=round(tp, 1), over_s=round(to, 1),
           diff_10m_1h=sum(1 for r in ptf if r[4] != r[5]), diff_1h_24h=sum(1 for r in ptf if r[5] != r[6]),
           n=n, keys=keys, ptf_rows=len(ptf), over_rows=len(ovr), mismatches=len(mism),
           sample_mismatch=[str(m) for m in mism[:5]], null_prev=sum(1 for r in ptf if r[-1] is None),
           zero_gap_rows=sum(1 for r in ptf if r[-1] == 0),
           max_cnt24=max(r[6] for r in ptf), max_dcnt=max(r[10] for r in ptf), sample=[str(r) for r in ptf[:3]])
print(json.dumps(res, indent=1))
json.dump(res, open(out, "w"), indent=1)
