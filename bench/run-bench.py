#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The parallelize() benchmark: throughput, CPU cost, memory and latency of
the stock syslog-ng daemon (3.38 or 4.8) with and without parallelize().
On syslog-ng 4.3 and later, where the module's element is worker-pool(), it also runs the
host's built-in parallelize(partitions(N)) with N = BENCH_MAX_WORKERS ("builtin"), where that
built-in works (the host was built against ivykis 0.43 or later; see HOST.builtin_parallelize).

For each workload it runs the sequential configuration (no parallelize()) and
workers(1) .. workers(max), interleaved round by round, BENCH_RUNS times each.
A run starts a fresh daemon, streams a pre-generated file over one TCP
connection (send-file), times from the first byte sent until the file
destination's `written` counter reaches the message count, then checks that
every message arrived exactly once.

Settings come from the environment (make bench passes them on):
  BENCH_RUNS             runs per configuration (default 3)
  BENCH_MESSAGES         messages per run for every workload (default: per workload)
  BENCH_WORKLOADS        comma-separated subset of: %(workloads)s
  BENCH_MAX_WORKERS      highest workers(N) (default: online CPUs)
  BENCH_LATENCY_MESSAGES messages of the 100 msg/s latency runs (default 1000; 0 skips)
  BENCH_LATENCY_RATE     messages per second of the latency runs (default 100)
  BENCH_BATCH_SIZE       batch-size() of every parallelize() (default: the module's default)
  BENCH_ALLOCATORS       comma-separated malloc implementations, each run with LD_PRELOAD
                         (default %(allocators)s; glibc is the stock one, always
                         run, with no LD_PRELOAD and no GLIBC_TUNABLES; NAME=/path/lib.so adds
                         another; NAME=GLIBC_TUNABLES=glibc.malloc.X=Y[:...] adds glibc with those
                         malloc tunables; missing ones are skipped)
  BENCH_LIMIT_WORKLOADS  workloads that also run "limit" (default %(limit_workloads)s): BENCH_MAX_WORKERS
                         independent sequential daemons fed at once, each its own connection and copy
                         of the load, in every round: what the machine can do with that many cores'
                         worth of the workload at that moment, the bar for workers(max) of that round
  BENCH_ALLOCATOR_WORKLOADS  workloads that get the allocator axis (default %(allocator_workloads)s):
                         each allocator other than glibc runs seq and workers(max) there
  BENCH_DAEMON_CPUS      pin the daemon (every thread) to these CPUs (a taskset list, e.g. 0);
  BENCH_SENDER_CPUS      pin the sender: with the daemon on one CPU and the sender on another,
                         no message crosses cores inside the daemon, which measures what the
                         crossing costs (docs/parallelize.md, "Where the CPU goes"); unset: no pinning
"""
import argparse
import glob
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import time

SYSLOG_NG = os.environ.get("SYSLOG_NG", "/usr/sbin/syslog-ng")
# the host's dialect (@version, stats options, the element's name): the functional tests' harness
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "functional"))
from syslogng import HOST  # noqa: E402
STOCK_MODULE_DIR = HOST.stock_module_dir
BUILTIN = "builtin"
LIMIT = "limit"  # N independent sequential daemons fed at once: the machine's own limit for N workers
HOSTS = 200
TUNED_SOURCE = "log-iw-size(1000000) log-fetch-limit(10000)"
DEFAULT_SOURCE = ""  # syslog-ng's own defaults: log-iw-size(100) log-fetch-limit(10)

# name: (config, load kind, source options, partition key, default messages, description)
WORKLOADS = {
    "cheap": ("cheap.conf", "plain", TUNED_SOURCE, None, 1000000,
              "tcp -> file, nothing else: the cost of the hand-off"),
    "heavy": ("heavy.conf", "json", TUNED_SOURCE, None, 200000,
              "JSON (15 fields) -> json/kv/regexp parsers, rewrites, format-json; round-robin"),
    "heavy-in-order": ("heavy.conf", "json", TUNED_SOURCE, None, 200000,
                       "heavy, with in-order() before the destination: the original order restored"),
    "keyed": ("heavy.conf", "json", TUNED_SOURCE, '"$HOST"', 200000,
              "heavy, partition-key(\"$HOST\") over %d hosts" % HOSTS),
    "keyed-in-order": ("heavy.conf", "json", TUNED_SOURCE, '"$HOST"', 200000,
                       "keyed, with in-order() before the destination: the original order restored"),
    "heavy-no-parse": ("heavy.conf", "json", TUNED_SOURCE + " flags(no-parse)", None, 200000,
                       "heavy, the syslog header parsed by syslog-parser() after the element (flags(no-parse) "
                       "on the source): the source's thread only reads and splits lines"),
    "heavy-default-window": ("heavy.conf", "json", DEFAULT_SOURCE, None, 50000,
                             "heavy with syslog-ng's default source window (no log-iw-size/log-fetch-limit)"),
    "heavy-window-10k": ("heavy.conf", "json", "log-iw-size(100000) log-fetch-limit(1000)", None, 200000,
                         "heavy with a 10,000-message window per connection (log-iw-size(100000), 10 connections)"),
    "cheap-default-window": ("cheap.conf", "plain", DEFAULT_SOURCE, None, 200000,
                             "cheap with syslog-ng's default source window"),
}
DEFAULT_WORKLOADS = "cheap,heavy,heavy-in-order,keyed,keyed-in-order,heavy-default-window"

# malloc implementations from Debian's archive: name -> (package, soname); run with LD_PRELOAD
ALLOCATORS = {
    "jemalloc": ("libjemalloc2", "libjemalloc.so.2"),
    "mimalloc": ("libmimalloc2.0", "libmimalloc.so.2"),
    "tcmalloc": ("libtcmalloc-minimal4", "libtcmalloc_minimal.so.4"),
}
DEFAULT_ALLOCATORS = "glibc,jemalloc,mimalloc,tcmalloc"
DEFAULT_ALLOCATOR_WORKLOADS = "cheap,heavy,keyed"
DEFAULT_LIMIT_WORKLOADS = "heavy,keyed"
STOCK = "glibc"
# BENCH_ALLOCATORS entry NAME=GLIBC_TUNABLES=glibc.malloc.X=Y:...: the stock malloc with these tunables
TUNABLES = "GLIBC_TUNABLES="

ID_RE = re.compile(rb"id-host(\d+)-(\d+)")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(*args):
    print(*args, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def ctl_stats(control):
    """syslog-ng-ctl stats, straight over the control socket (no process per poll)."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(control)
        s.sendall(b"STATS\n")
        buf = b""
        while not buf.endswith(b"\n.\n"):
            data = s.recv(1 << 16)
            if not data:
                break
            buf += data
    return buf.decode(errors="replace")


def written(control):
    total = 0
    for line in ctl_stats(control).splitlines():
        parts = line.split(";")
        if len(parts) == 6 and parts[0] == "dst.file" and parts[4] == "written":
            total += int(parts[5])
    return total


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def task_times(pid):
    """{tid: (name, CPU seconds, context switches)} of every thread of pid now"""
    tasks = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        base = "/proc/%d/task/%s/" % (pid, tid)
        try:
            with open(base + "stat") as f:
                name, rest = f.read().split(" (", 1)[1].rsplit(")", 1)
            fields = rest.split()
            with open(base + "status") as f:
                # voluntary_ctxt_switches and nonvoluntary_ctxt_switches
                switches = sum(int(line.split()[1]) for line in f if "ctxt_switches:" in line)
        except (OSError, ValueError, IndexError):
            continue
        tasks[int(tid)] = (name, (int(fields[11]) + int(fields[12])) / CLK_TCK, switches)
    return tasks


def thread_figures(pid, before, after, seconds):
    """From two task_times() readings: the daemon's context switches, the share of a core used by all its
    threads but the workers (the source's reading, syslog header parsing and message allocation, which run
    on whichever I/O thread picks up the connection's job, plus the destination's writer and the main
    thread: for one connection, the part that does not spread over the workers), and by the workers (mean
    and busiest).  A thread that ended in between is not counted: syslog-ng's threads live as long as the
    run here."""
    switches = sum(sw - before.get(tid, ("", 0, 0))[2] for tid, (_, _, sw) in after.items())
    cpu = {tid: (name, c - before.get(tid, ("", 0, 0))[1]) for tid, (name, c, _) in after.items()}
    workers = [c for name, c in cpu.values() if name.startswith("parallelize/")]
    outside = sum(c for name, c in cpu.values() if not name.startswith("parallelize/"))
    return dict(switches=switches, outside_share=outside / seconds,
                worker_share=(sum(workers) / len(workers) / seconds) if workers else 0.0,
                busiest_worker_share=max(workers, default=0) / seconds)


def vm_hwm_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def allocator_path(name):
    """The shared object of an allocator from Debian's archive, or None if its package is not installed."""
    import sysconfig
    soname = ALLOCATORS[name][1]
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    for d in ("/usr/lib/" + multiarch, "/usr/lib64", "/usr/lib"):
        path = os.path.join(d, soname)
        if os.path.exists(path):
            return path
    return None


def check_tunables(name, value):
    """glibc ignores a tunable it does not know, silently: refuse one here instead (as far as this
    machine's ld.so can list them)."""
    settings = [x for x in value.split(":") if x]
    if not settings or any("=" not in x or not x.partition("=")[2] for x in settings):
        sys.exit("allocator %s: GLIBC_TUNABLES=%r is not NAME=VALUE[:NAME=VALUE...]" % (name, value))
    for ldso in ["/lib64/ld-linux-x86-64.so.2"] + sorted(glob.glob("/lib/*/ld-linux*.so.*")):
        try:
            listing = subprocess.run([ldso, "--list-tunables"], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, timeout=30)
        except OSError:
            continue
        known = {line.split(":")[0] for line in listing.stdout.splitlines()}
        if listing.returncode == 0 and known:
            unknown = [x.partition("=")[0] for x in settings if x.partition("=")[0] not in known]
            if unknown:
                sys.exit("allocator %s: glibc has no tunable %s (%s --list-tunables)"
                         % (name, ", ".join(unknown), ldso))
            return


def parse_allocators(spec):
    """[(name, path or None for glibc)] from BENCH_ALLOCATORS; glibc first, always."""
    result = [(STOCK, None)]
    for item in [x.strip() for x in spec.split(",") if x.strip()]:
        name, _, path = item.partition("=")
        if name == STOCK or any(name == n for n, _ in result):
            continue
        if path.startswith(TUNABLES):
            # glibc itself with malloc tunables (glibc reads them at startup): no preload
            check_tunables(name, path[len(TUNABLES):])
            result.append((name, path))
            continue
        if not path:
            if name not in ALLOCATORS:
                sys.exit("unknown allocator %r (known: %s, %s; or NAME=/path/lib.so)"
                         % (name, STOCK, ", ".join(ALLOCATORS)))
            path = allocator_path(name)
            if not path:
                log("allocator %s skipped: its package %s is not installed" % (name, ALLOCATORS[name][0]))
                continue
        elif not os.path.exists(path):
            sys.exit("allocator %s: %s does not exist" % (name, path))
        result.append((name, path))
    return result


def is_tunables(spec):
    """An allocator axis entry that is glibc with GLIBC_TUNABLES set, not a library to preload."""
    return bool(spec) and spec.startswith(TUNABLES)


def daemon_tunables(pid):
    """GLIBC_TUNABLES in the process's environment, or None."""
    with open("/proc/%d/environ" % pid, "rb") as f:
        for entry in f.read().split(b"\0"):
            if entry.startswith(TUNABLES.encode()):
                return entry[len(TUNABLES):].decode()
    return None


def mapped_objects(pid):
    with open("/proc/%d/maps" % pid) as f:
        return {line.split()[-1] for line in f if "/" in line}


class Daemon:
    def __init__(self, rundir, config_text, module_dir):
        self.rundir = rundir
        os.makedirs(rundir, exist_ok=True)
        self.config = os.path.join(rundir, "syslog-ng.conf")
        self.control = os.path.join(rundir, "syslog-ng.ctl")
        self.stderr = os.path.join(rundir, "syslog-ng.stderr")
        with open(self.config, "w") as f:
            f.write(config_text)
        self.module_path = module_dir + ":" + STOCK_MODULE_DIR
        self.proc = None

    def start(self, port, wrapper=(), preload=None):
        # a control socket left by an earlier daemon of this folder would answer "refused" until the new
        # one made its own: start() waits for the new one
        if os.path.exists(self.control):
            os.unlink(self.control)
        # the stock allocator: no LD_PRELOAD and no malloc tunables, whatever the caller's environment holds
        env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "GLIBC_TUNABLES")}
        if is_tunables(preload):
            env["GLIBC_TUNABLES"] = preload[len(TUNABLES):]
        elif preload:
            env["LD_PRELOAD"] = preload
        with open(self.stderr, "w") as err:
            self.proc = subprocess.Popen(
                list(wrapper) + [SYSLOG_NG, "-F", "-e", "--no-caps", "-f", self.config, "--module-path", self.module_path,
                                 "-c", self.control, "-R", os.path.join(self.rundir, "syslog-ng.persist"),
                                 "-p", os.path.join(self.rundir, "syslog-ng.pid")],
                stdout=err, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("syslog-ng exited at startup:\n" + self.output())
            if os.path.exists(self.control) and port_open(port):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("syslog-ng did not come up:\n" + self.output())

    def output(self):
        with open(self.stderr, errors="replace") as f:
            return f.read()[-3000:]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def render_config(srcdir, name, port, out, source_opts, parallelize, in_order=False):
    with open(os.path.join(srcdir, "bench", name)) as f:
        text = f.read()
    # the statement goes in after the translation: the built-in's parallelize() stays one
    text = HOST.config(text)
    syslog_parser = "parser { syslog-parser(); };" if "no-parse" in source_opts else ""
    for key, value in (("@PORT@", str(port)), ("@OUT@", out), ("@SOURCE_OPTS@", source_opts),
                       ("@PARALLELIZE@", parallelize), ("@SYSLOG_PARSER@", syslog_parser),
                       ("@IN_ORDER@", "in-order();" if in_order else "")):
        text = text.replace(key, value)
    return text


def config_label(workers):
    return "seq" if workers is None else BUILTIN if workers == BUILTIN else LIMIT if workers == LIMIT \
        else "w%d" % workers


def parallelize_statement(workers, key, builtin_partitions=0):
    if workers is None:
        return "# sequential: no parallelize()"
    if workers == BUILTIN:
        return "parallelize(partitions(%d)%s);" % (builtin_partitions, " partition-key(%s)" % key if key else "")
    batch = os.environ.get("BENCH_BATCH_SIZE")
    return "%s(workers(%d)%s%s);" % (HOST.element, workers, " partition-key(%s)" % key if key else "",
                                     " batch-size(%s)" % batch if batch else "")


def load_file(srcdir, outdir, kind, count):
    path = os.path.join(outdir, "loads", "%s-%d-%dhosts.log" % (kind, count, HOSTS))
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        log("  generating %s" % path)
        subprocess.run([sys.executable, os.path.join(srcdir, "bench", "gen-load.py"), kind, str(count), str(HOSTS),
                        path], check=True)
    return path


def check_exactly_once(path, count):
    """(ok, per-host order kept, message): every id-hostH-S of the load file once."""
    per_host = {}
    lines = 0
    with open(path, "rb") as f:
        rest = b""
        for chunk in iter(lambda: f.read(1 << 24), b""):
            # whole lines only, so that no id is cut in two
            chunk, cut, tail = (rest + chunk).rpartition(b"\n")
            chunk += cut
            rest = tail
            lines += chunk.count(b"\n")
            for h, s in ID_RE.findall(chunk):
                per_host.setdefault(int(h), []).append(int(s))
        if rest:
            found_partial = ID_RE.findall(rest)
            for h, s in found_partial:
                per_host.setdefault(int(h), []).append(int(s))
    found = sum(len(v) for v in per_host.values())
    if lines != count or found != count:
        return False, False, "%d lines, %d ids, expected %d" % (lines, found, count)
    in_order = True
    for h in range(HOSTS):
        seqs = per_host.get(h, [])
        expected = count // HOSTS + (1 if h < count % HOSTS else 0)
        if seqs != sorted(seqs):
            in_order = False
            seqs = sorted(seqs)
        if seqs != list(range(expected)):
            return False, False, "host%d: lost or duplicated messages" % h
    return True, in_order, "ok"


def one_run(args, workload, workers, count, run_index, allocator=(STOCK, None)):
    conf, kind, source_opts, key, _, _ = WORKLOADS[workload]
    load = load_file(args.srcdir, args.outdir, kind, count)
    label = config_label(workers)
    alloc_name, alloc_path = allocator
    rundir = os.path.join(args.outdir, "runs", "%s-%s-%s-%d" % (workload, alloc_name, label, run_index))
    out = os.path.join(rundir, "out.log")
    port = free_port()
    in_order = workload.endswith("-in-order") and isinstance(workers, int)
    daemon = Daemon(rundir, render_config(args.srcdir, conf, port, out, source_opts,
                                          parallelize_statement(workers, key, args.max_workers), in_order),
                    args.module_dir)
    if os.path.exists(out):
        os.unlink(out)
    daemon.start(port, wrapper=pinned("BENCH_DAEMON_CPUS"), preload=alloc_path)
    sender = perf = None
    try:
        pid = daemon.proc.pid
        # the preload took: the allocator is mapped (and no other one is, for glibc)
        maps = mapped_objects(pid)
        if alloc_path and not is_tunables(alloc_path) and os.path.realpath(alloc_path) not in maps:
            raise RuntimeError("%s: %s is not mapped into syslog-ng" % (alloc_name, alloc_path))
        # the malloc tunables the daemon runs with, from its own environment: the entry's, or none.  glibc
        # (2.36) parses the variable in place and leaves it cut at its first ':' there, so the settings
        # the daemon shows must be the first of the entry's
        tunables = daemon_tunables(pid)
        wanted = alloc_path[len(TUNABLES):] if is_tunables(alloc_path) else None
        if (tunables is None) != (wanted is None) or \
                (wanted and wanted.split(":")[:len(tunables.split(":"))] != tunables.split(":")):
            raise RuntimeError("%s run, but syslog-ng has GLIBC_TUNABLES=%s" % (alloc_name, tunables))
        foreign = [m for m in maps if any(ALLOCATORS[a][1].split(".so")[0] in m for a in ALLOCATORS
                                          if a != alloc_name)]
        if foreign:
            raise RuntimeError("%s run, but %s mapped into syslog-ng" % (alloc_name, foreign))
        if args.perf:
            perf_data = os.path.join(args.outdir, "perf-%s-%s-%s.data" % (workload, alloc_name, label))
            perf = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", "999", "-g", "-p", str(pid),
                                     "-o", perf_data], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
        cpu0 = cpu_seconds(pid)
        tasks0 = task_times(pid)
        sender = subprocess.Popen(pinned("BENCH_SENDER_CPUS") + [args.send_file, str(port), load],
                                  stdout=subprocess.PIPE, text=True)
        first = sender.stdout.readline()
        if not first.startswith("first_byte_monotonic="):
            raise RuntimeError("send-file failed: %r" % first)
        t0 = float(first.split("=")[1])
        deadline = time.monotonic() + args.timeout
        while True:
            n = written(daemon.control)
            if n >= count:
                t1 = time.monotonic()
                break
            if daemon.proc.poll() is not None:
                raise RuntimeError("syslog-ng died:\n" + daemon.output())
            if time.monotonic() > deadline:
                raise RuntimeError("timed out with %d of %d written" % (n, count))
            time.sleep(args.poll)
        cpu1 = cpu_seconds(pid)
        tasks1 = task_times(pid)
        hwm = vm_hwm_kib(pid)
        sender.communicate(timeout=60)
        if perf:
            perf.send_signal(signal.SIGINT)
            perf.wait(timeout=60)
            perf = None
    finally:
        if perf and perf.poll() is None:
            perf.kill()
            perf.wait()
        if sender and sender.poll() is None:
            sender.kill()
            sender.wait()
        daemon.stop()
    ok, in_order, why = check_exactly_once(out, count)
    if not ok:
        raise RuntimeError("%s %s run %d: exactly-once check failed: %s" % (workload, label, run_index, why))
    os.unlink(out)
    elapsed = t1 - t0
    threads = thread_figures(pid, tasks0, tasks1, elapsed)
    return dict(workload=workload, allocator=alloc_name, config=label,
                workers=args.max_workers if workers == BUILTIN else workers or 0, run=run_index, messages=count,
                seconds=elapsed, rate=count / elapsed, cpu_s_per_m=(cpu1 - cpu0) / count * 1e6,
                switches_per_k=threads["switches"] / count * 1000, outside_share=threads["outside_share"],
                worker_share=threads["worker_share"], busiest_worker_share=threads["busiest_worker_share"],
                vm_hwm_mib=hwm / 1024.0, in_order=in_order, glibc_tunables=wanted)


