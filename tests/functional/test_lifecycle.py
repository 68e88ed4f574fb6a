# SPDX-License-Identifier: GPL-2.0-or-later
"""parallelize() across reload and shutdown: nothing lost, nothing duplicated, per-key order kept."""
import itertools
import os
import re
import threading
import time

from syslogng import (Sender, check_sequences, count_lines, free_port, syslog_chunks, wait_for, wait_for_lines)

HOSTS = 20
SENDERS = 3


def tcp_config(port, out, parallelize, extra_log="", iw_size=100_000, witness=None, dest_options=""):
    """One tcp() source with keep-hostname(yes) and flow control; optionally a second, plain path (the witness)."""
    witness_path = ""
    if witness:
        witness_path = """
log { source(s_net); destination { file("%s" template("$HOST $MSG\\n")); }; flags(flow-control); };
""" % witness
    return """@version: 3.38
options { stats-level(1); log-fifo-size(%(iw)d); };
source s_net { tcp(ip(127.0.0.1) port(%(port)d) keep-hostname(yes) log-iw-size(%(iw)d) max-connections(10)
                   log-fetch-limit(1000)); };
log {
  source(s_net);
  %(parallelize)s
  %(extra_log)s
  destination { file("%(out)s" template("$HOST $MSG\\n") %(dest_options)s); };
  flags(flow-control);
};
%(witness)s
""" % dict(port=port, out=out, parallelize=parallelize, extra_log=extra_log, iw=iw_size, witness=witness_path,
           dest_options=dest_options)


# the path after parallelize() made expensive: many template functions per message, on the workers
SLOW_PATH = "rewrite { %s };" % " ".join(
    'set("$(sha1 $MSG)$(sha1 $PROGRAM $MSG)$(sha1 $HOST $MSG $SEQNUM)" value("slow%d"));' % i for i in range(6))


def received(d):
    """Messages the tcp() source has read so far (the counter survives reloads)."""
    return d.counter("src.tcp", "processed", id_prefix="s_net#")


def connection_log(d, client_port):
    text = d.output()
    pattern = "client='AF_INET(127.0.0.1:%d)'" % client_port
    accepted = [l for l in text.splitlines() if "connection accepted" in l and pattern in l]
    closed = [l for l in text.splitlines() if "connection closed" in l and pattern in l]
    return accepted, closed


def test_ten_reloads_mid_stream_lose_and_duplicate_nothing(daemon_factory, tmp_path):
    total = int(os.environ.get("PARALLELIZE_RELOAD_MESSAGES", 1_000_000))
    reloads = 10
    port = free_port()
    out = str(tmp_path / "out.log")
    d = daemon_factory(tcp_config(port, out, 'parallelize(workers(4) partition-key("$HOST"));')).start(
        wait_for_port=port)
    sender = Sender(port, syslog_chunks(total, hosts=HOSTS)).start()
    started = time.time()
    at = []
    for i in range(1, reloads + 1):
        # spread the reloads over the stream, each at a point where messages are in flight
        wait_for(lambda: received(d) >= total * i // (reloads + 1), timeout=300, daemon=d,
                 what="reload point %d" % i)
        at.append(received(d))
        d.reload_ok()
    sender.join(timeout=300)
    assert wait_for_lines(out, total, timeout=300, daemon=d) == total, d.output()[-3000:]
    elapsed = time.time() - started

    # the one TCP connection survived every reload: accepted once, closed once (by the sender, at its end);
    # the sender never reconnects, so a connection lost at a reload would have failed sendall() above
    accepted, closed = connection_log(d, sender.local_port)
    assert len(accepted) == 1 and len(closed) <= 1, (accepted, closed)
    assert d.output().count("Configuration reload finished") == reloads

    report = check_sequences(out, total)
    print("reload test: %d messages, reloads at %s, %.1fs, %s" % (total, at, elapsed, report))
    report.assert_exactly_once_in_order()
    assert len(report.last) == HOSTS


def doubled_chunks_until(stop, numbers, hosts, start, step, per_second=15_000, lines_per_chunk=2000):
    """Numbers start, start + step, ... until stop is set, at most per_second of them a second,
    every line twice in a row (to the same worker, as the key is the host); each chunk's numbers
    go into `numbers` before it is sent."""
    n, began = start, time.monotonic()
    for sent_chunks in itertools.count():
        if stop.is_set():
            return
        time.sleep(max(0.0, began + sent_chunks * lines_per_chunk / per_second - time.monotonic()))
        chunk = range(n, n + step * lines_per_chunk, step)
        n = chunk.stop
        numbers.update(chunk)
        yield b"".join(b"<13>Jan  1 00:00:00 host%d app: host%d seq=%d\n" % (k % hosts, k % hosts, k) * 2
                       for k in chunk)


