# SPDX-License-Identifier: GPL-2.0-or-later
"""parallelize() in the real daemon: exactly-once delivery, per-key order, spread over workers."""
import os
import time

import pytest

from syslogng import (HOST, free_port, read_sequences, send_lines, syslog_lines, wait_for_lines, count_lines)

MESSAGES = 200_000
HOSTS = 20


def config(port, out, parallelize, extra_log="", source_opts=""):
    return """@version: 3.38
options { stats-level(1); };
log {
  source { tcp(ip(127.0.0.1) port(%(port)d) keep-hostname(yes) log-iw-size(100000) max-connections(10)
               log-fetch-limit(1000) %(source_opts)s); };
  %(parallelize)s
  %(extra_log)s
  destination { file("%(out)s" template("$HOST $MSG\\n")); };
  flags(flow-control);
};
""" % dict(port=port, out=out, parallelize=parallelize, extra_log=extra_log, source_opts=source_opts)


def assert_exactly_once(seqs, total):
    everything = sorted(s for per_key in seqs.values() for s in per_key)
    assert len(everything) == total, "got %d messages, sent %d" % (len(everything), total)
    assert everything == list(range(total)), "lost or duplicated messages"


def assert_in_order_per_key(seqs):
    for key, per_key in seqs.items():
        assert per_key == sorted(per_key), "messages of %r out of order" % key


def run_stream(daemon_factory, tmp_path, parallelize, messages=MESSAGES, extra_log=""):
    port = free_port()
    out = str(tmp_path / "out.log")
    d = daemon_factory(config(port, out, parallelize, extra_log)).start(wait_for_port=port)
    send_lines(port, syslog_lines(messages, hosts=HOSTS))
    got = wait_for_lines(out, messages, daemon=d)
    assert got == messages, d.output()
    return d, out


def test_keyed_stream_arrives_exactly_once_and_in_order_per_host(daemon_factory, tmp_path):
    d, out = run_stream(daemon_factory, tmp_path, 'parallelize(workers(4) partition-key("$HOST"));')
    seqs = read_sequences(out)
    assert len(seqs) == HOSTS
    assert_exactly_once(seqs, MESSAGES)
    assert_in_order_per_key(seqs)

    # the daemon's own counters: every message went through a worker, and more than one worker worked
    processed = d.parallelize_counters("parallelized_processed_events_total")
    assert processed["total"] == MESSAGES
    per_worker = [processed["worker%d" % i] for i in range(4)]
    assert sum(per_worker) == MESSAGES
    assert sum(1 for n in per_worker if n > 0) > 1, per_worker
    assert d.parallelize_counters("parallelized_inline_events_total")["total"] == 0


def test_round_robin_arrives_exactly_once_and_spreads_evenly(daemon_factory, tmp_path):
    d, out = run_stream(daemon_factory, tmp_path, 'parallelize(workers(4));')
    assert_exactly_once(read_sequences(out), MESSAGES)

    processed = d.parallelize_counters("parallelized_processed_events_total")
    per_worker = [processed["worker%d" % i] for i in range(4)]
    assert sum(per_worker) == MESSAGES
    # round-robin in runs of 16 messages: over a stream the shares differ by a few runs at most
    assert max(per_worker) - min(per_worker) <= MESSAGES // 100, per_worker


def test_workers_run_on_their_own_threads(daemon_factory, tmp_path):
    """Per-thread evidence from the kernel: one thread of the module's per worker; each worker did work."""
    n = 20_000
    d, out = run_stream(daemon_factory, tmp_path, 'parallelize(workers(5));', messages=n)
    workers = d.worker_thread_ids()
    assert len(workers) == 5, workers
    counters = d.parallelize_counters("parallelized_processed_events_total")
    assert counters["total"] == n and all(counters["worker%d" % i] > 0 for i in range(5)), counters
    d.stop()

    bypass = tmp_path / "bypass"
    bypass.mkdir()
    d2, _ = run_stream(daemon_factory, bypass, 'parallelize(workers(0));', messages=1000)
    assert d2.worker_thread_ids() == set()


@pytest.mark.parametrize("parallelize", [
    'parallelize(workers(0));',                                    # bypass
    'parallelize(workers(3) batch-size(0));',                      # no size cut
    'parallelize(workers(3) batch-size(1));',                      # every message its own hand-off
    'parallelize(partitions(3) worker-partition-key("$HOST"));',   # the other spellings
    'parallelize(workers(2) partition-key("$(sha1 $HOST)"));',    # a template function
    'parallelize();',                                              # defaults: one worker per CPU
])
def test_option_variants_deliver_everything(daemon_factory, tmp_path, parallelize):
    n = 50_000
    d, out = run_stream(daemon_factory, tmp_path, parallelize, messages=n)
    seqs = read_sequences(out)
    assert_exactly_once(seqs, n)
    if "key" in parallelize or "workers(0)" in parallelize:
        assert_in_order_per_key(seqs)


