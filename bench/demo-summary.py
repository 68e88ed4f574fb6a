#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""What scripts/demo.sh prints: the stock daemon (glibc malloc) sequential and with
parallelize(workers(N)), then, on lines of their own, the same pair with each opt-in
allocator drop-in's malloc preloaded, from the results.json of bench/run-bench.py.

  demo-summary.py RESULTS_JSON WORKERS [WORKLOAD]   the summary (WORKLOAD: heavy)
  demo-summary.py --bench-allocators                the BENCH_ALLOCATORS the demo runs

Each workers(N) ratio is against the sequential run with the same allocator; an opt-in
allocator's lines also give their ratio to the stock sequential run, named as such."""
import json
import statistics
import sys

STOCK = "glibc"
# the allocators the package ships drop-ins for (allocator/), in the README's order of preference
OPT_IN = (("mimalloc", "libmimalloc2.0"), ("jemalloc", "libjemalloc2"))
DROP_IN_DIR = "/usr/share/syslog-ng-mod-parallelize/allocator/"


def own_ratio(runs, workload, allocator, config):
    """The median over rounds of msg/s at CONFIG over the same allocator's sequential run of that round."""
    def rates(label):
        return {r["run"]: r["rate"] for r in runs
                if r["workload"] == workload and r["allocator"] == allocator and r["config"] == label}
    seq, par = rates("seq"), rates(config)
    ratios = [par[k] / seq[k] for k in par if k in seq]
    return statistics.median(ratios) if ratios else float("nan")


def summary(data, workers, workload="heavy"):
    """The demo's lines, from run-bench.py's results (machine, summary, runs)."""
    rows = {(r["allocator"], r["config"]): r for r in data["summary"] if r["workload"] == workload}
    par_label = "w%d" % workers
    for config in ("seq", par_label):
        if (STOCK, config) not in rows:
            raise SystemExit("demo-summary: no stock (%s) %s row for %s in the results" % (STOCK, config, workload))
    m = data["machine"]
    messages = next(r["messages"] for r in data["runs"] if r["workload"] == workload)
    rounds = rows[(STOCK, "seq")]["runs"]
    element = "parallelize(workers(%d))" % workers
    lines = ["%s on %d CPUs (%s); %s workload, one TCP connection, %d messages, %d run%s each"
             % (m["syslog_ng"], m["online"], m["cpu"], workload, messages, rounds, "" if rounds == 1 else "s")]
    if m["online"] < 2:
        lines.append("This machine has %d CPU: parallelize() needs two or more to speed anything up. "
                     "The figures anyway:" % m["online"])

    def line(label, row, note):
        return "  %-36s %8.0f msg/s  %5.1f CPU us/msg  %s" % (label, row["median"], row["cpu"], note)

    lines.append("The stock daemon (its own malloc, glibc's):")
    lines.append(line("sequential", rows[(STOCK, "seq")], ""))
    lines.append(line(element, rows[(STOCK, par_label)],
                      "%.2fx sequential" % own_ratio(data["runs"], workload, STOCK, par_label)))
    lines.append("Opt-in: another malloc preloaded, as the drop-ins in %s do" % DROP_IN_DIR)
    lines.append("(README, \"Memory allocator (opt-in)\"); each ratio against its own sequential run:")
    for name, package in OPT_IN:
        if (name, "seq") not in rows or (name, par_label) not in rows:
            lines.append("  %-36s not run: package %s not installed" % (name, package))
            continue
        seq, par = rows[(name, "seq")], rows[(name, par_label)]
        lines.append(line("%s: sequential" % name, seq, "(%.2fx the stock sequential)" % seq["speedup"]))
        lines.append(line("%s: %s" % (name, element), par,
                          "%.2fx %s sequential (%.2fx the stock sequential)"
                          % (own_ratio(data["runs"], workload, name, par_label), name, par["speedup"])))
    lines.append("every message checked: delivered exactly once")
    return [x.rstrip() for x in lines]


def main():
    if sys.argv[1:] == ["--bench-allocators"]:
        print(",".join([STOCK] + [name for name, _ in OPT_IN]))
        return
    if len(sys.argv) not in (3, 4):
        raise SystemExit(__doc__)
    with open(sys.argv[1]) as f:
        data = json.load(f)
    print("\n".join(summary(data, int(sys.argv[2]), *sys.argv[3:])))


if __name__ == "__main__":
    main()
