"""Hardening: what the daemon does when parallelize() meets its own internal messages, thread and
open-files limits, counter resets, reloads that move it, include files, many file writers, big thread
pools, slow workers, and the upstream log-fetch-limit() option."""
import os
import shutil
import socket
import tempfile
import time

import pytest

import syslogng
from syslogng import (Sender, check_sequences, count_lines, free_port, send_lines, syslog_chunks, syslog_lines,
                      wait_for, wait_for_lines)
from test_lifecycle import SLOW_PATH, tcp_config

HOSTS = 20
NOT_ALL_STARTED = "parallelize(): could not start all worker threads"
NO_THREAD_ID = "parallelize(): not enough thread ids for every worker"


def log_lines(d, text):
    return [line for line in d.output().splitlines() if text in line]


def tag(line, name):
    """The value of name='...' in a log line, or None."""
    marker = "%s='" % name
    start = line.find(marker)
    if start < 0:
        return None
    start += len(marker)
    return line[start:line.index("'", start)]


def parallelize_stats_lines(d):
    """syslog-ng-ctl stats lines of parallelize() counters, split into their fields."""
    return [line.split(";") for line in d.ctl("stats").stdout.splitlines()
            if len(line.split(";")) >= 6 and line.split(";")[1].startswith("parallelize@")]


# --- 1. internal() messages made on the workers do not loop --------------------------------------

def test_internal_messages_made_by_the_workers_do_not_loop(daemon_factory, tmp_path):
    """url-decode fails on the worker and logs an error; that error comes back through internal() into the
    same path.  With workers(0) this settles after ~6 lines; it must not become an endless loop."""
    port = free_port()
    out = str(tmp_path / "out.log")
    conf = """@version: 3.38
source s_src { internal(); tcp(ip(127.0.0.1) port(%d)); };
log { source(s_src); parallelize(workers(2)); rewrite { set("$(url-decode $MSG)" value("N")); };
      destination { file("%s" template("$MSG\\n")); }; };
""" % (port, out)
    # stderr=False: the daemon's own messages go to internal()
    d = daemon_factory(conf, stderr=False).start(wait_for_port=port)
    send_lines(port, [b"bad %zz escape\n"])
    deadline = time.time() + 4
    size = 0
    while time.time() < deadline:
        size = os.path.getsize(out) if os.path.exists(out) else 0
        if size > 10 << 20:  # a loop: stop before it fills the disk
            break
        time.sleep(0.05)
    alive = d.proc.poll() is None
    d.kill()
    size = os.path.getsize(out) if os.path.exists(out) else 0
    lines = count_lines(out)
    print("internal loop: %d lines, %d bytes" % (lines, size))
    assert alive, d.output()[-3000:]
    with open(out, "rb") as f:
        assert b"%zz escape" in f.read(1 << 20), "the message itself never arrived"
    assert lines <= 20 and size < 100_000, "internal() loop: %d lines, %d bytes in 4 s" % (lines, size)


# --- 2. a worker thread that cannot be created (RLIMIT_NPROC) ------------------------------------

