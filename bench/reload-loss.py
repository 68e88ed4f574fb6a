#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Issue 12's reload scenario, measured: 400k keyed messages over one TCP connection with flow
control and 6 reloads while they are in flight, BENCH_RELOAD_RUNS times (default 5), for the
module's element and, where the host has a working built-in (4.3 and later built against ivykis 0.43),
for the host's built-in parallelize(partitions(4)).
Writes reload-loss.md to the output folder; a lossy built-in is reported, not an error."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "functional"))
import syslogng  # noqa: E402


def main():
    outdir = sys.argv[1]
    os.environ.setdefault("PARALLELIZE_MODULE_DIR", sys.argv[2])
    runs = int(os.environ.get("BENCH_RELOAD_RUNS", "5"))
    total = int(os.environ.get("BENCH_RELOAD_MESSAGES", "400000"))
    key = 'partition-key("$HOST")'
    elements = [("ours: %s(workers(4))" % syslogng.HOST.element, "parallelize(workers(4) %s);" % key, False)]
    if syslogng.HOST.builtin_parallelize:
        elements.append(("built-in: parallelize(partitions(4))", "parallelize(partitions(4) %s);" % key, True))
    rows = []
    for name, statement, raw in elements:
        lost = []
        for run in range(runs):
            with tempfile.TemporaryDirectory(prefix="reload-loss-") as work:
                report, seconds, _ = syslogng.busy_reload_run(work, statement, total=total, reloads=6, raw=raw)
            lost.append(report.missing)
            print("%-40s run %d: %d lost, %d duplicated, %d out of order, %.1fs"
                  % (name, run, report.missing, report.duplicates, report.out_of_order, seconds), flush=True)
        rows.append((name, runs, sum(1 for n in lost if n), sum(lost), lost))
    md = ["", "## Reloads under load (issue 12)", "",
          "syslog-ng %s; %d keyed messages (20 hosts) over one TCP connection with flow control, 6 reloads "
          "while messages are in flight; every run checked for lost, duplicated and reordered messages."
          % (syslogng.HOST.version, total), "",
          "| element | runs | runs that lost messages | messages lost in all | lost per run |", "|---|---:|---:|---:|---|"]
    for name, n, lossy, lost_sum, lost in rows:
        md.append("| %s | %d | %d | %d | %s |" % (name, n, lossy, lost_sum, " ".join(str(x) for x in lost)))
    with open(os.path.join(outdir, "reload-loss.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))
    # ours must lose nothing; the built-in's losses are only reported
    return 1 if rows[0][3] else 0


if __name__ == "__main__":
    sys.exit(main())
