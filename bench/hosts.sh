#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The module on every host in one session: heavy and keyed, sequential against workers(2) and,
# where the host's built-in parallelize() works, against parallelize(partitions(2)) ("builtin");
# one run of each per host and round, the hosts taking turns round by round, so that the
# machine's drift hits every host alike; then busy reloads (bench/reload-loss.py) on the hosts
# named in BENCH_RELOAD_HOSTS.  The summary (bench/hosts-summary.py) lands in
# build/bench-hosts/hosts.md, each run's results.json beside it.
#
#   bench/hosts.sh [HOST...]     default: 3.35.1 3.38.1 4.3.1-ivykis043 4.8.1
#
# 3.38.1 is this machine's daemon (Debian 12) with the module built in build/; 4.8.1 is Debian
# 13's, in the trixie root of scripts/debian13.sh; 3.35.1, 4.3.1 and 4.3.1-ivykis043 are built
# from ../shared/hosts by scripts/build-host.sh (the module in build/host-NAME).
# Settings: BENCH_HOST_ROUNDS (default 5), BENCH_RELOAD_HOSTS (default 4.3.1-ivykis043),
# BENCH_RELOAD_RUNS (default 5); needs root for the trixie root.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build/bench-hosts
rounds=${BENCH_HOST_ROUNDS:-5}
reload_hosts=${BENCH_RELOAD_HOSTS:-4.3.1-ivykis043}
[ $# -gt 0 ] || set -- 3.35.1 3.38.1 4.3.1-ivykis043 4.8.1
hosts=("$@")
settings="BENCH_RUNS=1 BENCH_WORKLOADS=heavy,keyed BENCH_ALLOCATORS=glibc BENCH_LATENCY_MESSAGES=0 BENCH_MAX_WORKERS=2"
trixie_root=${TRIXIE_ROOT:-$top/build/trixie-root}
inside_build=/build/bench-hosts

# prepare HOST: build the module against it
prepare() {
  case "$1" in
    3.38.1) "$top/scripts/build.sh" build >/dev/null ;;
    4.8.1)
      "$top/scripts/debian13.sh" run "./autogen.sh >/dev/null 2>&1 && rm -rf $inside_build /bench-hosts && mkdir -p $inside_build &&
        cd $inside_build && /src/configure --quiet && make -j\$(nproc) >make.log 2>&1" ;;
    *) "$top/scripts/host-check.sh" "$1" all >/dev/null ;;
  esac
}

# run_bench HOST DIR: one round of bench/run-bench.py against HOST, results in DIR
run_bench() {
  local host=$1 dir=$2
  case "$host" in
    4.8.1)
      "$top/scripts/debian13.sh" run "$settings /usr/bin/python3 bench/run-bench.py --srcdir /src \
        --module-dir $inside_build/modules/parallelize/.libs --send-file $inside_build/bench/send-file \
        --outdir /bench-hosts/out --configs seq,w2,builtin"
      mkdir -p "$dir" && cp "$trixie_root/bench-hosts/out/results.json" "$trixie_root/bench-hosts/out/results.md" "$dir/"
      ;;
    *)
      local build=$top/build/host-$host syslog_ng=/usr/sbin/syslog-ng syslog_ng_ctl=/usr/sbin/syslog-ng-ctl
      if [ "$host" = 3.38.1 ]; then
        build=$top/build
      else
        local prefix
        prefix=$("$top/scripts/build-host.sh" "$host" 2>/dev/null)
        syslog_ng=$prefix/sbin/syslog-ng syslog_ng_ctl=$prefix/sbin/syslog-ng-ctl
      fi
      # shellcheck disable=SC2086
      env $settings SYSLOG_NG="$syslog_ng" SYSLOG_NG_CTL="$syslog_ng_ctl" /usr/bin/python3 "$top/bench/run-bench.py" \
        --srcdir "$top" --module-dir "$build/modules/parallelize/.libs" --send-file "$build/bench/send-file" \
        --outdir "$out/$host" --configs seq,w2,builtin
      mkdir -p "$dir" && cp "$out/$host/results.json" "$out/$host/results.md" "$dir/"
      ;;
  esac
}

rm -rf "$out"
mkdir -p "$out"
started=$SECONDS
for host in "${hosts[@]}"; do
  echo "== preparing $host"
  prepare "$host"
done
echo "== prepared in $((SECONDS - started))s; load average $(cut -d' ' -f1-3 /proc/loadavg)"
bench_started=$SECONDS
for round in $(seq 1 "$rounds"); do
  # the hosts take turns, starting one further each round
  k=$(( (round - 1) % ${#hosts[@]} ))
  for host in "${hosts[@]:k}" "${hosts[@]:0:k}"; do
    echo "== round $round: $host (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    run_bench "$host" "$out/$host/round$round"
  done
done
for host in "${hosts[@]}"; do
  case " $reload_hosts " in *" $host "*) ;; *) continue ;; esac
  echo "== busy reloads: $host"
  case "$host" in
    4.8.1)
      "$top/scripts/debian13.sh" run "mkdir -p /bench-hosts/reload && BENCH_RELOAD_RUNS=${BENCH_RELOAD_RUNS:-5} \
        /usr/bin/python3 bench/reload-loss.py /bench-hosts/reload $inside_build/modules/parallelize/.libs"
      mkdir -p "$out/$host" && cp "$trixie_root/bench-hosts/reload/reload-loss.md" "$out/$host/"
      ;;
    *)
      build=$top/build/host-$host
      [ "$host" = 3.38.1 ] && build=$top/build
      (
        if [ "$host" != 3.38.1 ]; then export $("$top/scripts/build-host.sh" --env "$host" 2>/dev/null); fi
        /usr/bin/python3 "$top/bench/reload-loss.py" "$out/$host" "$build/modules/parallelize/.libs"
      )
      ;;
  esac
done
echo "== $((SECONDS - bench_started))s of benchmarks; load average $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 "$top/bench/hosts-summary.py" "$out" "${hosts[@]}"