def limit_run(args, workload, count, daemons_n, run_index):
    """daemons_n independent sequential daemons, each fed the whole load over its own connection, all at
    once: the combined rate from the first byte sent to the last message written.  Nothing is handed
    between threads of one daemon, so this is what the machine does with daemons_n cores' worth of this
    workload at this moment: the limit that workers(daemons_n) can reach, measured in the same round."""
    conf, kind, source_opts, _, _, _ = WORKLOADS[workload]
    load = load_file(args.srcdir, args.outdir, kind, count)
    daemons, outs, ports = [], [], []
    try:
        for i in range(daemons_n):
            rundir = os.path.join(args.outdir, "runs", "%s-%s-%s-%d-%d" % (workload, STOCK, LIMIT, run_index, i))
            out = os.path.join(rundir, "out.log")
            if os.path.exists(out):
                os.unlink(out)
            port = free_port()
            d = Daemon(rundir, render_config(args.srcdir, conf, port, out, source_opts, parallelize_statement(None, None)),
                       args.module_dir)
            daemons.append(d)
            d.start(port, wrapper=pinned("BENCH_DAEMON_CPUS"))
            outs.append(out)
            ports.append(port)
        cpu0 = sum(cpu_seconds(d.proc.pid) for d in daemons)
        tasks0 = [task_times(d.proc.pid) for d in daemons]
        senders = [subprocess.Popen(pinned("BENCH_SENDER_CPUS") + [args.send_file, str(p), load],
                                    stdout=subprocess.PIPE, text=True) for p in ports]
        firsts = [s.stdout.readline() for s in senders]
        bad = [f for f in firsts if not f.startswith("first_byte_monotonic=")]
        if bad:
            raise RuntimeError("send-file failed: %r" % bad[0])
        t0 = min(float(f.split("=")[1]) for f in firsts)
        deadline = time.monotonic() + args.timeout
        pending = list(daemons)
        while pending:
            for d in pending:
                if d.proc.poll() is not None:
                    raise RuntimeError("syslog-ng died:\n" + d.output())
            pending = [d for d in pending if written(d.control) < count]
            if time.monotonic() > deadline:
                raise RuntimeError("%s limit run %d timed out" % (workload, run_index))
            if pending:
                time.sleep(args.poll)
        t1 = time.monotonic()
        cpu1 = sum(cpu_seconds(d.proc.pid) for d in daemons)
        figures = [thread_figures(d.proc.pid, before, task_times(d.proc.pid), t1 - t0)
                   for d, before in zip(daemons, tasks0)]
        hwm = sum(vm_hwm_kib(d.proc.pid) for d in daemons)
        for s in senders:
            s.communicate(timeout=60)
    finally:
        for d in daemons:
            d.stop()
    in_order = True
    for out in outs:
        ok, kept, why = check_exactly_once(out, count)
        if not ok:
            raise RuntimeError("%s limit run %d: exactly-once check failed: %s" % (workload, run_index, why))
        in_order = in_order and kept
        os.unlink(out)
    total = count * daemons_n
    return dict(workload=workload, allocator=STOCK, config=LIMIT, workers=0, daemons=daemons_n, run=run_index,
                messages=total, seconds=t1 - t0, rate=total / (t1 - t0), cpu_s_per_m=(cpu1 - cpu0) / total * 1e6,
                switches_per_k=sum(f["switches"] for f in figures) / total * 1000,
                outside_share=float("nan"), worker_share=float("nan"), busiest_worker_share=float("nan"),
                vm_hwm_mib=hwm / 1024.0, in_order=in_order)