def numbers_written(path):
    """The seq= numbers of the lines in path (the destination's own "repeated" lines have none)."""
    seen = set()
    with open(path, "rb") as f:
        for line in f:
            m = re.search(rb" seq=(\d+)$", line)
            if m:
                seen.add(int(m.group(1)))
    return seen


def test_reloads_while_the_workers_move_a_destinations_timer(daemon_factory, tmp_path):
    """A destination's suppress() and MARK timers are moved by whichever thread pushes into it,
    with an asynchronous call to the main thread whose call site lives in that thread's
    thread-local storage: here a worker's.  On 3.35 a worker left at a reload with such a call
    still queued, and the main thread later took the call site of a thread that was gone
    (SIGSEGV in main_loop_call_handler() right after the reload).  Every line comes twice, so
    each line moves the timer, and reloads follow each other while the stream runs.  Before the
    fix this crashed 3.35.1 in 11 of 11 runs, after 3 to 146 completed reloads."""
    reloads = int(os.environ.get("PARALLELIZE_TIMER_RELOADS", 150))
    port = free_port()
    out = str(tmp_path / "out.log")
    d = daemon_factory(tcp_config(port, out, 'parallelize(workers(2) partition-key("$HOST"));',
                                  extra_log='parser { kv-parser(prefix(".kv.")); };', iw_size=20_000,
                                  dest_options="suppress(30)")).start(wait_for_port=port)
    # the daemon's main thread (its thread id is the process id) runs last where the cores are
    # busy, as on a loaded machine: the calls the workers queue for it wait longer
    os.sched_setscheduler(d.proc.pid, os.SCHED_IDLE, os.sched_param(0))
    # the stream runs until the last reload, however fast the machine
    stop, sent = threading.Event(), set()
    senders = [Sender(port, doubled_chunks_until(stop, sent, HOSTS, k, SENDERS)).start() for k in range(SENDERS)]
    for done in range(reloads):
        time.sleep(0.15)
        assert all(s.thread.is_alive() for s in senders)
        try:
            d.reload_ok()
        except AssertionError:
            print("reload %d of the stream failed" % (done + 1))
            raise
    stop.set()
    for sender in senders:
        sender.join(timeout=300)
    wait_for(lambda: received(d) >= 2 * len(sent), timeout=300, daemon=d, what="the source to read everything")

    # each line's first copy is written, its second too or suppressed (and counted in a
    # "repeated" line): every number arrives, none is lost at a reload
    def every_number():
        seen = numbers_written(out)
        return seen if len(seen) >= len(sent) else None
    seen = wait_for(every_number, timeout=120, interval=0.5, daemon=d, what="every number in the output")
    print("timer reloads: %d lines, %d reloads" % (2 * len(sent), reloads))
    assert seen == sent
    assert d.output().count("Configuration reload finished") == reloads, d.output()[-3000:]