@pytest.fixture
def nobody_workdir(monkeypatch):
    """A folder the user 'nobody' can write to (pytest's tmp_path is root's, mode 0700), holding a copy
    of the built module that the daemon loads: the build tree may be where nobody cannot read (/root)."""
    path = tempfile.mkdtemp(prefix="parallelize-nobody-")
    os.chmod(path, 0o777)
    modules = os.path.join(path, "modules")
    os.mkdir(modules)
    os.chmod(modules, 0o755)
    shutil.copy(os.path.join(syslogng.module_dir(), "libparallelize.so"), modules)
    monkeypatch.setenv("PARALLELIZE_MODULE_DIR", modules)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def nproc_wrapper(limit=40):
    # RLIMIT_NPROC counts every thread of the real uid: as nobody, 40 cannot hold 64 workers
    return ["prlimit", "--nproc=%d" % limit, "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


def assert_not_all_started(d, requested):
    errors = log_lines(d, NOT_ALL_STARTED)
    assert errors, "no '%s' error:\n%s" % (NOT_ALL_STARTED, d.output()[-3000:])
    assert any(tag(line, "requested") == str(requested) and tag(line, "started") is not None
               and int(tag(line, "started")) < requested for line in errors), errors
    return errors


def assert_still_up(d, when):
    time.sleep(0.5)
    assert d.proc.poll() is None, "syslog-ng exited (%s) %s:\n%s" % (d.proc.returncode, when, d.output()[-3000:])


def send_and_check(d, port, out, n, start=0, in_order=False):
    """n more messages on one connection; the file then holds start + n, each exactly once
    (and in order per host, if asked: only with partition-key("$HOST"))."""
    send_lines(port, syslog_lines(n, hosts=HOSTS, start=start))
    assert wait_for_lines(out, start + n, timeout=60, daemon=d) == start + n, d.output()[-3000:]
    report = check_sequences(out, start + n)
    if in_order:
        report.assert_exactly_once_in_order()
    else:
        assert report.missing == 0 and report.duplicates == 0 and report.foreign == 0, report


# --- 2 and 3. not enough threads (RLIMIT_NPROC) or open files (RLIMIT_NOFILE) for every worker ---

def four_paths_config(ports, outs, workers):
    paths = "".join("""
log {
  source { tcp(ip(127.0.0.1) port(%d) keep-hostname(yes) log-iw-size(10000)); };
  parallelize(workers(%d));
  destination { file("%s" template("$HOST $MSG\\n")); };
  flags(flow-control);
};
""" % (port, workers, out) for port, out in zip(ports, outs))
    return "@version: 3.38\n" + paths


def assert_open_files_reported(d, requested):
    errors = assert_not_all_started(d, requested)
    assert any("open files" in line.lower() or "nofile" in line.lower() for line in errors), errors
    return errors


# limit: (paths, workers that start fine, workers that do not fit, the daemon's wrapper, check of the error)
LIMITS = {
    # as nobody, 40 threads cannot hold 64 workers
    "threads": (1, 2, 64, nproc_wrapper, assert_not_all_started),
    # four instances: the check counts every instance's descriptors
    "open files": (4, 2, 65, lambda: ["prlimit", "--nofile=256:256"], assert_open_files_reported),
}


@pytest.fixture
def limit_workdir(request, tmp_path):
    """nobody's folder where the daemon runs as nobody (the thread limit counts a uid's threads)"""
    if request.node.callspec.params["limit"] != "threads":
        return str(tmp_path)
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("root only: runs the daemon as 'nobody' (setpriv) under an RLIMIT_NPROC")
    return request.getfixturevalue("nobody_workdir")


@pytest.mark.parametrize("when", ["startup", "reload"])
@pytest.mark.parametrize("limit", sorted(LIMITS))
def test_a_limit_too_low_for_all_workers_keeps_the_daemon_up(daemon_factory, limit_workdir, limit, when):
    """Workers that cannot start at startup, or at a reload that asks for more: the daemon stays up,
    runs with those that started, says why, and delivers everything exactly once."""
    paths, fine, too_many, wrapper, check = LIMITS[limit]
    ports = [free_port() for _ in range(paths)]
    outs = [os.path.join(limit_workdir, "out%d.log" % i) for i in range(paths)]
    first = too_many if when == "startup" else fine
    d = daemon_factory(four_paths_config(ports, outs, first), workdir=limit_workdir, wrapper=wrapper())
    d.start(wait_for_port=ports[-1])
    sent = 0
    if when == "reload":
        for port, out in zip(ports, outs):
            send_and_check(d, port, out, 500)
        sent = 500
        d.write_config(four_paths_config(ports, outs, too_many))
        result = d.reload()
        assert_still_up(d, "at the reload to workers(%d)" % too_many)
        print("reload said %r" % result.stdout.strip())
    for port, out in zip(ports, outs):
        send_and_check(d, port, out, 1000, start=sent)
    errors = check(d, too_many)
    assert_still_up(d, "after the stream")
    print("%s limit, %s, %d x workers(%d): %s" % (limit, when, paths, too_many, errors))


@pytest.mark.skipif(not syslogng.HOST.workers_have_a_host_thread,
                    reason="only 3.35 needs a thread that syslog-ng starts (and aborts on) beside the workers")
def test_a_thread_limit_with_room_for_the_workers_alone_keeps_the_daemon_up(daemon_factory, nobody_workdir):
    """3.35: the host thread that stands for the workers on syslog-ng's exit list is started with
    g_thread_new(), which aborts the daemon where no thread can be made.  Under a limit with room
    for the main thread and the workers alone (seen: the daemon aborted at startup, "creating thread
    '': Error creating thread", before that thread's room was held from init), the daemon stays up,
    runs with fewer workers (none here: the headroom for syslog-ng's own threads takes the rest),
    says why, and delivers everything, after a reload too."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("root only: runs the daemon as 'nobody' (setpriv) under an RLIMIT_NPROC")
    workers = 4
    port = free_port()
    out = os.path.join(nobody_workdir, "out0.log")
    d = daemon_factory(four_paths_config([port], [out], workers), workdir=nobody_workdir,
                       wrapper=nproc_wrapper(1 + workers), extra_args=["--worker-threads=2"])
    d.start(wait_for_port=port)
    send_and_check(d, port, out, 1000)
    assert_not_all_started(d, workers)
    assert d.reload().returncode == 0, d.output()[-3000:]
    assert_still_up(d, "after a reload")
    send_and_check(d, port, out, 1000, start=1000)
    assert_still_up(d, "after the stream")
    assert d.stop() == 0, d.output()[-3000:]


# --- 4. syslog-ng-ctl stats --reset under load ---------------------------------------------------

def test_stats_reset_under_load_leaves_queued_counters_at_zero(daemon_factory, tmp_path):
    total = 200_000
    resets = 5
    port = free_port()
    out = str(tmp_path / "out.log")
    rewrite = 'rewrite { set("$(sha1 $MSG)$(sha1 $HOST $MSG)" value("h")); };'
    d = daemon_factory(tcp_config(port, out, "parallelize(workers(2));", rewrite)).start(wait_for_port=port)
    chunks = list(syslog_chunks(total, hosts=HOSTS, lines_per_chunk=2000))
    size = sum(len(chunk) for chunk in chunks)
    sender = Sender(port, chunks).start()
    queued_at_reset = []
    for i in range(1, resets + 1):
        # (the source's own counters are reset too: progress is what the sender got rid of)
        wait_for(lambda: sender.sent >= size * i // (resets + 1), timeout=120, interval=0.01, daemon=d,
                 what="reset point %d" % i)
        queued_at_reset.append(d.parallelize_counters("parallelized_queued_events").get("total", 0))
        result = d.ctl("stats", "--reset")
        assert result.returncode == 0, result.stdout
    sender.join(timeout=120)
    assert wait_for_lines(out, total, timeout=120, daemon=d) == total
    # a worker counts a batch as processed just after the destination got it: allow it a moment
    try:
        wait_for(lambda: not any(d.parallelize_counters("parallelized_queued_events").values()), timeout=10,
                 daemon=d, what="queued counters at 0")
    except TimeoutError:
        pass
    queued = d.parallelize_counters("parallelized_queued_events")
    print("queued before each reset: %s; after the stream: %s" % (queued_at_reset, queued))
    assert set(queued) == {"total", "worker0", "worker1"}, queued
    assert all(value == 0 for value in queued.values()), queued


# --- 5. counters must not pile up ----------------------------------------------------------------

def test_reloads_that_move_parallelize_leave_no_counters_behind(daemon_factory, tmp_path):
    port = free_port()
    out = str(tmp_path / "out.log")
    base = tcp_config(port, out, 'parallelize(workers(4) partition-key("$HOST"));')
    d = daemon_factory(base).start(wait_for_port=port)
    first = parallelize_stats_lines(d)
    # per worker: assigned, processed, queued, busy time; in all: those, inline deliveries, the workers
    # running, 5 wait buckets, the largest wait and (keyed) the skew
    assert len(first) == 4 * 4 + 4 + 2 + 5 + 1 + 1, first
    for i in range(1, 11):
        # one more comment line at the top each time: parallelize() moves down a line
        d.write_config(base.replace("@version: 3.38\n", "@version: 3.38\n" + "# moved\n" * i, 1))
        d.reload_ok()
    send_and_check(d, port, out, 1000, in_order=True)
    lines = parallelize_stats_lines(d)
    ids = sorted({fields[1] for fields in lines})
    orphans = [";".join(fields) for fields in lines if fields[3] != "a"]
    assert len(lines) == len(first) and not orphans, (
        "%d parallelize counter lines after 10 reloads (%d at start), ids %s, not active: %d"
        % (len(lines), len(first), ids, len(orphans)))


def test_one_included_snippet_in_two_log_paths_gets_two_counter_sets(daemon_factory, tmp_path):
    port_a, port_b = free_port(), free_port()
    out_a, out_b = str(tmp_path / "a.log"), str(tmp_path / "b.log")
    snippet = tmp_path / "parallel.conf"
    snippet.write_text(syslogng.HOST.config("parallelize(workers(2));\n"))
    conf = """@version: 3.38
log {
  source { tcp(ip(127.0.0.1) port(%d) keep-hostname(yes)); };
@include "%s"
  destination { file("%s" template("$HOST $MSG\\n")); };
};
log {
  source { tcp(ip(127.0.0.1) port(%d) keep-hostname(yes)); };
@include "%s"
  destination { file("%s" template("$HOST $MSG\\n")); };
};
""" % (port_a, snippet, out_a, port_b, snippet, out_b)
    d = daemon_factory(conf).start(wait_for_port=port_b)
    send_lines(port_a, syslog_lines(3000, hosts=HOSTS))
    send_lines(port_b, syslog_lines(5000, hosts=HOSTS))
    assert wait_for_lines(out_a, 3000, daemon=d) == 3000
    assert wait_for_lines(out_b, 5000, daemon=d) == 5000
    totals = {key[1]: value for key, value in d.stats().items()
              if key[1].startswith("parallelize@") and key[2] == "total"
              and key[3] == "parallelized_processed_events_total"}
    assert len(totals) == 2 and sorted(totals.values()) == [3000, 5000], totals


# --- 6. what the module costs paths that do not use it ------------------------------------------

WRITERS = 2000


def per_host_config(port, folder, parallelize_port=None):
    conf = """@version: 3.38
log {
  source { tcp(ip(127.0.0.1) port(%d) keep-hostname(yes) max-connections(10)); };
  destination { file("%s/$HOST.log" template("$MSG\\n")); };
};
""" % (port, folder)
    if parallelize_port:
        conf += """
log {
  source { tcp(ip(127.0.0.1) port(%d)); };
  parallelize(workers(2));
  destination { file("%s/parallel.out"); };
};
""" % (parallelize_port, os.path.dirname(folder))
    return conf


def rss_with_writers(daemon_factory, tmp_path, name, with_parallelize):
    """VmRSS (kB) of a daemon holding WRITERS per-host file writers."""
    work = tmp_path / name
    folder = work / "hosts"
    folder.mkdir(parents=True)
    port = free_port()
    d = daemon_factory(per_host_config(port, str(folder), free_port() if with_parallelize else None), workdir=work)
    d.start(wait_for_port=port)
    send_lines(port, [b"<13>Jan  1 00:00:00 h%05d app: one line\n" % i for i in range(WRITERS)])
    wait_for(lambda: len(os.listdir(folder)) >= WRITERS, timeout=60, interval=0.1, daemon=d,
             what="%d files" % WRITERS)
    time.sleep(0.5)
    rss = d.rss_kb()
    d.stop()
    return rss


def test_module_costs_next_to_nothing_per_file_writer_of_other_paths(daemon_factory, tmp_path):
    """Two runs each, the smaller RSS of each kept: one destination queue per writer must not grow."""
    with_module, without = [], []
    for i in range(2):
        with_module.append(rss_with_writers(daemon_factory, tmp_path, "a%d" % i, True))
        without.append(rss_with_writers(daemon_factory, tmp_path, "b%d" % i, False))
    diff = min(with_module) - min(without)
    message = ("VmRSS with parallelize() on another path %s kB, without %s kB: %d kB more for %d writers "
               "(%.2f KiB each)" % (with_module, without, diff, WRITERS, diff / WRITERS))
    print(message)
    assert diff < 1024, message


# --- 7. thread ids when the I/O pool is big -----------------------------------------------------

@pytest.mark.parametrize("worker_threads, without_id", [(64, "4"), (62, "2"), (None, None)])
def test_workers_without_a_thread_id_are_reported(daemon_factory, tmp_path, worker_threads, without_id):
    if worker_threads is not None and syslogng.HOST.v4:
        pytest.skip("syslog-ng %s sizes its pool of thread ids for each configuration, workers included: "
                    "no worker runs without one" % syslogng.HOST.version)
    if worker_threads is None and (os.cpu_count() or 1) + 4 > 64:
        pytest.skip("the default I/O pool of this host is too big for the no-warning case")
    port = free_port()
    out = str(tmp_path / "out.log")
    extra = ["--worker-threads=%d" % worker_threads] if worker_threads else []
    d = daemon_factory(tcp_config(port, out, 'parallelize(workers(4) partition-key("$HOST"));'),
                       extra_args=extra).start(wait_for_port=port)
    send_and_check(d, port, out, 20_000, in_order=True)
    warnings = log_lines(d, NO_THREAD_ID)
    if without_id is None:
        assert not warnings, warnings
    else:
        assert len(warnings) == 1, (warnings, d.output()[-3000:])
        assert tag(warnings[0], "without_id") == without_id, warnings


# --- 8. sources waiting for slow workers do not stall the rest of the daemon --------------------

PROBES = 50


def flooded_config(ports, probe_port, probe_out):
    flooded = "".join("""
log {
  source { tcp(ip(127.0.0.1) port(%d) keep-hostname(yes) log-iw-size(100000) max-connections(2)
                   log-fetch-limit(1000)); };
  parallelize(workers(1) batch-size(1000));
  %s
  destination { file("/dev/null" persist-name("flood%d")); };
  flags(flow-control);
};
""" % (port, SLOW_PATH, port) for port in ports)
    return """@version: 3.38
options { stats-level(1); };
%s
log {
  source { tcp(ip(127.0.0.1) port(%d) flags(no-parse)); };
  destination { file("%s" template("$MSG\\n")); };
};
""" % (flooded, probe_port, probe_out)


def backlogs(d):
    """{parallelize() id: its total parallelized_queued_events}"""
    return {key[1]: value for key, value in d.stats().items()
            if key[1].startswith("parallelize@") and key[2] == "total" and key[3] == "parallelized_queued_events"}


def test_sources_waiting_for_slow_workers_do_not_delay_an_unrelated_path(daemon_factory, tmp_path):
    """Two flooded sources, each ahead of its one slow worker, wait for it (the run-ahead bound).
    That wait must not hold up syslog-ng's I/O threads: a probe on a third, plain path arrives soon.

    batch-size(1000) puts the run-ahead marks at 20000/10000 queued messages (each wait lasts while
    the worker works off 10000), and max-connections(2) gives each connection a window (50000) above
    them: with the default 10 connections the window (10000) would stop the source first."""
    flood = 300_000
    ports = [free_port(), free_port()]
    probe_port = free_port()
    probe_out = str(tmp_path / "probes.log")
    d = daemon_factory(flooded_config(ports, probe_port, probe_out)).start(wait_for_port=probe_port)
    # built before sending: the sender threads then only sendall() (no GIL held while the daemon waits)
    senders = [Sender(port, list(syslog_chunks(flood, hosts=HOSTS, host_prefix=b"flood%d-" % n)))
               for n, port in enumerate(ports)]
    for sender in senders:
        sender.start()
    # both workers far behind: the sources have met the run-ahead bound and wait
    wait_for(lambda: len(backlogs(d)) == 2 and min(backlogs(d).values()) > 5000,
             timeout=60, interval=0.05, daemon=d, what="backlogs in both parallelize() paths")
    sent_at, arrived_at = {}, {}
    offset = 0

    def poll_probes():
        nonlocal offset
        try:
            with open(probe_out, "rb") as f:
                f.seek(offset)
                data = f.read()
        except FileNotFoundError:
            return
        end = data.rfind(b"\n") + 1
        offset += end
        now = time.monotonic()
        for line in data[:end].splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == b"probe":
                arrived_at.setdefault(int(parts[1]), now)

    with socket.create_connection(("127.0.0.1", probe_port)) as probe:
        probe.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(PROBES):
            sent_at[i] = time.monotonic()
            probe.sendall(b"probe %d\n" % i)
            while time.monotonic() < sent_at[i] + 0.02:
                poll_probes()
                time.sleep(0.002)
        deadline = time.monotonic() + 10
        while len(arrived_at) < PROBES and time.monotonic() < deadline:
            poll_probes()
            time.sleep(0.002)
    still_flooding = [not s.done.is_set() for s in senders]
    queued = backlogs(d)
    d.kill()
    for sender in senders:
        sender.done.wait(30)
        sender.close()
    latencies = sorted(arrived_at.get(i, float("inf")) - sent_at[i] for i in range(PROBES))
    p95 = latencies[int(PROBES * 0.95) - 1]
    message = ("probe latency with both parallelized sources waiting: p50 %.0f ms, p95 %.0f ms, max %.0f ms, "
               "%d of %d arrived; senders still sending at the end: %s; queued then: %s"
               % (latencies[PROBES // 2 - 1] * 1000, p95 * 1000, latencies[-1] * 1000, len(arrived_at), PROBES,
                  still_flooding, queued))
    print(message)
    assert all(still_flooding), "the flood ended before the probes did; the test proves nothing: " + message
    assert p95 < 0.2, message


# --- 9. log-fetch-limit() ----------------------------------------------------------------------

@pytest.mark.parametrize("form", ["log", "parser"])
def test_log_fetch_limit_is_accepted_and_delivers(daemon_factory, tmp_path, form):
    options = "workers(2) log-fetch-limit(100)"
    rc, output = syslogng.syntax_check(syslogng.parallelize_options_config(options), str(tmp_path))
    assert rc == 0, output
    port = free_port()
    out = str(tmp_path / "out.log")
    if form == "log":
        d = daemon_factory(tcp_config(port, out, "parallelize(%s);" % options))
    else:
        d = daemon_factory(tcp_config(port, out, "parser { parallelize(%s); };" % options))
    d.start(wait_for_port=port)
    send_and_check(d, port, out, 5000)
    assert d.parallelize_counters("parallelized_processed_events_total")["total"] == 5000


@pytest.mark.parametrize("value", ["0", "-1", "-100"])
def test_log_fetch_limit_below_one_is_refused_naming_the_option(tmp_path, value):
    rc, output = syslogng.syntax_check(
        syslogng.parallelize_options_config("workers(2) log-fetch-limit(%s)" % value), str(tmp_path))
    assert rc != 0, output
    assert "log-fetch-limit" in output, output
    # refused for its value, not as an option nobody knows
    assert "unknown option" not in output, output
