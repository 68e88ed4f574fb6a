#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The engine micro-benchmark: msg/s with threads, and instructions per message
# under callgrind (repeatable on a noisy machine).  Writes OUTDIR/engine.md.
set -euo pipefail
bin=$1
out=$2
messages=${BENCH_ENGINE_MESSAGES:-10000000}
workers_max=${BENCH_MAX_WORKERS:-$(nproc)}
# libtool may leave a wrapper script: run the real binary
real=$bin
[ -x "$(dirname "$bin")/.libs/$(basename "$bin")" ] && real="$(dirname "$bin")/.libs/$(basename "$bin")"
md=$out/engine.md
{
  echo
  echo "## Engine micro-benchmark (bench/bench-dispatcher, no-op consumer, batch-size 100, flush every 10000)"
  echo
  echo '```'
  for w in $(seq 1 "$workers_max"); do
    "$real" threads "$messages" "$w" 100 10000
  done
  "$real" loop "$messages" 1 100 10000
  echo '```'
} | tee "$md"
if command -v valgrind >/dev/null; then
  cg_messages=1000000
  for w in 1 "$workers_max"; do
    cg=$out/callgrind.engine.w$w.out
    valgrind --tool=callgrind --toggle-collect=measured_loop --callgrind-out-file="$cg" \
      "$real" loop "$cg_messages" "$w" 100 10000 >/dev/null 2>"$out/callgrind.engine.w$w.log"
    ir=$(sed -n 's/^summary: *//p' "$cg" | awk '{print $1}')
    # the measured loop runs twice (a warm-up of one fetch batch, then the messages)
    awk -v ir="$ir" -v n="$cg_messages" -v w="$w" \
      'BEGIN { printf "callgrind: %.1f instructions per message (%d workers; route + add + flush + drain + consume)\n", ir / (n + 10000), w }' | tee -a "$md"
  done
  # in-order(): the same loop with tickets, every item held in a reorder stage and released.
  # The difference to the loop above is all that in-order() costs the engine (tickets, the
  # worker's hold array, the stage); pd_reorder_submit's inclusive count is the stage alone.
  for w in 1 "$workers_max"; do
    cg=$out/callgrind.engine.ordered.w$w.out
    valgrind --tool=callgrind --toggle-collect=measured_loop --callgrind-out-file="$cg" \
      "$real" loop-ordered "$cg_messages" "$w" 100 10000 >/dev/null 2>"$out/callgrind.engine.ordered.w$w.log"
    ir=$(sed -n 's/^summary: *//p' "$cg" | awk '{print $1}')
    stage=$(callgrind_annotate --inclusive=yes "$cg" 2>/dev/null |
      awk '/reorder.cpp:pd_reorder_submit / && !found { gsub(",", "", $1); print $1; found = 1 }')
    awk -v ir="$ir" -v stage="${stage:-0}" -v n="$cg_messages" -v w="$w" \
      'BEGIN { printf "callgrind: %.1f instructions per message with in-order() (%d workers; tickets + hold + submit + release), the reorder stage (pd_reorder_submit) %.1f of them\n", ir / (n + 10000), w, stage / (n + 10000) }' | tee -a "$md"
  done
else
  echo "callgrind: valgrind not installed, no instruction count" | tee -a "$md"
fi
