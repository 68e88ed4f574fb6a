#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The scaling run: how far parallelize() takes one connection on this machine.

On an N-CPU machine (the CPUs this process may use), for each workload: the stock sequential daemon,
workers(1), (2), (4), (8) ... and (N-1), and N independent sequential daemons fed at once (each its own
connection and copy of the load: what the machine can do with this workload at all, its limit),
interleaved round by round.  Every run is checked: every message exactly once.

Reported per run and summarised per configuration (median over rounds): msg/s, the speed-up over the
sequential run of the same round, the share of the machine's limit, CPU microseconds per message,
context switches per 1000 messages, and the share of a core used by the source's thread (the busiest
thread that is neither a worker nor the main thread: reading, the syslog header, allocating the
message; its rate is the ceiling of one connection) beside the workers' (mean and busiest).

Writes scaling.csv, scaling.md and scaling.png into the output folder.  Settings (environment):
  SCALING_WORKLOADS   default heavy,keyed,heavy-in-order,heavy-no-parse (bench/run-bench.py's workloads)
  SCALING_MESSAGES    messages per run and per daemon (default 200000)
  SCALING_ROUNDS      rounds (default 2)
  SCALING_CPUS        N (default: the CPUs this process may use)
  SCALING_WORKERS     the worker counts, comma-separated, instead of 1, 2, 4 ... N-1 (e.g. "2" on a
                      2-core machine: workers(2) against the two daemons that are that machine's limit)
Usage: bench/scaling.py --srcdir SRC --module-dir DIR --send-file PATH --outdir OUT
(or `make bench-scaling` in a build folder).  Budget: under 8 minutes on 16 CPUs with the defaults.
"""
import argparse
import csv
import importlib.util
import os
import statistics
import subprocess
import sys
import time

_spec = importlib.util.spec_from_file_location("run_bench", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                                          "run-bench.py"))
rb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rb)

DEFAULT_WORKLOADS = "heavy,keyed,heavy-in-order,heavy-no-parse"
LIMIT = rb.LIMIT  # N sequential daemons at once (bench/run-bench.py, limit_run)


def usable_cpus():
    return len(os.sched_getaffinity(0))


def worker_counts(cpus):
    counts, n = [], 1
    while n < cpus:
        counts.append(n)
        n *= 2
    if cpus > 1 and cpus - 1 not in counts:
        counts.append(cpus - 1)
    return counts or [1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--srcdir", required=True)
    parser.add_argument("--module-dir", required=True)
    parser.add_argument("--send-file", required=True)
    parser.add_argument("--outdir", required=True)
    args = parser.parse_args()
    for name in ("srcdir", "module_dir", "send_file", "outdir"):
        setattr(args, name, os.path.abspath(getattr(args, name)))
    os.makedirs(args.outdir, exist_ok=True)
    args.poll, args.timeout, args.perf = 0.02, 300, False

    cpus = int(os.environ.get("SCALING_CPUS", str(usable_cpus())))
    args.max_workers = max(cpus - 1, 1)
    count = int(os.environ.get("SCALING_MESSAGES", "200000"))
    rounds = int(os.environ.get("SCALING_ROUNDS", "2"))
    workloads = [w for w in os.environ.get("SCALING_WORKLOADS", DEFAULT_WORKLOADS).split(",") if w]
    for w in workloads:
        if w not in rb.WORKLOADS:
            sys.exit("unknown workload %r" % w)
    counts = [int(n) for n in os.environ.get("SCALING_WORKERS", "").split(",") if n] or worker_counts(cpus)
    args.max_workers = max(counts + [args.max_workers])
    configs = [None] + counts + [LIMIT]
    info = rb.machine_info()
    rb.log("scaling: %d CPUs (%s), %s; %s; configs %s; %d messages; %d rounds"
           % (cpus, info["cpu"], info["syslog_ng"], ",".join(workloads), [rb.config_label(c) for c in configs], count, rounds))

    started = time.monotonic()
    results = []
    for workload in workloads:
        for run in range(rounds):
            k = run % len(configs)
            for config in configs[k:] + configs[:k]:
                if config == LIMIT:
                    r = rb.limit_run(args, workload, count, cpus, run)
                else:
                    r = rb.one_run(args, workload, config, count, run)
                results.append(r)
                rb.log("  %-16s %-5s round %d: %9.0f msg/s  %6.2f CPU us/msg  %6.1f switches/1000  outside workers %4.0f%%  "
                       "workers %3.0f%% (busiest %3.0f%%)"
                       % (workload, rb.config_label(config), run, r["rate"], r["cpu_s_per_m"], r["switches_per_k"],
                          r["outside_share"] * 100, r["worker_share"] * 100, r["busiest_worker_share"] * 100))
    seconds = time.monotonic() - started

    rows = []
    for workload in workloads:
        seq = {r["run"]: r for r in results if r["workload"] == workload and r["config"] == "seq"}
        limit = {r["run"]: r for r in results if r["workload"] == workload and r["config"] == LIMIT}
        for config in configs:
            label = rb.config_label(config)
            rs = [r for r in results if r["workload"] == workload and r["config"] == label]
            med = lambda f: statistics.median(f(r) for r in rs)  # noqa: E731
            rows.append(dict(workload=workload, config=label, rate=med(lambda r: r["rate"]),
                             speedup=med(lambda r: r["rate"] / seq[r["run"]]["rate"]),
                             of_limit=med(lambda r: r["rate"] / limit[r["run"]]["rate"]),
                             cpu=med(lambda r: r["cpu_s_per_m"]),
                             cpu_ratio=med(lambda r: r["cpu_s_per_m"] / seq[r["run"]]["cpu_s_per_m"]),
                             switches=med(lambda r: r["switches_per_k"]), outside=med(lambda r: r["outside_share"]),
                             outside_us=med(lambda r: r["outside_share"] / r["rate"] * 1e6),
                             workers=med(lambda r: r["worker_share"]),
                             busiest=med(lambda r: r["busiest_worker_share"])))
    write(args.outdir, info, cpus, count, rounds, seconds, results, rows, workloads, configs)


def write(outdir, info, cpus, count, rounds, seconds, results, rows, workloads, configs):
    with open(os.path.join(outdir, "scaling.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["workload", "config", "round", "messages", "msg_per_s", "cpu_us_per_msg", "switches_per_1000",
                    "outside_workers_share", "worker_share_mean", "worker_share_busiest"])
        for r in results:
            w.writerow([r["workload"], r["config"], r["run"], r["messages"], "%.0f" % r["rate"],
                        "%.3f" % r["cpu_s_per_m"], "%.2f" % r["switches_per_k"], "%.3f" % r["outside_share"],
                        "%.3f" % r["worker_share"], "%.3f" % r["busiest_worker_share"]])
    md = ["# parallelize() scaling run", "",
          "%d CPUs (%s), kernel %s, %s; %d messages per run (and per daemon of the limit run), %d rounds, "
          "%.0f s in all. `limit`: %d independent sequential daemons fed at once. Speed-up and CPU ratio: over "
          "the sequential run of the same round; of limit: over the limit run of the same round (medians). "
          "Outside the workers: the cores' worth used by every other thread (the source's reading, syslog header "
          "parsing and message allocation, on whichever I/O thread runs the connection's job; the destination's "
          "writer; the main thread), and its CPU per message; workers: the mean (busiest) worker's share of a core."
          % (cpus, info["cpu"], info["kernel"], info["syslog_ng"], count, rounds, seconds, cpus), "",
          "| workload | config | msg/s | speed-up | of limit | CPU µs/msg | CPU vs seq | switches/1000 "
          "| outside the workers | workers (busiest) |", "|---|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for r in rows:
        threads = "%.0f%% (%.0f%%)" % (r["workers"] * 100, r["busiest"] * 100) if r["workers"] == r["workers"] \
            and r["workers"] > 0 else ""
        outside = "%.2f cores, %.2f µs/msg" % (r["outside"], r["outside_us"]) if r["outside"] == r["outside"] else ""
        md.append("| %s | %s | %.0f | %.2f× | %.2f | %.2f | %.2f× | %s | %s | %s |" % (
            r["workload"], r["config"], r["rate"], r["speedup"], r["of_limit"], r["cpu"], r["cpu_ratio"],
            "%.1f" % r["switches"] if r["switches"] == r["switches"] else "", outside, threads))
    md += ["", "The ceiling of one connection: what stays outside the workers runs on one connection's job and "
           "one writer, so one connection goes no faster than 10^6 / (those µs per message) msg/s; with "
           "`flags(no-parse)` on the source and `syslog-parser()` after the element (heavy-no-parse), the header "
           "parsing moves to the workers too."]
    for r in rows:
        if r["config"] not in ("seq", LIMIT) and r["outside_us"] > 0:
            md.append("- %s %s: %.2f µs per message outside the workers, a ceiling near %.0f msg/s"
                      % (r["workload"], r["config"], r["outside_us"], 1e6 / r["outside_us"]))
    png = chart(outdir, rows, workloads, configs)
    if png:
        md += ["", "![scaling](scaling.png)"]
    with open(os.path.join(outdir, "scaling.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    rb.log("\n".join(md))


def chart(outdir, rows, workloads, configs):
    workers = [c for c in configs if isinstance(c, int)]
    data = os.path.join(outdir, "scaling.dat")
    with open(data, "w") as f:
        f.write("# workers " + " ".join(workloads) + " (speed-up over sequential)\n")
        for n in [0] + workers:
            label = "seq" if n == 0 else "w%d" % n
            vals = [next(r["speedup"] for r in rows if r["workload"] == w and r["config"] == label) for w in workloads]
            f.write("%d %s\n" % (n, " ".join("%.3f" % v for v in vals)))
    limits = {w: next(r["rate"] / next(s["rate"] for s in rows if s["workload"] == w and s["config"] == "seq")
                      for r in rows if r["workload"] == w and r["config"] == LIMIT) for w in workloads}
    png = os.path.join(outdir, "scaling.png")
    plots = ["'%s' using 1:%d with linespoints lw 2 title '%s'" % (data, 2 + i, w) for i, w in enumerate(workloads)]
    plots += ["%.3f with lines dt 2 title '%s: limit (N sequential daemons)'" % (limits[w], w) for w in workloads]
    script = """set terminal pngcairo size 900,560 noenhanced
set output '%s'
set title 'parallelize(): speed-up over the sequential daemon, one connection'
set xlabel 'workers (0 = sequential)'
set ylabel 'speed-up'
set grid
set key outside bottom center horizontal
plot %s
""" % (png, ", ".join(plots))
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        rb.log("gnuplot failed (%s): no chart" % e)
        return None
    return png


if __name__ == "__main__":
    main()
