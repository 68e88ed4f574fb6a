# SPDX-License-Identifier: GPL-2.0-or-later
"""Load: one long stream plus four more connections and internal() into one parallelize() at once."""
import os
import time

from syslogng import Sender, SequenceReport, count_lines, free_port, syslog_chunks, wait_for

BIG = int(os.environ.get("PARALLELIZE_LOAD_MESSAGES", 10_000_000))
SMALL = 250_000


def test_big_stream_with_four_more_connections_and_internal(daemon_factory, tmp_path):
    port = free_port()
    out = str(tmp_path / "out.log")
    conf = """@version: 3.38
options { stats-level(1); };
log {
  source { tcp(ip(127.0.0.1) port(%(port)d) keep-hostname(yes) log-iw-size(50000) max-connections(10)
               log-fetch-limit(1000)); };
  source { internal(); };
  parallelize(workers(4) partition-key("$HOST"));
  destination { file("%(out)s" template("$HOST $MSG\\n")); };
  flags(flow-control);
};
""" % dict(port=port, out=out)
    # stderr=False: the daemon's own messages (connections opened and closed) go to internal()
    d = daemon_factory(conf, stderr=False).start(wait_for_port=port)
    started = time.time()
    senders = [Sender(port, syslog_chunks(BIG, hosts=20)).start()]
    for i in range(4):
        # per-connection hosts, so per-key order is defined per sender
        senders.append(Sender(port, syslog_chunks(SMALL, hosts=7, start=BIG + i * SMALL,
                                                  host_prefix=b"c%dh" % i)).start())
    for s in senders:
        s.join(timeout=1800)
    total = BIG + 4 * SMALL
    wait_for(lambda: d.counter("src.tcp", "processed") >= total, timeout=600, interval=0.5, daemon=d,
             what="all read")
    d.stop()
    elapsed = time.time() - started

    report = SequenceReport(total)
    internal = []
    with open(out, "rb") as f:
        for line in f:
            report.feed_line(line)
            if b" seq=" not in line:
                internal.append(line)
    print("load: %d + 4 x %d messages and %d internal ones in %.1fs: %s" % (BIG, SMALL, len(internal), elapsed,
                                                                           report))
    assert report.foreign == len(internal)
    report.assert_exactly_once_in_order()
    # the five connections opening and closing were logged through internal() and parallelize()
    assert sum(1 for l in internal if b"connection accepted" in l) >= 5, internal[:20]
