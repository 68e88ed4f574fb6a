#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The main job, on a fresh Debian 12 machine as root: install what is needed,
# build the module, and show stock syslog-ng 3.38 with and without
# parallelize() on the heavy workload (JSON parsing, rewrites, format-json)
# fed by one chatty TCP connection; then, on lines of their own, the same two
# with the malloc of each opt-in allocator drop-in (mimalloc, jemalloc) preloaded.
# Takes a few minutes.  The bench's log and results: build/demo-out/.
#   DEMO_MESSAGES (default 100000), DEMO_WORKERS (default: online CPUs), DEMO_RUNS (default 1)
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
out=$top/build/demo-out
mkdir -p "$out"
# the build's chatter (autoconf's warnings among it) goes to a log, shown if the build fails
if ! { scripts/build.sh build && make -C build bench/send-file; } >"$out/build.log" 2>&1; then
  tail -n 40 "$out/build.log"
  echo "demo: the build failed; its log: $out/build.log" >&2
  exit 1
fi
# the stock daemon, and the same with each opt-in allocator preloaded: only those, only heavy
allocators=$(/usr/bin/python3 bench/demo-summary.py --bench-allocators)
BENCH_RUNS=${DEMO_RUNS:-1} BENCH_MESSAGES=$messages BENCH_WORKLOADS=heavy BENCH_MAX_WORKERS=$workers \
BENCH_LATENCY_MESSAGES=0 BENCH_ALLOCATORS=$allocators BENCH_ALLOCATOR_WORKLOADS=heavy \
  /usr/bin/python3 bench/run-bench.py --srcdir "$top" --module-dir "$top/build/modules/parallelize/.libs" \
    --send-file "$top/build/bench/send-file" --outdir "$out" --configs "seq,w$workers" >"$out/demo.log" 2>&1 ||
  { tail -n 40 "$out/demo.log"; echo "demo: the bench failed; its log: $out/demo.log" >&2; exit 1; }

/usr/bin/python3 bench/demo-summary.py "$out/results.json" "$workers"
