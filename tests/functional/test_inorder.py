# SPDX-License-Identifier: GPL-2.0-or-later
"""in-order(): messages leave in the order they reached parallelize(), across workers, filters, forks, reloads."""
import filecmp
import os
import socket
import time

import pytest

from syslogng import (Sender, SequenceReport, check_sequences, count_lines, free_port, syslog_chunks, wait_for,
                      wait_for_lines)

HOSTS = 20

# a JSON body, parsed and rendered again on the workers (a cheap cousin of bench/heavy.conf)
JSON_PATH = """
  parser { json-parser(prefix(".json.") template("$(format-json seq=${SEQ} host=${HOST} pad=${PAD})")); };
  rewrite { set("$(sha1 --length 12 ${.json.host}${.json.seq}) ${.json.seq}" value("DIGEST")); };
"""


def tcp_config(port, out, middle, extra_log="", iw_size=50_000, fetch_limit=1000, template="$HOST $MSG\\n",
               extra_top=""):
    return """@version: 3.38
options { stats-level(1); log-fifo-size(%(iw)d); };
source s_net { tcp(ip(127.0.0.1) port(%(port)d) keep-hostname(yes) log-iw-size(%(iw)d) max-connections(10)
                   log-fetch-limit(%(fl)d)); };
%(extra_top)s
log {
  source(s_net);
  %(middle)s
  destination { file("%(out)s" template("%(template)s")); };
  flags(flow-control);
};
""" % dict(port=port, out=out, middle=middle, extra_log=extra_log, iw=iw_size, fl=fetch_limit, template=template,
           extra_top=extra_top)


def global_order(path, total):
    """Every seq exactly once, and the whole file in seq order (not only per host)."""
    report = SequenceReport(total)
    prev = -1
    global_out_of_order = 0
    with open(path, "rb") as f:
        for line in f:
            report.feed_line(line)
            seq = int(line.rsplit(b"seq=", 1)[1].split()[0]) if b"seq=" in line else -1
            if seq < prev:
                global_out_of_order += 1
            prev = seq
    return report, global_out_of_order


def run_stream(daemon_factory, tmp_path, name, config_for, total, outputs=("out",), senders=1, wait_lines=None,
               **daemon_args):
    """Start a daemon with config_for(port, {name: path}), send total lines per sender, wait, stop."""
    port = free_port()
    outs = {o: str(tmp_path / ("%s-%s.log" % (name, o))) for o in outputs}
    d = daemon_factory(config_for(port, outs), **daemon_args).start(wait_for_port=port)
    threads = [Sender(port, syslog_chunks(total, hosts=1 if senders > 1 else HOSTS,
                                          host_prefix=b"conn%d-" % i if senders > 1 else b"host")).start()
               for i in range(senders)]
    for t in threads:
        t.join(timeout=600)
    for o, path in outs.items():
        want = (wait_lines or {}).get(o, total * senders)
        assert wait_for_lines(path, want, timeout=600, daemon=d) >= want, d.output()[-3000:]
    assert d.stop() == 0
    return outs, d


def simple(middle, template="$HOST $MSG\\n"):
    return lambda port, outs: tcp_config(port, outs["out"], middle, template=template)


def test_without_in_order_the_order_breaks(daemon_factory, tmp_path):
    """The check below can fail: four workers alone do not keep the global order."""
    total = 100_000
    outs, _ = run_stream(daemon_factory, tmp_path, "plain", simple("parallelize(workers(4));" + JSON_PATH), total)
    report, out_of_order = global_order(outs["out"], total)
    assert report.missing == 0 and report.duplicates == 0
    assert out_of_order > 0, "workers(4) kept the order by chance; the in-order() tests prove nothing here"


# the measure: a million messages over one connection, each test (plain and ordered runs)
MILLION = 1_000_000

JSON_TEMPLATE = "${.json.host} ${.json.msg} ${DIGEST}\\n"
JSON_PARSE = """
  parser { json-parser(prefix(".json.") template("$(format-json host=${HOST} msg=${MSG})")); };
  rewrite { set("$(sha1 --length 12 ${.json.msg})" value("DIGEST")); };
"""


def test_one_connection_output_is_byte_identical_to_the_plain_path(daemon_factory, tmp_path):
    total = MILLION
    plain, _ = run_stream(daemon_factory, tmp_path, "plain", simple(JSON_PARSE, JSON_TEMPLATE), total)
    ordered, _ = run_stream(daemon_factory, tmp_path, "ordered",
                            simple("parallelize(workers(4));" + JSON_PARSE + "in-order();", JSON_TEMPLATE), total)
    report, out_of_order = global_order(ordered["out"], total)
    print(report, out_of_order)
    assert out_of_order == 0, report
    assert filecmp.cmp(plain["out"], ordered["out"], shallow=False)


# drops the messages whose sequence number ends in 0, 1 or 2: three in ten
DROP_A_THIRD = 'filter { not message("seq=[0-9]*[012]$"); };'


def test_a_filter_dropping_a_third_holds_nothing_back(daemon_factory, tmp_path):
    total = MILLION
    expected = total * 7 // 10
    plain, _ = run_stream(daemon_factory, tmp_path, "plain", simple(JSON_PARSE + DROP_A_THIRD, JSON_TEMPLATE),
                          total, wait_lines={"out": expected})
    ordered, _ = run_stream(
        daemon_factory, tmp_path, "ordered",
        simple("parallelize(workers(4));" + JSON_PARSE + DROP_A_THIRD + "in-order();", JSON_TEMPLATE), total,
        wait_lines={"out": expected})
    assert count_lines(ordered["out"]) == expected
    assert filecmp.cmp(plain["out"], ordered["out"], shallow=False)