def test_bypass_has_no_workers_and_no_counters(daemon_factory, tmp_path):
    d, out = run_stream(daemon_factory, tmp_path, 'parallelize(workers(0));', messages=1000)
    assert d.parallelize_counters("parallelized_processed_events_total") == {}


def test_rewrites_and_filters_after_parallelize_run_on_workers(daemon_factory, tmp_path):
    extra = """
  rewrite { set("rewritten-$PROGRAM" value("PROGRAM")); };
  filter { not message("seq=7$"); };
"""
    n = 20_000
    port = free_port()
    out = str(tmp_path / "out.log")
    conf = config(port, out, 'parallelize(workers(3) partition-key("$HOST"));', extra).replace(
        'template("$HOST $MSG\\n")', 'template("$HOST $PROGRAM $MSG\\n")')
    d = daemon_factory(conf).start(wait_for_port=port)
    send_lines(port, syslog_lines(n, hosts=HOSTS))
    expected = n - 1  # seq=7 filtered
    assert wait_for_lines(out, expected, daemon=d) == expected
    with open(out, "rb") as f:
        lines = f.read().splitlines()
    assert all(b" rewritten-app " in line for line in lines)
    assert not any(line.endswith(b"seq=7") for line in lines)


def test_forked_path_both_branches_get_every_message(daemon_factory, tmp_path):
    """The same source in two log paths, only one parallelized, rewrites in both, under load."""
    port = free_port()
    par_out = str(tmp_path / "parallel.log")
    seq_out = str(tmp_path / "sequential.log")
    conf = """@version: 3.38
source s_net { tcp(ip(127.0.0.1) port(%(port)d) keep-hostname(yes) log-iw-size(100000) log-fetch-limit(1000)); };
log {
  source(s_net);
  parallelize(workers(4) partition-key("$HOST"));
  rewrite { set("parallel" value("PROGRAM")); set("P-$MSG" value("MESSAGE")); };
  destination { file("%(par)s" template("$HOST $PROGRAM $MSG\\n")); };
  flags(flow-control);
};
log {
  source(s_net);
  rewrite { set("sequential" value("PROGRAM")); set("S-$MSG" value("MESSAGE")); };
  destination { file("%(seq)s" template("$HOST $PROGRAM $MSG\\n")); };
  flags(flow-control);
};
""" % dict(port=port, par=par_out, seq=seq_out)
    d = daemon_factory(conf).start(wait_for_port=port)
    send_lines(port, syslog_lines(MESSAGES, hosts=HOSTS))
    assert wait_for_lines(par_out, MESSAGES, daemon=d) == MESSAGES
    assert wait_for_lines(seq_out, MESSAGES, daemon=d) == MESSAGES

    for path, program, prefix in ((par_out, b"parallel", b"P-"), (seq_out, b"sequential", b"S-")):
        with open(path, "rb") as f:
            lines = f.read().splitlines()
        assert all(line.split(b" ")[1] == program for line in lines), path
        assert all(line.split(b" ")[2].startswith(prefix) for line in lines), path
        seqs = read_sequences(path)
        assert_exactly_once(seqs, MESSAGES)
        assert_in_order_per_key(seqs)


def test_several_connections_and_sources_feed_one_parallelize(daemon_factory, tmp_path):
    import threading
    port_a, port_b = free_port(), free_port()
    out = str(tmp_path / "out.log")
    conf = """@version: 3.38
log {
  source { tcp(ip(127.0.0.1) port(%(a)d) keep-hostname(yes) log-iw-size(100000) max-connections(10)); };
  source { tcp(ip(127.0.0.1) port(%(b)d) keep-hostname(yes) log-iw-size(100000) max-connections(10)); };
  parallelize(workers(3) partition-key("$HOST"));
  destination { file("%(out)s" template("$HOST $MSG\\n")); };
  flags(flow-control);
};
""" % dict(a=port_a, b=port_b, out=out)
    d = daemon_factory(conf).start(wait_for_port=port_b)
    per_sender = 20_000
    senders = []
    for i, port in enumerate([port_a, port_a, port_a, port_b, port_b]):
        # distinct hosts per connection, so per-key order is defined per sender
        lines = [b"<13>Jan  1 00:00:00 c%dh%d app: c%dh%d seq=%d\n" % (i, n % 7, i, n % 7, i * per_sender + n)
                 for n in range(per_sender)]
        t = threading.Thread(target=send_lines, args=(port, lines))
        t.start()
        senders.append(t)
    for t in senders:
        t.join()
    total = 5 * per_sender
    assert wait_for_lines(out, total, daemon=d) == total
    seqs = read_sequences(out)
    assert_exactly_once(seqs, total)
    assert_in_order_per_key(seqs)


def test_messages_from_the_main_thread_are_delivered(daemon_factory, tmp_path):
    """internal() posts from the main thread, which has no end-of-batch callback."""
    out = str(tmp_path / "internal.log")
    conf = """@version: 3.38
log {
  source { internal(); };
  parallelize(workers(2));
  destination { file("%s" template("$MSG\\n")); };
};
""" % out
    d = daemon_factory(conf, stderr=False).start()
    d.reload()
    assert wait_for_lines(out, 1, timeout=30, daemon=d) >= 1
    d.stop()
    with open(out) as f:
        text = f.read()
    assert "syslog-ng starting up" in text
    assert "Configuration reload" in text


