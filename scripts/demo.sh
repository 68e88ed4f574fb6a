#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The main job, on a fresh Debian 12 machine as root: install what is needed,
# build the module, and show stock syslog-ng 3.38 with and without
# parallelize() on the heavy workload (JSON parsing, rewrites, format-json)
# fed by one chatty TCP connection.  Takes a few minutes.
#   DEMO_MESSAGES (default 100000), DEMO_WORKERS (default: online CPUs)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
messages=${DEMO_MESSAGES:-100000}
workers=${DEMO_WORKERS:-$(nproc)}

if [ "$(id -u)" = 0 ]; then
  scripts/install-deps.sh
else
  echo "demo: not root, skipping scripts/install-deps.sh" >&2
fi
scripts/build.sh build >/dev/null
make -C build bench/send-file >/dev/null

out=$top/build/demo-out
mkdir -p "$out"
BENCH_RUNS=${DEMO_RUNS:-1} BENCH_MESSAGES=$messages BENCH_WORKLOADS=heavy BENCH_MAX_WORKERS=$workers \
BENCH_LATENCY_MESSAGES=0 \
  /usr/bin/python3 bench/run-bench.py --srcdir "$top" --module-dir "$top/build/modules/parallelize/.libs" \
    --send-file "$top/build/bench/send-file" --outdir "$out" --configs "seq,w$workers" >"$out/demo.log"

/usr/bin/python3 - "$out/results.json" "$workers" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
rows = {r["config"]: r for r in data["summary"]}
seq, par = rows["seq"], rows["w" + sys.argv[2]]
m = data["machine"]
print("%s on %d CPUs (%s); heavy workload, one TCP connection, %d messages"
      % (m["syslog_ng"], m["online"], m["cpu"], data["runs"][0]["messages"]))
print("  %-28s %10.0f msg/s  %6.1f CPU s per M msgs" % ("sequential", seq["median"], seq["cpu"]))
print("  %-28s %10.0f msg/s  %6.1f CPU s per M msgs  (%.2fx)"
      % ("parallelize(workers(%s))" % sys.argv[2], par["median"], par["cpu"], par["speedup"]))
print("every message checked: delivered exactly once")
PY