def pinned(variable):
    """The taskset prefix that pins a command to the CPUs in the environment variable, or none."""
    cpus = os.environ.get(variable, "").strip()
    return ["taskset", "-c", cpus] if cpus else []


def core_round_trip(args):
    """The machine's cross-core round trip now (bench/core-latency, two samples of 20,000 round trips,
    a few ms): on a virtual machine it moves between runs.  [] where the program is missing."""
    program = os.path.join(os.path.dirname(args.send_file), "core-latency")
    if not os.access(program, os.X_OK):
        return []
    out = subprocess.run([program, "20000", "2"], stdout=subprocess.PIPE, text=True, timeout=60).stdout
    return [float(line.split("=", 1)[1]) for line in out.splitlines() if line.startswith("round_trip_ns=")
            and line.split("=", 1)[1] != "nan"]


def core_round_trip_line(results):
    samples = sorted(x for r in results for x in r.get("core_round_trip_ns", []))
    if not samples:
        return "Cross-core round trip: not measured (bench/core-latency missing, or one CPU)."
    far = [r for r in results if r.get("core_round_trip_ns") and max(r["core_round_trip_ns"]) > 2 * samples[0]]
    return ("Cross-core round trip (bench/core-latency: a cache line passed between the first two CPUs and back, "
            "measured just before and after every run): min %.0f, median %.0f, max %.0f ns; %d of %d runs "
            "saw it above twice the minimum. A hand-off between threads pays it for every cache line the message "
            "shares; the runs' own figures (results.json, core_round_trip_ns) show whether a slow round saw it "
            "high (docs/parallelize.md, *Where the CPU goes*)."
            % (samples[0], statistics.median(samples), samples[-1], len(far), len(results)))


