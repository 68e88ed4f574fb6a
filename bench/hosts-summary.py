#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The table of bench/hosts.sh: per host and workload, workers(2) and the built-in against the
host's own sequential run of the same round (median over rounds, and the lowest and highest
round), msg/s and CPU µs per message (medians), then each host's busy-reload results.
Reads OUT/HOST/roundN/results.json and OUT/HOST/reload-loss.md; writes OUT/hosts.md.

    hosts-summary.py OUT HOST..."""
import glob
import json
import os
import re
import statistics
import sys


def rounds_of(out, host):
    """every run of the host, with its round; the machine as the first round saw it"""
    runs, machine = [], None
    paths = glob.glob(os.path.join(out, host, "round*", "results.json"))
    for path in sorted(paths, key=lambda p: int(re.search(r"round(\d+)", p).group(1))):
        with open(path) as f:
            data = json.load(f)
        round_no = int(re.search(r"round(\d+)", path).group(1))
        for r in data["runs"]:
            runs.append(dict(r, round=round_no, loadavg=data["machine"]["loadavg"][0]))
        machine = machine or data["machine"]
    return runs, machine


def version(machine):
    m = re.search(r"\(([\d.]+)\)", machine["syslog_ng"])
    return m.group(1) if m else machine["syslog_ng"]


def main():
    out, hosts = sys.argv[1], sys.argv[2:]
    md = ["# The module on every host", "",
          "bench/hosts.sh: each round runs every configuration once per host, the hosts taking turns. "
          "Speed-up: the run's msg/s over the same host's sequential run of the same round; the median over "
          "rounds, then the lowest and highest round. msg/s and CPU µs per message (utime+stime of the daemon "
          "over the run): medians over rounds. Every run checked every message arrived exactly once.", "",
          "| host | syslog-ng | workload | config | rounds | speed-up (min – max) | msg/s | CPU µs / msg |",
          "|---|---|---|---|---:|---|---:|---:|"]
    for host in hosts:
        runs, machine = rounds_of(out, host)
        if not runs:
            md.append("| %s | | | no results | | | | |" % host)
            continue
        for workload in sorted({r["workload"] for r in runs}, key=["heavy", "keyed"].index):
            seq = {r["round"]: r for r in runs if r["workload"] == workload and r["config"] == "seq"}
            for config in ("seq", "w2", "builtin"):
                rs = [r for r in runs if r["workload"] == workload and r["config"] == config]
                if not rs:
                    continue
                ratios = [r["rate"] / seq[r["round"]]["rate"] for r in rs if r["round"] in seq]
                label = {"seq": "sequential", "w2": "workers(2)", "builtin": "built-in parallelize(partitions(2))"}
                md.append("| %s | %s | %s | %s | %d | %s | %.0f | %.1f |" % (
                    host, version(machine), workload, label[config], len(rs),
                    "1.00" if config == "seq" else "%.2f× (%.2f – %.2f)" % (
                        statistics.median(ratios), min(ratios), max(ratios)),
                    statistics.median(r["rate"] for r in rs), statistics.median(r["cpu_s_per_m"] for r in rs)))
    md.append("")
    for host in hosts:
        machine = rounds_of(out, host)[1]
        if machine:
            runs = rounds_of(out, host)[0]
            loads = sorted({(r["round"], r["loadavg"]) for r in runs})
            md.append("- %s: %s; load average (1 min) at the start of each round: %s." % (
                host, machine["syslog_ng"], ", ".join(load for _, load in loads)))
    for host in hosts:
        path = os.path.join(out, host, "reload-loss.md")
        if os.path.exists(path):
            with open(path) as f:
                md += ["", "### Busy reloads, %s" % host, f.read().strip().replace("## Reloads under load (issue 12)", "")]
    with open(os.path.join(out, "hosts.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
