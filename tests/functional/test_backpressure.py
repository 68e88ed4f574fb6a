# SPDX-License-Identifier: GPL-2.0-or-later
"""Back-pressure through parallelize(): a stalled destination slows the sender and bounds memory;
without flow control it drops like syslog-ng does without parallelize(), never worse."""
import os
import time

import pytest

from syslogng import (Sender, StalledListener, check_sequences, count_lines, free_port, proc_status,
                      syslog_chunks, wait_for)

HOSTS = 20


def config(port, dest_port, parallelize, flow_control=True, iw_size=10_000, fifo_size=10_000):
    return """@version: 3.38
options { stats-level(1); };
log {
  source { tcp(ip(127.0.0.1) port(%(port)d) keep-hostname(yes) log-iw-size(%(iw)d) log-fetch-limit(1000)); };
  %(parallelize)s
  destination { tcp("127.0.0.1" port(%(dest)d) log-fifo-size(%(fifo)d) template("$HOST $MSG\\n")); };
  %(flags)s
};
""" % dict(port=port, dest=dest_port, parallelize=parallelize, iw=iw_size, fifo=fifo_size,
           flags="flags(flow-control);" if flow_control else "")


def test_stalled_destination_blocks_the_sender_and_bounds_memory(daemon_factory, tmp_path):
    total = int(os.environ.get("PARALLELIZE_BACKPRESSURE_MESSAGES", 2_000_000))
    out = str(tmp_path / "received.log")
    listener = StalledListener(out)
    try:
        port = free_port()
        d = daemon_factory(config(port, listener.port, 'parallelize(workers(4) partition-key("$HOST"));')).start(
            wait_for_port=port)
        rss_start = d.rss_kb()
        sender = Sender(port, syslog_chunks(total, hosts=HOSTS)).start()
        wait_for(lambda: listener.connections, timeout=30, daemon=d, what="destination connected")

        # the sender stalls: its progress stops well before the end of the stream
        samples = []
        stalled_since, last = None, -1
        deadline = time.time() + 120
        while time.time() < deadline:
            samples.append(d.rss_kb())
            if sender.sent == last:
                stalled_since = stalled_since or time.time()
                if time.time() - stalled_since > 2:
                    break
            else:
                stalled_since, last = None, sender.sent
            time.sleep(0.1)
        stalled_at = sender.sent
        assert not sender.done.is_set() and stalled_since, "the sender was never slowed down"
        stream_bytes = sum(len(c) for c in syslog_chunks(total, hosts=HOSTS))
        assert stalled_at < stream_bytes // 4, (stalled_at, stream_bytes)
        read_by_daemon = d.counter("src.tcp", "processed")
        peak = max(samples)

        listener.resume()
        sender.join(timeout=600)
        wait_for(lambda: count_lines(out) >= total, timeout=600, interval=0.5, daemon=d, what="everything")
        samples.append(d.rss_kb())
        report = check_sequences(out, total)
        print("back-pressure: sender stalled after %d of %d bytes; daemon had read %d messages; "
              "VmRSS start %d kB, peak while stalled %d kB, after %d kB; VmHWM %d kB; %s"
              % (stalled_at, stream_bytes, read_by_daemon, rss_start, peak, d.rss_kb(),
                 proc_status(d.pid(), "VmHWM"), report))
        report.assert_exactly_once_in_order()
        # 2M messages in memory would take hundreds of MB; the windows allow some 10k (a few MB)
        assert peak - rss_start < 64 * 1024, (rss_start, peak)
        assert proc_status(d.pid(), "VmHWM") < 128 * 1024
    finally:
        listener.close()


def run_without_flow_control(daemon_factory, tmp_path, parallelize, total):
    out = str(tmp_path / ("received-%d.log" % free_port()))
    listener = StalledListener(out)
    try:
        port = free_port()
        d = daemon_factory(config(port, listener.port, parallelize, flow_control=False, fifo_size=1000)).start(
            wait_for_port=port)
        Sender(port, syslog_chunks(total, hosts=HOSTS)).start().join(timeout=300)
        # the sender is not held back: the daemon read everything and dropped what did not fit
        wait_for(lambda: d.counter("src.tcp", "processed") == total, timeout=120, daemon=d, what="all read")
        dropped_stalled = d.counter("dst.tcp", "dropped")
        listener.resume()
        wait_for(lambda: d.counter("dst.tcp", "queued") == 0 and count_lines(out) + d.counter("dst.tcp", "dropped")
                 >= total, timeout=120, daemon=d, what="queue drained")
        stats = dict(dropped=d.counter("dst.tcp", "dropped"), written=d.counter("dst.tcp", "written"),
                     processed=d.counter("dst.tcp", "processed"), dropped_while_stalled=dropped_stalled)
        d.stop()
        report = check_sequences(out, total)
        return stats, report
    finally:
        listener.close()


def test_without_flow_control_drops_like_plain_syslog_ng(daemon_factory, tmp_path):
    total = 200_000
    plain, plain_report = run_without_flow_control(daemon_factory, tmp_path, "", total)
    par, par_report = run_without_flow_control(daemon_factory, tmp_path,
                                               'parallelize(workers(4) partition-key("$HOST"));', total)
    print("no flow control: plain %s %s; parallelize %s %s" % (plain, plain_report, par, par_report))
    for stats, report in ((plain, plain_report), (par, par_report)):
        # every message is either written once or counted as dropped; nothing vanishes uncounted
        assert report.duplicates == 0 and report.out_of_order == 0
        assert report.delivered + stats["dropped"] == total, (stats, report)
        assert stats["dropped"] > 0
    # the destination queue (log-fifo-size) is the limit in both: the same order of magnitude is kept
    assert par_report.delivered >= plain_report.delivered * 0.5, (plain, par)


def test_a_source_far_ahead_of_slow_workers_waits_for_them(daemon_factory, tmp_path):
    """With a window far larger than needed, the source does not read (and parse into memory)
    everything the sender offers while the workers lag: once a worker it fed has 20 batches
    (2000 messages at batch-size 100) waiting, the source waits until some worker is down to
    half, and never leaves one above four times the mark (a skewed key may load one worker more)."""
    from syslogng import wait_for_lines
    from test_lifecycle import SLOW_PATH, tcp_config
    total = 300_000
    port = free_port()
    out = str(tmp_path / "out.log")
    d = daemon_factory(tcp_config(port, out, 'parallelize(workers(2) partition-key("$HOST"));', SLOW_PATH,
                                  iw_size=1_000_000)).start(wait_for_port=port)
    sender = Sender(port, syslog_chunks(total, hosts=20)).start()
    deepest = 0
    while not sender.done.is_set() or d.parallelize_counters("parallelized_queued_events").get("total", 0) > 0:
        deepest = max(deepest, d.parallelize_counters("parallelized_queued_events").get("total", 0))
        time.sleep(0.01)
    sender.join(timeout=60)
    assert wait_for_lines(out, total, daemon=d) == total
    check_sequences(out, total).assert_exactly_once_in_order()
    # per worker: the hard mark (4 x 2000), plus what one fetch (log-fetch-limit(1000)) adds before the check
    print("deepest backlog in parallelize(): %d" % deepest)
    assert 0 < deepest <= 2 * (4 * 2000 + 1000), deepest