def pinning_line():
    daemon, sender = os.environ.get("BENCH_DAEMON_CPUS", ""), os.environ.get("BENCH_SENDER_CPUS", "")
    if not daemon and not sender:
        return "Not pinned: the kernel places every thread."
    return "Pinned (taskset): the daemon, all its threads, on CPU(s) %s; the sender on %s." % (
        daemon or "any", sender or "any")


def summarize(results, workloads, labels, allocators):
    """One row per (workload, allocator, config).  speedup: the median over rounds of the run's msg/s over
    the stock (glibc) sequential run of the same round, so that drift in the machine's load between
    rounds cancels out.  cpu_ratio, switch_ratio: the same for CPU per message and context switches per
    message, over the sequential run of the same allocator and round (what the element itself costs)."""
    rows = []
    for workload in workloads:
        stock_seq = {r["run"]: r["rate"] for r in results
                     if r["workload"] == workload and r["allocator"] == STOCK and r["config"] == "seq"}
        for alloc in allocators:
            own_seq = {r["run"]: r for r in results
                       if r["workload"] == workload and r["allocator"] == alloc and r["config"] == "seq"}

            def ratio(rs, field):
                values = [r[field] / own_seq[r["run"]][field] for r in rs
                          if r["run"] in own_seq and own_seq[r["run"]][field] > 0]
                return statistics.median(values) if values else float("nan")

            for label in labels:
                rs = [r for r in results if r["workload"] == workload and r["allocator"] == alloc
                      and r["config"] == label]
                if not rs:
                    continue
                rates = [r["rate"] for r in rs]
                med = statistics.median(rates)
                ratios = [r["rate"] / stock_seq[r["run"]] for r in rs if r["run"] in stock_seq]
                rows.append(dict(workload=workload, allocator=alloc, config=label, workers=rs[0]["workers"],
                                 runs=len(rs), median=med, min=min(rates), max=max(rates),
                                 spread=(max(rates) - min(rates)) / med * 100,
                                 speedup=statistics.median(ratios) if ratios else float("nan"),
                                 cpu=statistics.median(r["cpu_s_per_m"] for r in rs),
                                 cpu_ratio=ratio(rs, "cpu_s_per_m"),
                                 switches=statistics.median(r["switches_per_k"] for r in rs),
                                 switch_ratio=ratio(rs, "switches_per_k"),
                                 hwm=max(r["vm_hwm_mib"] for r in rs),
                                 in_order=all(r["in_order"] for r in rs)))
    return rows