def junction_config(port, outs, ordered):
    return tcp_config(port, outs["out"], """
  %s
  %s
  junction {
    channel { rewrite { set("A" value("BRANCH")); }; };
    channel { rewrite { set("B" value("BRANCH")); }; filter { not message("seq=[0-9]*[0]$"); }; };
  };
  %s""" % ("parallelize(workers(4));" if ordered else "", JSON_PARSE, "in-order();" if ordered else ""),
                      template="$BRANCH " + JSON_TEMPLATE)


def test_a_forked_message_keeps_its_place_in_each_branch(daemon_factory, tmp_path):
    total = MILLION
    expected = {"out": total * 2 - total // 10}
    plain, _ = run_stream(daemon_factory, tmp_path, "plain", lambda p, o: junction_config(p, o, False), total,
                          wait_lines=expected)
    ordered, _ = run_stream(daemon_factory, tmp_path, "ordered", lambda p, o: junction_config(p, o, True), total,
                            wait_lines=expected)
    assert count_lines(ordered["out"]) == expected["out"]
    assert filecmp.cmp(plain["out"], ordered["out"], shallow=False)


def test_several_connections_and_internal_keep_each_connection_in_order(daemon_factory, tmp_path):
    total = 100_000
    senders = 3

    def config(port, outs):
        return tcp_config(port, outs["out"], "parallelize(workers(4));" + JSON_PARSE + "in-order();",
                          template="$HOST $MSG\\n", extra_top="source s_int { internal(); };").replace(
                              "source(s_net);", "source(s_net); source(s_int);")

    # internal() messages (startup, connections) share the path
    # (with stderr=False: on stderr, syslog-ng's own messages skip internal())
    outs, d = run_stream(daemon_factory, tmp_path, "conns", config, total, senders=senders, stderr=False)
    report = SequenceReport(total)
    with open(outs["out"], "rb") as f:
        for line in f:
            if b"seq=" in line:
                report.feed_line(line)
    # every connection sent seq 0..total-1 under its own key: each key in order, total * senders lines
    assert report.out_of_order == 0, report
    assert report.lines == total * senders and len(report.last) == senders, report
    with open(outs["out"], "rb") as f:
        assert any(b"connection accepted" in line for line in f), "internal() messages passed too"


# the path after parallelize() made expensive, so that the workers fall behind and the stage fills
SLOW_PATH = "rewrite { %s };" % " ".join(
    'set("$(sha1 $MSG)$(sha1 $PROGRAM $MSG)" value("slow%d"));' % i for i in range(4))


def received(d):
    return d.counter("src.tcp", "processed", id_prefix="s_net#")


def test_ten_reloads_mid_stream_keep_exactly_once_and_the_global_order(daemon_factory, tmp_path):
    total = 500_000
    reloads = 10
    port = free_port()
    out = str(tmp_path / "out.log")
    d = daemon_factory(tcp_config(port, out, "parallelize(workers(4));" + JSON_PARSE + "in-order();")).start(
        wait_for_port=port)
    sender = Sender(port, syslog_chunks(total, hosts=HOSTS)).start()
    for i in range(1, reloads + 1):
        wait_for(lambda: received(d) >= total * i // (reloads + 1), timeout=300, daemon=d, what="reload point")
        d.reload_ok()
    sender.join(timeout=300)
    assert wait_for_lines(out, total, timeout=300, daemon=d) == total, d.output()[-3000:]
    assert d.output().count("Configuration reload finished") == reloads
    report, out_of_order = global_order(out, total)
    print("reloads:", report, out_of_order)
    report.assert_exactly_once_in_order()
    assert out_of_order == 0
    assert "still waiting at shutdown" not in d.output()


def test_sigterm_with_messages_waiting_delivers_them_once_in_order(daemon_factory, tmp_path):
    total = 300_000
    port = free_port()
    out = str(tmp_path / "out.log")
    d = daemon_factory(tcp_config(port, out, "parallelize(workers(4));" + SLOW_PATH + "in-order();",
                                  iw_size=total + 10_000)).start(wait_for_port=port)
    sender = Sender(port, syslog_chunks(total, hosts=HOSTS)).start()
    wait_for(lambda: d.parallelize_counters("parallelized_queued_events").get("total", 0) > 1000
             and d.parallelize_counters("in_order_waiting_events").get("total", 0) > 0
             and received(d) > total // 10, timeout=120, interval=0.01, daemon=d,
             what="a backlog in the workers and messages waiting in in-order()")
    read_before = received(d)
    waiting = d.parallelize_counters("in_order_waiting_events")["total"]
    most = d.parallelize_counters("in_order_max_waiting_events")["total"]
    head_wait = d.parallelize_counters("in_order_head_wait_max_us")["total"]
    assert d.stop() == 0
    assert sender.done.wait(60)
    sender.close()
    report, out_of_order = global_order(out, total)
    print("sigterm: %d read before, %d waiting in in-order() (at most %d, head waited up to %dus); %s"
          % (read_before, waiting, most, head_wait, report))
    assert 0 < waiting <= most and head_wait > 0
    assert report.delivered >= read_before, "messages read before SIGTERM were lost"
    assert report.prefix_length() == report.delivered
    assert report.duplicates == 0 and out_of_order == 0
    assert "still waiting at shutdown" not in d.output()


def test_without_parallelize_in_order_warns_and_passes_messages(daemon_factory, tmp_path):
    total = 10_000
    outs, d = run_stream(daemon_factory, tmp_path, "alone", simple("parser { in-order(); };"), total)
    assert "in-order(): no parallelize() before it" in d.output()
    check_sequences(outs["out"], total).assert_exactly_once_in_order()