def test_reload_changes_worker_count_and_back(daemon_factory, tmp_path):
    total = 300_000
    port = free_port()
    out = str(tmp_path / "out.log")
    confs = [tcp_config(port, out, 'parallelize(workers(%d) partition-key("$HOST"));' % n) for n in (4, 2, 4)]
    d = daemon_factory(confs[0]).start(wait_for_port=port)
    sender = Sender(port, syslog_chunks(total, hosts=HOSTS)).start()
    changes = []
    for i, conf in enumerate(confs[1:], start=1):
        wait_for(lambda: received(d) >= total * i // 3, timeout=120, daemon=d, what="reload point")
        before = d.worker_thread_ids()
        d.write_config(conf)
        d.reload_ok()
        after = d.worker_thread_ids()
        changes.append((len(before - after), len(after - before)))
    sender.join(timeout=120)
    assert wait_for_lines(out, total, timeout=120, daemon=d) == total

    # every worker thread of the old config is gone, the new config's are new threads
    assert changes == [(4, 2), (2, 4)], changes
    workers = {k for k in d.parallelize_counters("parallelized_processed_events_total") if k != "total"}
    assert workers == {"worker0", "worker1", "worker2", "worker3"}
    check_sequences(out, total).assert_exactly_once_in_order()


def test_sigterm_with_full_worker_queues_delivers_everything_read(daemon_factory, tmp_path):
    """SIGTERM while the (slow) workers hold a backlog: everything the source had read by then
    reaches the destination, exactly once, in order.  (The source cannot read the whole stream
    ahead: it waits once a worker is far behind, so the backlog is what the workers hold.)"""
    total = 100_000
    port = free_port()
    out = str(tmp_path / "out.log")
    d = daemon_factory(tcp_config(port, out, 'parallelize(workers(2) partition-key("$HOST"));', SLOW_PATH,
                                  iw_size=total + 10_000)).start(wait_for_port=port)
    sender = Sender(port, syslog_chunks(total, hosts=HOSTS)).start()
    wait_for(lambda: d.parallelize_counters("parallelized_queued_events").get("total", 0) > 1000
             and received(d) > total // 10, timeout=120, interval=0.01, daemon=d, what="a backlog in the workers")
    queued = d.parallelize_counters("parallelized_queued_events").get("total", 0)
    read_before = received(d)
    written_before = count_lines(out)
    assert d.stop() == 0
    assert sender.done.wait(60)  # the daemon is gone: the sender ends with a broken pipe or a reset
    sender.close()
    report = check_sequences(out, total)
    print("sigterm: %d read, %d queued in parallelize() and %d written just before SIGTERM; after exit: %s"
          % (read_before, queued, written_before, report))
    assert queued > 1000 and written_before < read_before, "the workers were not behind; the test proves nothing"
    assert report.delivered >= read_before, "messages read before SIGTERM were lost"
    # TCP is in order: what was read is a prefix of the stream, and all of it was written
    assert report.prefix_length() == report.delivered
    assert report.duplicates == 0 and report.out_of_order == 0


def test_sigterm_mid_stream_delivers_what_a_plain_path_delivers(daemon_factory, tmp_path):
    """SIGTERM while the sender is still sending: the parallelized path holds exactly what a plain
    path from the same source (the witness: every message the daemon read) holds."""
    total = 2_000_000
    port = free_port()
    out = str(tmp_path / "out.log")
    witness = str(tmp_path / "witness.log")
    d = daemon_factory(tcp_config(port, out, 'parallelize(workers(2) partition-key("$HOST"));', SLOW_PATH,
                                  iw_size=50_000, witness=witness)).start(wait_for_port=port)
    sender = Sender(port, syslog_chunks(total, hosts=HOSTS)).start()
    # a moment when the workers hold a backlog (how deep depends on the machine)
    wait_for(lambda: d.parallelize_counters("parallelized_queued_events").get("total", 0) > 500
             and received(d) > 100_000, timeout=120, interval=0.01, daemon=d, what="queues filling")
    assert d.stop() == 0
    assert sender.done.wait(60)  # the daemon is gone: the sender ends with a broken pipe or a reset
    sender.close()
    plain = check_sequences(witness, total)
    parallel = check_sequences(out, total)
    print("sigterm mid-stream: witness %s; parallelized %s" % (plain, parallel))
    assert 0 < plain.delivered < total
    # TCP is in order: the daemon read a prefix of the stream
    assert plain.prefix_length() == plain.delivered
    assert parallel.seen == plain.seen, "parallelized path lost or gained messages the daemon read"
    assert parallel.duplicates == 0 and parallel.out_of_order == 0


def file_config(src, out, parallelize, extra_log=""):
    return """@version: 3.38
options { stats-level(1); };
log {
  source { file("%(src)s" follow-freq(0.1) log-iw-size(10000) log-fetch-limit(1000) flags(no-parse)); };
  %(parallelize)s
  %(extra_log)s
  destination { file("%(out)s" template("$MSG\\n")); };
  flags(flow-control);
};
""" % dict(src=src, out=out, parallelize=parallelize, extra_log=extra_log)


def test_file_source_stop_mid_file_and_start_again(daemon_factory, tmp_path):
    total = 300_000
    src = str(tmp_path / "in.log")
    out = str(tmp_path / "out.log")
    with open(src, "wb") as f:
        for chunk in syslog_chunks(total, hosts=HOSTS):
            f.write(chunk)
    conf = file_config(src, out, 'parallelize(workers(2) partition-key("$(substr $MSG 0 6)"));', SLOW_PATH)
    d = daemon_factory(conf).start()
    stops = []
    for _ in range(3):
        # stop somewhere in the middle of the file, while messages are queued on the workers
        mark = count_lines(out) + total // 5
        wait_for(lambda: count_lines(out) >= mark, timeout=120, daemon=d, what="progress")
        stops.append((count_lines(out), d.parallelize_counters("parallelized_queued_events").get("total", 0)))
        assert d.stop() == 0
        d.start()
    wait_for(lambda: check_sequences(out, total).missing == 0, timeout=180, interval=1, daemon=d,
             what="every line")
    report = check_sequences(out, total)
    print("file source: stops at (written, queued) %s: %s" % (stops, report))
    assert report.missing == 0, report
    assert report.duplicates == 0, report