def limit_rounds(results, workloads):
    """Report lines: for each workload that ran the limit, round by round, the stock sequential run, the
    most workers and the limit (as many sequential daemons at once), each over the sequential run of the
    round, and the workers' rate over the limit's.  A round where workers(N) stays under a target speed-up
    while the limit does too is the machine's round, not the element's."""
    lines = []
    for workload in workloads:
        runs = [r for r in results if r["workload"] == workload and r["allocator"] == STOCK]
        limit = {r["run"]: r for r in runs if r["config"] == LIMIT}
        if not limit:
            continue
        most = max((r["workers"] for r in runs if r["config"].startswith("w")), default=0)
        label = "w%d" % most
        seq = {r["run"]: r for r in runs if r["config"] == "seq"}
        par = {r["run"]: r for r in runs if r["config"] == label}
        n = next(iter(limit.values()))["daemons"]
        if not lines:
            lines += ["", "The machine's limit, round by round: `limit` is %d independent sequential daemons fed at "
                      "once (each its own connection and copy of the load, no hand-off between threads), run in "
                      "the same round as the others: what this machine did with %d cores' worth of the workload "
                      "at that moment. Speed-ups over the stock sequential run of the round." % (n, n), "",
                      "| workload | round | seq msg/s | %s msg/s | limit msg/s | %s speed-up | limit speed-up "
                      "| %s of limit | %s CPU vs seq | limit CPU vs seq |" % ((label,) * 4),
                      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for k in sorted(limit):
            if k not in seq or k not in par:
                continue
            s, p, m = seq[k], par[k], limit[k]
            lines.append("| %s | %d | %.0f | %.0f | %.0f | %.2f× | %.2f× | %.2f | %.2f× | %.2f× |" % (
                workload, k + 1, s["rate"], p["rate"], m["rate"], p["rate"] / s["rate"], m["rate"] / s["rate"],
                p["rate"] / m["rate"], p["cpu_s_per_m"] / s["cpu_s_per_m"], m["cpu_s_per_m"] / s["cpu_s_per_m"]))
    return lines


def machine_info():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    version = subprocess.run([SYSLOG_NG, "--version"], stdout=subprocess.PIPE, text=True).stdout.splitlines()
    return dict(nproc=os.cpu_count(), online=os.sysconf("SC_NPROCESSORS_ONLN"), cpu=model,
                kernel=platform.release(), syslog_ng=version[0] if version else "?",
                loadavg=open("/proc/loadavg").read().split()[:3])


def percentile(values, p):
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def latency_run(args, workers, count, rate, in_order=False):
    load = load_file(args.srcdir, args.outdir, "plain", count)
    label = config_label(workers) + ("+in-order" if in_order else "")
    rundir = os.path.join(args.outdir, "runs", "latency-%s" % label)
    out = os.path.join(rundir, "out.log")
    port = free_port()
    daemon = Daemon(rundir, render_config(args.srcdir, "latency.conf", port, out, TUNED_SOURCE,
                                          parallelize_statement(workers, None), in_order), args.module_dir)
    if os.path.exists(out):
        os.unlink(out)
    daemon.start(port)
    try:
        subprocess.run([args.send_file, str(port), load, "--rate", str(rate)], check=True, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while written(daemon.control) < count and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        daemon.stop()
    ok, _, why = check_exactly_once(out, count)
    if not ok:
        raise RuntimeError("latency %s: %s" % (label, why))
    delays = []
    with open(out) as f:
        for line in f:
            c, r = line.split()[:2]
            delays.append((float(c) - float(r)) * 1e6)
    # the first messages meet cold caches and a fresh connection
    delays = delays[min(10, len(delays) // 10):]
    return dict(config=label, n=len(delays), p50=percentile(delays, 50), p90=percentile(delays, 90),
                p99=percentile(delays, 99), max=max(delays), zero=sum(1 for d in delays if d == 0))


def write_chart(outdir, rows, workloads, labels, allocators):
    """throughput.png: msg/s against workers with the stock allocator (left) and, when other allocators ran,
    the speedup over the stock sequential run per allocator (right)."""
    stock = [r for r in rows if r["allocator"] == STOCK]
    data = os.path.join(outdir, "throughput.dat")
    with open(data, "w") as f:
        f.write("# x label " + " ".join("%s_med %s_min %s_max" % (w, w, w) for w in workloads) + "\n")
        for i, label in enumerate(labels):
            cols = []
            for w in workloads:
                r = next((r for r in stock if r["workload"] == w and r["config"] == label), None)
                cols += ["%.1f %.1f %.1f" % (r["median"], r["min"], r["max"]) if r else "NaN NaN NaN"]
            f.write("%d %s %s\n" % (i, label, " ".join(cols)))
    png = os.path.join(outdir, "throughput.png")
    plots = ", ".join("'%s' using 1:%d:%d:%d:xtic(2) with yerrorlines lw 2 title '%s'"
                      % (data, 3 + 3 * i, 4 + 3 * i, 5 + 3 * i, w) for i, w in enumerate(workloads))
    # the allocator panel: one cluster per allocator, one bar per workload and configuration
    series = [(w, c) for w in workloads for c in labels
              if any(r["workload"] == w and r["config"] == c and r["allocator"] != STOCK for r in rows)]
    multi = len(allocators) > 1 and series
    script = """set terminal pngcairo size %d,560 noenhanced
set output '%s'
""" % (1600 if multi else 900, png)
    if multi:
        alloc_data = os.path.join(outdir, "allocators.dat")
        with open(alloc_data, "w") as f:
            f.write("# allocator " + " ".join("%s_%s" % s for s in series) + "\n")
            for a in allocators:
                vals = []
                for w, c in series:
                    r = next((r for r in rows if r["workload"] == w and r["config"] == c and r["allocator"] == a),
                             None)
                    vals.append("%.3f" % r["speedup"] if r else "NaN")
                f.write("%s %s\n" % (a, " ".join(vals)))
        script += "set multiplot layout 1,2\n"
    script += """set title 'syslog-ng 3.38 parallelize(): throughput against workers, glibc malloc (median, min..max)'
set xlabel 'configuration (seq = without parallelize(); limit = as many sequential daemons as workers, at once)'
set ylabel 'messages per second'
set logscale y
set grid
set key outside bottom center horizontal
set xrange [-0.3:%f]
plot %s
""" % (len(labels) - 0.7, plots)
    if multi:
        bars = ", ".join("'%s' using %d:xtic(1) title '%s %s'" % (alloc_data, 2 + i, w, c)
                         for i, (w, c) in enumerate(series))
        script += """unset logscale y
unset xrange
set title 'malloc implementations (LD_PRELOAD): speedup over glibc sequential, same round'
set xlabel 'allocator'
set ylabel 'speedup (x glibc seq)'
set yrange [0:*]
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set key outside bottom center horizontal
plot %s
unset multiplot
""" % bars
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        log("gnuplot failed (%s): no chart" % e)
        return None
    return png


def main():
    parser = argparse.ArgumentParser(description=__doc__ % dict(workloads=", ".join(WORKLOADS), allocators=DEFAULT_ALLOCATORS,
                                                                allocator_workloads=DEFAULT_ALLOCATOR_WORKLOADS,
                                                                limit_workloads=DEFAULT_LIMIT_WORKLOADS),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--srcdir", required=True)
    parser.add_argument("--module-dir", required=True, help="the .libs folder holding libparallelize.so")
    parser.add_argument("--send-file", required=True)
    parser.add_argument("--outdir", required=True)
    parser.add_argument("--poll", type=float, default=0.02, help="seconds between counter polls")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--perf", action="store_true", help="record each run with perf (cpu-clock) into outdir")
    parser.add_argument("--configs", help="comma-separated subset of seq,w1,w2,... (default: all)")
    args = parser.parse_args()
    args.srcdir = os.path.abspath(args.srcdir)
    args.module_dir = os.path.abspath(args.module_dir)
    args.send_file = os.path.abspath(args.send_file)
    args.outdir = os.path.abspath(args.outdir)
    os.makedirs(args.outdir, exist_ok=True)

    runs = int(os.environ.get("BENCH_RUNS", "3"))
    messages = int(os.environ.get("BENCH_MESSAGES", "0"))
    workloads = [w for w in os.environ.get("BENCH_WORKLOADS", DEFAULT_WORKLOADS).split(",") if w]
    for w in workloads:
        if w not in WORKLOADS:
            sys.exit("unknown workload %r (known: %s)" % (w, ", ".join(WORKLOADS)))
    max_workers = int(os.environ.get("BENCH_MAX_WORKERS", str(os.sysconf("SC_NPROCESSORS_ONLN"))))
    latency_messages = int(os.environ.get("BENCH_LATENCY_MESSAGES", "1000"))
    latency_rate = float(os.environ.get("BENCH_LATENCY_RATE", "100"))

    allocators = parse_allocators(os.environ.get("BENCH_ALLOCATORS", DEFAULT_ALLOCATORS))
    allocator_workloads = [w for w in os.environ.get("BENCH_ALLOCATOR_WORKLOADS", DEFAULT_ALLOCATOR_WORKLOADS)
                           .split(",") if w]
    limit_workloads = [w for w in os.environ.get("BENCH_LIMIT_WORKLOADS", DEFAULT_LIMIT_WORKLOADS).split(",") if w]

    info = machine_info()
    info["allocators"] = {name: path for name, path in allocators}
    log("machine: %(nproc)d CPUs (%(cpu)s), kernel %(kernel)s, %(syslog_ng)s, load %(loadavg)s" % info)
    args.max_workers = max_workers
    configs = [None] + list(range(1, max_workers + 1)) + ([BUILTIN] if HOST.builtin_parallelize else [])
    log("allocators: %s" % ", ".join("%s (%s)" % (n, p or "stock") for n, p in allocators))
    if args.configs:
        wanted = args.configs.split(",")
        configs = [c for c in configs if config_label(c) in wanted]
    # the machine's limit for workers(max): as many sequential daemons, where asked for and where it means
    # anything (two or more)
    if max_workers >= 2 and (not args.configs or LIMIT in args.configs.split(",")):
        configs_limit = [LIMIT]
    else:
        configs_limit = []
    labels = [config_label(c) for c in configs] + ([LIMIT] if configs_limit and any(
        w in limit_workloads for w in workloads) else [])
    # other allocators: sequential and the most workers (the stock sequential run is the baseline)
    alloc_configs = [c for c in (None, max_workers) if c in configs]
    results = []
    started = time.monotonic()
    for workload in workloads:
        count = messages or WORKLOADS[workload][4]
        runs_of_round = [(allocators[0], c) for c in configs]
        if workload in allocator_workloads:
            runs_of_round += [(a, c) for a in allocators[1:] for c in alloc_configs]
        if workload in limit_workloads:
            runs_of_round += [(allocators[0], c) for c in configs_limit]
        log("== %s: %s; %d messages, %d runs of %s" % (
            workload, WORKLOADS[workload][5], count, runs,
            ["%s%s" % ("" if a[0] == STOCK else a[0] + " ", config_label(c)) for a, c in runs_of_round]))
        for run in range(runs):
            # rotate the order each round so that drift in the machine's load hits every configuration alike
            k = run % len(runs_of_round)
            for allocator, workers in runs_of_round[k:] + runs_of_round[:k]:
                before = core_round_trip(args)
                if workers == LIMIT:
                    r = limit_run(args, workload, count, max_workers, run)
                else:
                    r = one_run(args, workload, workers, count, run, allocator)
                r["core_round_trip_ns"] = before + core_round_trip(args)
                results.append(r)
                log("  %-20s %-8s %-4s run %d: %9.0f msg/s  %6.2f CPU us/msg  %7.1f switches/1000  VmHWM %6.1f MiB"
                    "  cross-core %s ns%s"
                    % (workload, r["allocator"], r["config"], run, r["rate"], r["cpu_s_per_m"], r["switches_per_k"],
                       r["vm_hwm_mib"], "/".join("%.0f" % x for x in r["core_round_trip_ns"]),
                       "" if r["in_order"] else "  (per-host order not kept)"))

    latency = []
    if latency_messages > 0:
        log("== latency: %d messages at %g msg/s, C_UNIXTIME - R_UNIXTIME right after the parallelize() position"
            % (latency_messages, latency_rate))
        for workers, in_order in ((None, False), (max_workers, False), (max_workers, True)):
            lat = latency_run(args, workers, latency_messages, latency_rate, in_order)
            latency.append(lat)
            log("  %-12s p50 %7.1f us  p90 %7.1f us  p99 %7.1f us  max %7.1f us" % (
                lat["config"], lat["p50"], lat["p90"], lat["p99"], lat["max"]))

    info["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    info["bench_seconds"] = time.monotonic() - started
    alloc_names = [n for n, _ in allocators]
    rows = summarize(results, workloads, labels, alloc_names)
    write_report(args.outdir, info, rows, results, latency, runs, workloads, labels, alloc_names)


def write_report(outdir, info, rows, results, latency, runs, workloads, labels, allocators):
    md = ["# parallelize() benchmark", "",
          "Machine: %d online CPUs, %s; kernel %s; %s. Load average %s at the start, %s at the end; "
          "%.0f s in all." % (info["online"], info["cpu"], info["kernel"], info["syslog_ng"],
                              " ".join(info["loadavg"]), " ".join(info["loadavg_end"]), info["bench_seconds"]),
          "",
          "%d runs per configuration, interleaved round by round; every run checked: every message exactly once. "
          "Allocators (LD_PRELOAD, or GLIBC_TUNABLES for glibc itself; glibc is the stock malloc): %s. Speedup: the median over rounds of the "
          "run's msg/s over the stock (glibc) sequential run of the same round. CPU: utime+stime of the daemon "
          "per message. Switches: voluntary and involuntary context switches of the daemon's threads per 1000 "
          "messages (/proc/PID/task/*/status). 'vs own seq': the median over rounds of the run's figure over the "
          "sequential run of the same allocator and round." % (runs, ", ".join("%s (%s)" % (n, info["allocators"][n] or "no preload")
                                            for n in allocators)), "",
          pinning_line(), "",
          *(["`limit`: as many independent sequential daemons as the most workers, fed at once (the machine's "
             "limit; *The machine's limit, round by round* below); its peak RSS is theirs together.", ""]
            if any(r["config"] == LIMIT for r in rows) else []),
          core_round_trip_line(results), "",
          "| workload | allocator | config | msg/s median | min | max | spread | speedup vs glibc seq "
          "| CPU µs / msg | CPU vs own seq | switches / 1000 msgs | switches vs own seq | peak RSS MiB "
          "| per-host order |",
          "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        md.append("| %s | %s | %s | %.0f | %.0f | %.0f | %.0f%% | %.2f× | %.2f | %.2f× | %.1f | %.2f× | %.1f | %s |" % (
            r["workload"], r["allocator"], r["config"], r["median"], r["min"], r["max"], r["spread"], r["speedup"],
            r["cpu"], r["cpu_ratio"], r["switches"], r["switch_ratio"], r["hwm"],
            "kept" if r["in_order"] else "not kept"))
    md += limit_rounds(results, workloads)
    md += ["", "Workloads:", ""]
    for w in workloads:
        md.append("- **%s**: %s (bench/%s)" % (w, WORKLOADS[w][5], WORKLOADS[w][0]))
    if latency:
        md += ["", "Latency at a low rate: `$C_UNIXTIME - $R_UNIXTIME` in a rewrite right after the parallelize() "
               "position (frac-digits(6)).", "",
               "| config | messages | p50 µs | p90 µs | p99 µs | max µs |", "|---|---:|---:|---:|---:|---:|"]
        for lat in latency:
            md.append("| %s | %d | %.1f | %.1f | %.1f | %.1f |" % (lat["config"], lat["n"], lat["p50"], lat["p90"],
                                                                   lat["p99"], lat["max"]))
        if len(latency) >= 2:
            md += ["", "Added by parallelize(): p50 %+.1f µs, p99 %+.1f µs." % (
                latency[1]["p50"] - latency[0]["p50"], latency[1]["p99"] - latency[0]["p99"])]
        if len(latency) >= 3:
            md += ["", "Added by parallelize() and in-order() together: p50 %+.1f µs, p99 %+.1f µs." % (
                latency[2]["p50"] - latency[0]["p50"], latency[2]["p99"] - latency[0]["p99"])]
    png = write_chart(outdir, rows, workloads, labels, allocators)
    if png:
        md += ["", "![throughput](throughput.png)"]
    with open(os.path.join(outdir, "results.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    with open(os.path.join(outdir, "results.json"), "w") as f:
        json.dump(dict(machine=info, summary=rows, runs=results, latency=latency), f, indent=1)
    log("")
    log("\n".join(md))
    log("")
    log("written: %s" % os.path.join(outdir, "results.md"))


if __name__ == "__main__":
    main()
