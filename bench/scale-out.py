#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Layout 1 of docs/scaling-out.md on this one machine: HAProxy in TCP mode
(docs/examples/scale-out/haproxy.cfg) in front of one or two relays, each a stock
syslog-ng running a workload of bench/run-bench.py (keyed by default: heavy.conf with
partition-key("$HOST")), sequential or with workers(2); fed over 1 and over 2
connections (send-file, one process per connection, each its share of the same load
file: every host's lines on one connection).  So a reader sees what a second relay adds
next to what a second worker adds, on the same cores.

Each run: fresh relays and haproxy, time from the first byte sent until the relays'
file destinations together wrote every message, then an exactly-once check over all of
them.  Configurations interleaved round by round (the start rotates each round); the
speed-up is over "1 relay, sequential" with the same connections in the same round.

Settings (environment):
  BENCH_SCALE_MESSAGES     messages per run (default 200000)
  BENCH_SCALE_RUNS         runs per configuration (default BENCH_RUNS, else 3)
  BENCH_SCALE_CONNECTIONS  comma-separated sender connection counts (default 1,2)
  BENCH_SCALE_WORKLOAD     a workload of run-bench.py (default keyed)
Writes scale-out.md and scale-out.json to the output folder.  haproxy missing: a note, no error.
"""
import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "functional"))
import scaleout  # noqa: E402

# bench/run-bench.py's runner (its daemon, configs, load files and checks), imported, not copied
_spec = importlib.util.spec_from_file_location("run_bench", os.path.join(HERE, "run-bench.py"))
rb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rb)

RELAYS = (1, 2)
ELEMENTS = (None, 2)  # sequential, workers(2)


def label(relays, workers):
    return "%d relay%s, %s" % (relays, "" if relays == 1 else "s", rb.config_label(workers))


def split_load(path, parts):
    """The load file as `parts` files, line i going to part (host of line i) % parts: each host's
    lines stay on one connection, in their order."""
    if parts == 1:
        return [path]
    names = ["%s.part%dof%d" % (path, j, parts) for j in range(parts)]
    if not all(os.path.exists(n) for n in names):
        outs = [open(n + ".tmp", "wb") for n in names]
        with open(path, "rb") as f:
            for i, line in enumerate(f):
                outs[(i % rb.HOSTS) % parts].write(line)
        for out, name in zip(outs, names):
            out.close()
            os.replace(name + ".tmp", name)
    return names


def one_run(args, workload, relays, workers, connections, count, run_index):
    conf, kind, source_opts, key, _, _ = rb.WORKLOADS[workload]
    parts = split_load(rb.load_file(args.srcdir, args.outdir, kind, count), connections)
    rundir = os.path.join(args.outdir, "runs", "scale-out-%s-c%d-r%d-%s-%d"
                          % (workload, connections, relays, rb.config_label(workers), run_index))
    daemons, outs, relay_ports = [], [], []
    proxy = None
    senders = []
    try:
        for r in range(relays):
            port = rb.free_port()
            out = os.path.join(rundir, "out-relay%d.log" % r)
            if os.path.exists(out):
                os.unlink(out)
            d = rb.Daemon(os.path.join(rundir, "relay%d" % r),
                          rb.render_config(args.srcdir, conf, port, out, source_opts,
                                           rb.parallelize_statement(workers, key)),
                          args.module_dir)
            d.start(port)
            daemons.append(d)
            outs.append(out)
            relay_ports.append(port)
        tier = rb.free_port()
        proxy = scaleout.HAProxy(os.path.join(rundir, "haproxy"), scaleout.haproxy_config(tier, relay_ports))
        proxy.start(tier)
        cpu0 = [rb.cpu_seconds(d.proc.pid) for d in daemons] + [rb.cpu_seconds(proxy.proc.pid)]
        firsts = []
        for part in parts:
            s = subprocess.Popen([args.send_file, str(tier), part], stdout=subprocess.PIPE, text=True)
            senders.append(s)
            first = s.stdout.readline()
            if not first.startswith("first_byte_monotonic="):
                raise RuntimeError("send-file failed: %r" % first)
            firsts.append(float(first.split("=")[1]))
        t0 = min(firsts)
        deadline = time.monotonic() + args.timeout
        while True:
            n = sum(rb.written(d.control) for d in daemons)
            if n >= count:
                t1 = time.monotonic()
                break
            for d in daemons:
                if d.proc.poll() is not None:
                    raise RuntimeError("syslog-ng died:\n" + d.output())
            if time.monotonic() > deadline:
                raise RuntimeError("timed out with %d of %d written" % (n, count))
            time.sleep(args.poll)
        cpu1 = [rb.cpu_seconds(d.proc.pid) for d in daemons] + [rb.cpu_seconds(proxy.proc.pid)]
        per_relay = [rb.written(d.control) for d in daemons]
        for s in senders:
            s.communicate(timeout=60)
    finally:
        for s in senders:
            if s.poll() is None:
                s.kill()
                s.wait()
        if proxy:
            proxy.stop()
        for d in daemons:
            d.stop()
    combined = os.path.join(rundir, "out-all.log")
    with open(combined, "wb") as dst:
        for out in outs:
            if not os.path.exists(out):  # a relay that got no connection
                continue
            with open(out, "rb") as src:
                while True:
                    block = src.read(1 << 24)
                    if not block:
                        break
                    dst.write(block)
    ok, in_order, why = rb.check_exactly_once(combined, count)
    if not ok:
        raise RuntimeError("%s: exactly-once check failed: %s" % (rundir, why))
    for path in outs + [combined]:
        if os.path.exists(path):
            os.unlink(path)
    cpu = [b - a for a, b in zip(cpu0, cpu1)]
    return dict(workload=workload, relays=relays, workers=workers or 0, config=label(relays, workers),
                connections=connections, run=run_index, messages=count, seconds=t1 - t0, rate=count / (t1 - t0),
                relay_cpu_us=sum(cpu[:-1]) / count * 1e6, haproxy_cpu_us=cpu[-1] / count * 1e6,
                per_relay=per_relay, in_order=in_order)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--srcdir", required=True)
    parser.add_argument("--module-dir", required=True)
    parser.add_argument("--send-file", required=True)
    parser.add_argument("--outdir", required=True)
    parser.add_argument("--poll", type=float, default=0.02)
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    for name in ("srcdir", "module_dir", "send_file", "outdir"):
        setattr(args, name, os.path.abspath(getattr(args, name)))
    os.makedirs(args.outdir, exist_ok=True)
    md_path = os.path.join(args.outdir, "scale-out.md")
    if scaleout.haproxy_binary() is None:
        with open(md_path, "w") as f:
            f.write("\n## Scaling out (layout 1)\n\nskipped: haproxy is not installed\n")
        print("scale-out: skipped, haproxy is not installed")
        return 0

    count = int(os.environ.get("BENCH_SCALE_MESSAGES", "200000"))
    runs = int(os.environ.get("BENCH_SCALE_RUNS", os.environ.get("BENCH_RUNS", "3")))
    connection_counts = [int(c) for c in os.environ.get("BENCH_SCALE_CONNECTIONS", "1,2").split(",") if c]
    workload = os.environ.get("BENCH_SCALE_WORKLOAD", "keyed")
    if workload not in rb.WORKLOADS:
        sys.exit("unknown workload %r (known: %s)" % (workload, ", ".join(rb.WORKLOADS)))
    info = rb.machine_info()
    print("scale-out: %s, %d messages, %d runs, connections %s; machine: %d CPUs, load %s"
          % (workload, count, runs, connection_counts, info["online"], " ".join(info["loadavg"])), flush=True)
    combos = [(c, r, w) for c in connection_counts for r in RELAYS for w in ELEMENTS]
    results = []
    started = time.monotonic()
    for run in range(runs):
        k = run % len(combos)
        for connections, relays, workers in combos[k:] + combos[:k]:
            r = one_run(args, workload, relays, workers, connections, count, run)
            results.append(r)
            print("  %d connection(s)  %-18s run %d: %9.0f msg/s  relays %6.2f CPU us/msg  haproxy %5.2f  "
                  "per relay %s%s" % (connections, r["config"], run, r["rate"], r["relay_cpu_us"],
                                      r["haproxy_cpu_us"], r["per_relay"],
                                      "" if r["in_order"] else "  (per-host order not kept)"), flush=True)
    info["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    seconds = time.monotonic() - started

    md = ["", "## Scaling out: HAProxy and relays on this machine (layout 1)", "",
          "%s; %d messages (%s) per run, %d runs per configuration, interleaved; HAProxy (TCP mode, "
          "docs/examples/scale-out/haproxy.cfg) in front of 1 or 2 relays, each a stock syslog-ng with this "
          "workload, sequential or workers(2); fed over 1 or 2 connections (send-file; a connection's "
          "messages all go to one relay). Every run checked: every message exactly once. Speed-up: the median "
          "over rounds of the run's msg/s over the same round's \"1 relay, seq\" with the same connections. "
          "CPU: the relays' utime+stime per message, and haproxy's. %d online CPUs; load average %s at the "
          "start, %s at the end; %.0f s in all." % (
              info["syslog_ng"], count, workload, runs, info["online"], " ".join(info["loadavg"]),
              " ".join(info["loadavg_end"]), seconds), "",
          "| connections | relays, element | msg/s median | min | max | speed-up | relays CPU µs / msg "
          "| haproxy CPU µs / msg | messages per relay | per-host order |",
          "|---:|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for connections, relays, workers in combos:
        rs = [r for r in results if (r["connections"], r["relays"], r["workers"]) == (connections, relays, workers or 0)]
        base = {r["run"]: r["rate"] for r in results
                if (r["connections"], r["relays"], r["workers"]) == (connections, 1, 0)}
        rates = [r["rate"] for r in rs]
        ratios = [r["rate"] / base[r["run"]] for r in rs if r["run"] in base]
        # how HAProxy placed the connections, run by run (a relay without a connection writes 0)
        placed = sorted({" / ".join(str(n) for n in r["per_relay"]) for r in rs})
        md.append("| %d | %s | %.0f | %.0f | %.0f | %.2f× | %.2f | %.2f | %s | %s |" % (
            connections, label(relays, workers), statistics.median(rates), min(rates), max(rates),
            statistics.median(ratios), statistics.median(r["relay_cpu_us"] for r in rs),
            statistics.median(r["haproxy_cpu_us"] for r in rs), ", ".join(placed),
            "kept" if all(r["in_order"] for r in rs) else "not kept"))
    with open(md_path, "w") as f:
        f.write("\n".join(md) + "\n")
    with open(os.path.join(args.outdir, "scale-out.json"), "w") as f:
        json.dump(dict(machine=info, runs=results), f, indent=1)
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