def test_one_parallelize_referenced_from_two_log_paths_is_two_independent_instances(daemon_factory, tmp_path):
    port_a, port_b = free_port(), free_port()
    out_a, out_b = str(tmp_path / "a.log"), str(tmp_path / "b.log")
    conf = """@version: 3.38
parser p_parallel { parallelize(workers(2) partition-key("$HOST")); };
log { source { tcp(ip(127.0.0.1) port(%d) keep-hostname(yes) log-iw-size(100000)); }; parser(p_parallel);
      destination { file("%s" template("$HOST $MSG\\n")); }; flags(flow-control); };
log { source { tcp(ip(127.0.0.1) port(%d) keep-hostname(yes) log-iw-size(100000)); }; parser(p_parallel);
      destination { file("%s" template("$HOST $MSG\\n")); }; flags(flow-control); };
""" % (port_a, out_a, port_b, out_b)
    d = daemon_factory(conf).start(wait_for_port=port_b)
    n = 30_000
    send_lines(port_a, syslog_lines(n, hosts=HOSTS))
    send_lines(port_b, syslog_lines(n, hosts=HOSTS))
    for out in (out_a, out_b):
        assert wait_for_lines(out, n, daemon=d) == n
        seqs = read_sequences(out)
        assert_exactly_once(seqs, n)
        assert_in_order_per_key(seqs)
    # two instances, each with its own counters
    totals = {key[1]: value for key, value in d.stats().items()
              if key[1].startswith("parallelize@") and key[2] == "total"
              and key[3] == "parallelized_processed_events_total"}
    assert len(totals) == 2, totals
    assert sorted(totals.values()) == [n, n]


def test_first_loaded_at_a_reload_workers_deliver(daemon_factory, tmp_path):
    """3.38: loaded at startup, workers take I/O-range thread ids (destination queues were sized for
    them before any existed).  First loaded at a reload, the running config's destination queues may
    be kept, sized for the I/O threads only: the workers must then stay on id -1, and still deliver.
    4.x sizes the ids for every configuration: the workers get theirs after a reload too."""
    port = free_port()
    out = str(tmp_path / "out.log")
    d = daemon_factory(config(port, out, ""), extra_args=["-v"]).start(wait_for_port=port)
    send_lines(port, syslog_lines(20_000, hosts=HOSTS))
    assert wait_for_lines(out, 20_000, daemon=d) == 20_000

    d.write_config(config(port, out, 'parallelize(workers(4) partition-key("$HOST"));'))
    assert d.reload().returncode == 0
    send_lines(port, syslog_lines(50_000, hosts=HOSTS, start=20_000))
    assert wait_for_lines(out, 70_000, daemon=d) == 70_000
    seqs = read_sequences(out)
    assert_exactly_once(seqs, 70_000)
    assert_in_order_per_key(seqs)
    if HOST.v4:
        assert "not enough thread ids" not in d.output()
        assert "exceeds the number of threads estimated" not in d.output()
    else:
        # the table of thread ids was sized at startup, without these workers: they run without one, and say so
        assert "parallelize(): not enough thread ids for every worker" in d.output()
        assert "without_id='4'" in d.output()
    assert d.parallelize_counters("parallelized_processed_events_total")["total"] == 50_000


def test_loaded_at_startup_workers_use_io_range_thread_ids(daemon_factory, tmp_path):
    port = free_port()
    out = str(tmp_path / "out.log")
    d = daemon_factory(config(port, out, 'parallelize(workers(4));'), extra_args=["-v"]).start(wait_for_port=port)
    send_lines(port, syslog_lines(50_000, hosts=HOSTS))
    assert wait_for_lines(out, 50_000, daemon=d) == 50_000
    assert_exactly_once(read_sequences(out), 50_000)
    assert "not enough thread ids" not in d.output()


@pytest.mark.parametrize("statement", [
    'worker-pool(workers(3) partition-key("$HOST"));',
    'parser { worker-pool(workers(3) partition-key("$HOST")); };',
])
def test_worker_pool_is_the_same_element_on_every_host(daemon_factory, tmp_path, statement):
    """worker-pool(): the name no syslog-ng release keeps for itself, in log {} and in parser {}."""
    port = free_port()
    out = str(tmp_path / "out.log")
    d = daemon_factory(config(port, out, statement)).start(wait_for_port=port)
    send_lines(port, syslog_lines(30_000, hosts=HOSTS))
    assert wait_for_lines(out, 30_000, daemon=d) == 30_000
    seqs = read_sequences(out)
    assert_exactly_once(seqs, 30_000)
    assert_in_order_per_key(seqs)
    assert d.parallelize_counters("parallelized_processed_events_total")["total"] == 30_000
