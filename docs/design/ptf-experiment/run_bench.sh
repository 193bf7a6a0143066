#!/bin/bash
# usage: run_bench.sh ptf|over N KEYS  -> prints job id, duration, rows/s
set -e
export FLINK_CONF_DIR=/tmp/fs-dev/flink/conf FLINK_LIB_DIR=/tmp/fs-dev/flink/lib FLINK_LOG_DIR=/tmp/fs-dev/logs PYFLINK_PYTHON=/work/main/.venv/bin/python
PF=/work/main/.venv/lib/python3.11/site-packages/pyflink
out=$(bash $PF/bin/flink run -d -m 127.0.0.1:18082 -py /tmp/ptf-exp/jobs/bench.py -j /tmp/ptf-exp/udf/target/fsexp-udf-0.1.jar "$@" 2>&1)
jid=$(echo "$out" | grep -o 'JobID [0-9a-f]\{32\}' | awk '{print $2}')
[ -z "$jid" ] && { echo "$out" | tail -30; exit 1; }
while true; do
  st=$(curl -s http://127.0.0.1:18082/jobs/$jid | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["state"], d["duration"])')
  case "$st" in FINISHED*|FAILED*|CANCELED*) break;; esac; sleep 2
done
echo "$* job=$jid state/duration_ms: $st" | awk -v n="$2" '{print $0, " rows/s=" int(n/($NF/1000))}'
