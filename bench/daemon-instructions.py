#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The daemon's instructions per message under callgrind: a CPU figure that moves by under 1%
between sessions on a shared machine, where msg/s and CPU seconds spread by 10-50% between runs.

    daemon-instructions.py OUTDIR MODULE_DIR SEND_FILE [MESSAGES]

For each workload (default: heavy and keyed, each with and without in-order(), workers(2)) the
stock daemon runs under valgrind --tool=callgrind, counters zeroed once it listens, MESSAGES
messages are sent and written, the counters dumped: instructions / MESSAGES over all threads.
Writes OUTDIR/daemon-instructions.md.  BENCH_INSTR_WORKLOADS narrows the workloads."""
import glob
import importlib.util
import os
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("run_bench", os.path.join(here, "run-bench.py"))
rb = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rb)


def instructions(callgrind_files):
    total = 0
    for path in callgrind_files:
        with open(path) as f:
            for line in f:
                if line.startswith("summary:") or line.startswith("totals:"):
                    total += int(line.split()[1])
                    break
    return total


def one(outdir, module_dir, send_file, workload, workers, messages):
    conf, kind, source_opts, key, _, _ = rb.WORKLOADS[workload]
    load = rb.load_file(os.path.dirname(here), outdir, kind, messages)
    label = "%s-%s" % (workload, rb.config_label(workers))
    rundir = os.path.join(outdir, "instr", label)
    os.makedirs(rundir, exist_ok=True)
    for old in glob.glob(os.path.join(rundir, "callgrind.out*")):
        os.unlink(old)
    out = os.path.join(rundir, "out.log")
    if os.path.exists(out):
        os.unlink(out)
    port = rb.free_port()
    in_order = workload.endswith("-in-order") and workers is not None
    daemon = rb.Daemon(rundir, rb.render_config(os.path.dirname(here), conf, port, out, source_opts,
                                                rb.parallelize_statement(workers, key), in_order), module_dir)
    cg = os.path.join(rundir, "callgrind.out")
    wrapper = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + cg + ".%p", "--dump-line=no"]
    daemon.start(port, wrapper=wrapper)
    try:
        pid = daemon.proc.pid
        time.sleep(2)
        subprocess.run(["callgrind_control", "-z", str(pid)], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([send_file, str(port), load], check=True, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 1800
        while rb.written(daemon.control) < messages:
            if daemon.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("%s: %d of %d written\n%s" % (label, rb.written(daemon.control), messages,
                                                                 daemon.output()))
            time.sleep(0.5)
        before = set(glob.glob(cg + ".*"))
        subprocess.run(["callgrind_control", "-d", str(pid)], check=True, stdout=subprocess.DEVNULL)
        dumps = sorted(set(glob.glob(cg + ".*")) - before)
    finally:
        daemon.stop()
    ok, _, why = rb.check_exactly_once(out, messages)
    if not ok:
        raise RuntimeError("%s: exactly-once check failed: %s" % (label, why))
    return instructions(dumps) / messages


def main():
    outdir, module_dir, send_file = (os.path.abspath(a) for a in sys.argv[1:4])
    messages = int(sys.argv[4]) if len(sys.argv) > 4 else 20000
    workloads = os.environ.get("BENCH_INSTR_WORKLOADS", "heavy,heavy-in-order,keyed,keyed-in-order").split(",")
    rows = []
    for workload in workloads:
        ir = one(outdir, module_dir, send_file, workload, 2, messages)
        rb.log("  %s w2: %.0f instructions per message" % (workload, ir))
        rows.append((workload, ir))
    md = ["", "## The daemon's instructions per message (callgrind, all threads, workers(2), %d messages)" % messages,
          "", "| workload | instructions / msg | vs the same without in-order() |", "|---|---:|---:|"]
    base = {}
    for workload, ir in rows:
        plain = workload[:-len("-in-order")] if workload.endswith("-in-order") else None
        if plain is None:
            base[workload] = ir
        versus = "%+.2f%%" % ((ir / base[plain] - 1) * 100) if plain in base else ""
        md.append("| %s | %.0f | %s |" % (workload, ir, versus))
    text = "\n".join(md) + "\n"
    print(text)
    with open(os.path.join(outdir, "daemon-instructions.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
