# SPDX-License-Identifier: GPL-2.0-or-later
"""What an operator decides from: busy time (utilization), how long messages wait for a worker, the key's
skew, all under a name() that survives config edits, and on 4.x in `syslog-ng-ctl stats prometheus`."""
import re
import socket
import threading
import time

import pytest

from syslogng import HOST, Sender, free_port, send_lines, syntax_check, syslog_lines, wait_for, wait_for_lines

WAIT_BUCKETS = ["le_100us", "le_1ms", "le_10ms", "le_100ms", "le_inf"]
PROMETHEUS_LE = ["0.0001", "0.001", "0.01", "0.1", "+Inf"]


def config(port, out, element, path="", source_opts="log-iw-size(100000) log-fetch-limit(1000)"):
    return """@version: 3.38
options { stats-level(1); };
log {
  source { tcp(ip(127.0.0.1) port(%d) keep-hostname(yes) max-connections(10) %s); };
  %s
  %s
  destination { file("%s" template("$HOST $MSG\\n")); };
  flags(flow-control);
};
""" % (port, source_opts, element, path, out)


def counters(d, name, instance="total"):
    """{stats id: value} of one counter of every parallelize() instance"""
    return {key[1]: value for key, value in d.stats().items()
            if key[0] == "parser" and key[1].startswith("parallelize@") and key[2] == instance and key[3] == name}


def only(values):
    assert len(values) == 1, values
    return values[0]


def counter(d, name, instance="total"):
    """one counter of the one parallelize() instance"""
    values = list(counters(d, name, instance).values())
    assert len(values) == 1, (name, instance, d.ctl("stats").stdout)
    return values[0]


def wait_buckets(d):
    return [counter(d, "parallelized_wait_%s_events_total" % b) for b in WAIT_BUCKETS]


def assert_buckets_hold_every_message_taken(d):
    buckets = wait_buckets(d)
    processed = counter(d, "parallelized_processed_events_total")
    assert buckets == sorted(buckets), "cumulative buckets must not shrink: %s" % buckets
    # every message a worker took is in le_inf, and each lands in exactly one range
    ranges = [buckets[0]] + [b - a for a, b in zip(buckets, buckets[1:])]
    assert buckets[-1] == sum(ranges) == processed, (buckets, processed)
    return buckets


def probe_worker(d, port, host, workers):
    """Which worker a key goes to: send one message and see whose assigned counter moves."""
    before = [counter(d, "parallelized_assigned_events_total", "worker%d" % w) for w in range(workers)]
    send_lines(port, [b"<13>Jan  1 00:00:00 %s app: probe\n" % host])
    moved = wait_for(lambda: [w for w in range(workers)
                              if counter(d, "parallelized_assigned_events_total", "worker%d" % w) > before[w]],
                     daemon=d, what="the probe to be assigned")
    return moved[0]


def hosts_per_worker(d, port, workers):
    """A host name for each worker of a keyed (partition-key("$HOST")) instance."""
    found = {}
    for i in range(200):
        if len(found) == workers:
            return found
        host = b"probe%d" % i
        found.setdefault(probe_worker(d, port, host, workers), host)
    raise AssertionError("no host found for some worker: %s" % found)


# every message costs the worker about a millisecond: 20 hashes of 8 copies of a 2 KiB body
BUSY_PATH = "\n  ".join('rewrite { set("$(sha1 $MSG $MSG $MSG $MSG $MSG $MSG $MSG $MSG)" value("H%d")); };' % i
                        for i in range(20))


def test_a_busy_worker_reads_near_one_and_an_idle_one_near_zero(daemon_factory, tmp_path):
    """Utilization is rate(busy_microseconds_total): a worker with a backlog all the time reads ~1, one that
    gets a message now and then reads ~0.  The messages of the busy one wait long, the idle one's do not."""
    port = free_port()
    out = str(tmp_path / "out.log")
    # busy time is accounted as a worker takes each batch: small batches, so that a sample is at most
    # a few milliseconds behind
    d = daemon_factory(config(port, out, 'parallelize(workers(2) partition-key("$HOST") batch-size(10));',
                              BUSY_PATH)).start(wait_for_port=port)
    hosts = hosts_per_worker(d, port, 2)
    busy, idle = 0, 1
    body = b"x" * 2048
    stop_heavy = threading.Event()

    def heavy():
        """as many messages for the busy worker as it takes to keep a backlog, whatever the machine's speed"""
        i = 0
        while not stop_heavy.is_set():
            yield b"".join(b"<13>Jan  1 00:00:00 %s app: %d %s\n" % (hosts[busy], i + k, body) for k in range(20))
            i += 20

    Sender(port, heavy()).start()
    stop_trickle = threading.Event()

    def trickle():
        """20 short messages a second to the other worker, over a connection of their own"""
        with socket.create_connection(("127.0.0.1", port)) as s:
            i = 0
            while not stop_trickle.is_set():
                s.sendall(b"<13>Jan  1 00:00:00 %s app: trickle %d\n" % (hosts[idle], i))
                i += 1
                time.sleep(0.05)

    trickler = threading.Thread(target=trickle, daemon=True)
    trickler.start()

    def sample():
        """(wall clock in microseconds, busy counters, busy worker's queue) from one `syslog-ng-ctl stats`"""
        t0 = time.monotonic()
        stats = d.stats()
        t1 = time.monotonic()
        value = lambda name, w: only([v for (source, id_, inst, typ), v in stats.items()
                                      if source == "parser" and id_.startswith("parallelize@")
                                      and inst == "worker%d" % w and typ == name])
        return ((t0 + t1) / 2 * 1e6, [value("parallelized_busy_microseconds_total", w) for w in range(2)],
                value("parallelized_queued_events", busy))

    try:
        # measure while the busy worker has a backlog: from the first sample that sees one, for 3 seconds
        wait_for(lambda: counter(d, "parallelized_queued_events", "worker%d" % busy) > 0, daemon=d,
                 what="a backlog")
        time.sleep(0.5)
        samples = []
        while True:
            s = sample()
            samples.append(s)
            assert s[2] > 0, "the busy worker ran dry while it was measured: %s" % samples
            if len(samples) >= 2 and samples[-1][0] - samples[0][0] > 3e6:
                break
            time.sleep(0.5)
        # the backlog's messages waited for the worker: most of them longer than 10 ms, the longest far longer
        buckets = wait_buckets(d)
    finally:
        stop_trickle.set()
        stop_heavy.set()
        trickler.join(10)
    (t0, busy0, _), (t1, busy1, _) = samples[0], samples[-1]
    utilization = [(busy1[w] - busy0[w]) / (t1 - t0) for w in range(2)]
    assert 0.9 <= utilization[busy] <= 1.1, utilization
    assert utilization[idle] < 0.05, utilization
    assert buckets == sorted(buckets) and buckets[-1] - buckets[2] > buckets[-1] // 2, buckets
    assert counter(d, "parallelized_wait_max_microseconds") > 100_000
    # what is still queued and in the sockets would take seconds to work off: the test is over
    d.kill()


def test_messages_for_idle_workers_wait_briefly_and_every_one_is_in_a_bucket(daemon_factory, tmp_path):
    """One message at a time, 10 ms apart: each is its own hand-off to an idle worker, which it wakes."""
    port = free_port()
    out = str(tmp_path / "out.log")
    d = daemon_factory(config(port, out, 'parallelize(workers(4));')).start(wait_for_port=port)
    n = 300
    with socket.create_connection(("127.0.0.1", port)) as s:
        for line in syslog_lines(n):
            s.sendall(line)
            time.sleep(0.01)
    assert wait_for_lines(out, n, daemon=d) == n
    buckets = assert_buckets_hold_every_message_taken(d)
    assert buckets[-1] == n
    # a wake-up takes microseconds; allow for a machine busy with other work
    assert buckets[2] >= 0.9 * n, buckets
    assert 0 < counter(d, "parallelized_wait_max_microseconds") < 10_000_000


def _stream(port, seconds, rate, host_of, stop):
    """rate messages a second over one connection until stop is set (or seconds passed)"""
    sent = 0
    start = time.time()
    with socket.create_connection(("127.0.0.1", port)) as s:
        while not stop.is_set() and time.time() - start < seconds:
            s.sendall(b"".join(b"<13>Jan  1 00:00:00 %s app: seq=%d\n" % (host_of(sent + i), sent + i)
                               for i in range(rate // 10)))
            sent += rate // 10
            time.sleep(0.1)
    return sent


def test_key_skew_is_near_one_for_an_even_key_and_the_worker_count_for_a_single_hot_key(daemon_factory, tmp_path):
    """Two keyed instances side by side: one fed a key with a new value per message, the other a single value."""
    even_port, hot_port = free_port(), free_port()
    text = """@version: 3.38
options { stats-level(1); };
log {
  source { tcp(ip(127.0.0.1) port(%d) keep-hostname(yes) log-iw-size(100000) log-fetch-limit(1000)); };
  parallelize(workers(4) partition-key("$HOST") name("even"));
  destination { file("%s/even"); };
};
log {
  source { tcp(ip(127.0.0.1) port(%d) keep-hostname(yes) log-iw-size(100000) log-fetch-limit(1000)); };
  parallelize(workers(4) partition-key("$HOST") name("hot"));
  destination { file("%s/hot"); };
};
""" % (even_port, tmp_path, hot_port, tmp_path)
    d = daemon_factory(text).start(wait_for_port=hot_port)
    skew = lambda: counters(d, "parallelized_key_skew_percent")
    assert skew() == {"parallelize@even": 0, "parallelize@hot": 0}, "no window has passed: no figure"

    stop = threading.Event()
    streams = [threading.Thread(target=_stream, args=(even_port, 30, 4000, lambda i: b"h%d" % i, stop)),
               threading.Thread(target=_stream, args=(hot_port, 30, 4000, lambda i: b"hothost", stop))]
    for t in streams:
        t.start()
    try:
        # after 11 s of streaming, the last complete 5-second window lay entirely within the streams
        time.sleep(11)
        values = skew()
    finally:
        stop.set()
        for t in streams:
            t.join(30)
    # 100: the busiest worker got exactly a fair share; 400: all of it (4 workers)
    assert 100 <= values["parallelize@even"] <= 115, values
    assert values["parallelize@hot"] == 400, values


def test_round_robin_has_no_skew_figure(daemon_factory, tmp_path):
    port = free_port()
    d = daemon_factory(config(port, str(tmp_path / "o"), 'parallelize(workers(2));')).start(wait_for_port=port)
    assert counters(d, "parallelized_key_skew_percent") == {}
    assert counter(d, "parallelized_workers") == 2


def named_config(port, out, blank_lines, indent):
    """the same configuration, its element moved down and right"""
    return """@version: 3.38
options { stats-level(1); };
%slog {
  source { tcp(ip(127.0.0.1) port(%d) keep-hostname(yes) log-iw-size(100000) log-fetch-limit(1000)); };
%sparallelize(workers(2) partition-key("$HOST") name("api"));
  destination { file("%s" template("$HOST $MSG\\n")); };
  flags(flow-control);
};
""" % ("\n" * blank_lines, port, " " * indent, out)


def test_a_name_keeps_the_counters_when_an_edit_moves_the_element(daemon_factory, tmp_path):
    port = free_port()
    out = str(tmp_path / "out.log")
    d = daemon_factory(named_config(port, out, 0, 2)).start(wait_for_port=port)
    send_lines(port, syslog_lines(3000))
    assert wait_for_lines(out, 3000, daemon=d) == 3000
    assert counter(d, "parallelized_processed_events_total") == 3000
    busy_before = [counter(d, "parallelized_busy_microseconds_total", "worker%d" % w) for w in range(2)]
    assert all(busy_before), busy_before

    d.write_config(named_config(port, out, 5, 10))
    d.reload_ok()
    send_lines(port, syslog_lines(1000, start=3000))
    assert wait_for_lines(out, 4000, daemon=d) == 4000
    ids = {line.split(";")[1] for line in d.ctl("stats").stdout.splitlines() if "parallelize@" in line}
    assert ids == {"parallelize@api"}, "one set of counters, under the name, none left at a location: %s" % ids
    assert counter(d, "parallelized_processed_events_total") == 4000
    assert counter(d, "parallelized_wait_le_inf_events_total") == 4000
    assert sum(counter(d, "parallelized_processed_events_total", "worker%d" % w) for w in range(2)) == 4000
    busy_after = [counter(d, "parallelized_busy_microseconds_total", "worker%d" % w) for w in range(2)]
    assert all(after >= before for before, after in zip(busy_before, busy_after)), (busy_before, busy_after)


def test_log_lines_go_by_the_name(daemon_factory, tmp_path):
    port = free_port()
    d = daemon_factory(config(port, str(tmp_path / "o"), 'parallelize(workers(0) name("edge-pool"));'),
                       extra_args=["-v"]).start(wait_for_port=port)
    lines = [line for line in d.output().splitlines() if "parallelize(): workers(0)" in line]
    assert len(lines) == 1, d.output()
    assert "name='edge-pool'" in lines[0] and "location=" not in lines[0], lines[0]


def test_a_name_twice_in_one_configuration_is_refused_naming_both_places(tmp_path):
    text = """@version: 3.38
source s { tcp(ip(127.0.0.1) port(1)); };
log { source(s); parallelize(workers(2) name("api")); destination { file("/dev/null"); }; };
log { source(s);
  parallelize(name(api)); destination { file("/dev/null"); }; };
"""
    rc, output = syntax_check(text, str(tmp_path))
    assert rc != 0, output
    line = [l for l in output.splitlines() if "the same name()" in l]
    assert len(line) == 1, output
    assert re.search(r"name='api', first='[^']*syntax\.conf:3:18', second='[^']*syntax\.conf:5:3'", line[0]), line[0]


@pytest.mark.parametrize("name", ['"two words"', '"a:b"', '""', '"x/y"'])
def test_a_name_that_would_need_escaping_is_refused(tmp_path, name):
    rc, output = syntax_check("""@version: 3.38
log { source { tcp(ip(127.0.0.1) port(1)); }; parallelize(name(%s)); destination { file("/dev/null"); }; };
""" % name, str(tmp_path))
    assert rc != 0 and "invalid name()" in output, output


def test_names_in_two_configurations_do_not_clash(daemon_factory, tmp_path):
    """A reload parses the new configuration while the old one runs: the old one's names are no duplicates."""
    port = free_port()
    out = str(tmp_path / "out.log")
    d = daemon_factory(named_config(port, out, 0, 2)).start(wait_for_port=port)
    d.reload_ok()
    d.reload_ok()


# --- Prometheus (syslog-ng 4.1 and later) -------------------------------------------------------

PROM_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
PROM_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def parse_prometheus(text):
    """Prometheus' text exposition format, as much as syslog-ng writes: [(name, {label: value}, float)].
    Raises on any line that is not a comment, a blank or a sample."""
    samples = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = PROM_LINE.match(line)
        if not m:
            raise ValueError("not a Prometheus sample: %r" % line)
        name, labels_text, value = m.groups()
        labels = {}
        pos = 0
        while labels_text and pos < len(labels_text):
            lm = PROM_LABEL.match(labels_text, pos)
            if not lm:
                raise ValueError("bad labels in %r" % line)
            labels[lm.group(1)] = re.sub(r'\\(.)', lambda e: {"n": "\n"}.get(e.group(1), e.group(1)), lm.group(2))
            pos = lm.end()
        samples.append((name, labels, float(value)))
    return samples


@pytest.mark.skipif(not HOST.v4, reason="syslog-ng-ctl stats prometheus exists from 4.1 on")
def test_prometheus_output_parses_and_carries_every_counter_with_its_labels(daemon_factory, tmp_path):
    port = free_port()
    out = str(tmp_path / "out.log")
    d = daemon_factory(config(port, out, 'parallelize(workers(2) partition-key("$HOST") name("api"));',
                              "in-order();")).start(wait_for_port=port)
    n = 20_000
    send_lines(port, syslog_lines(n, hosts=40))
    assert wait_for_lines(out, n, daemon=d) == n
    wait_for(lambda: counter(d, "parallelized_key_skew_percent") > 0, timeout=10, daemon=d, what="a skew window")

    result = d.ctl("stats", "prometheus")
    assert result.returncode == 0, result.stdout
    samples = parse_prometheus(result.stdout)
    ours = [(name, labels, value) for name, labels, value in samples
            if name.startswith(("syslogng_parallelized_", "syslogng_in_order_"))]
    by_name = {}
    for name, labels, value in ours:
        assert labels.get("id") == "api", (name, labels)
        by_name.setdefault(name, []).append((labels, value))

    per_worker = ["syslogng_parallelized_%s" % c for c in ("assigned_events_total", "processed_events_total",
                                                          "queued_events", "busy_microseconds_total")]
    per_instance = ["syslogng_parallelized_%s" % c for c in ("inline_events_total", "workers",
                                                            "wait_max_microseconds", "key_skew_percent")] + [
        "syslogng_in_order_%s" % c for c in ("waiting_events", "max_waiting_events", "head_wait_max_microseconds")]
    assert set(by_name) == set(per_worker + per_instance + ["syslogng_parallelized_wait_seconds_bucket"]), \
        sorted(by_name)
    for name in per_worker:
        # one series per worker; the sums over workers are Prometheus' to make (sum by (id))
        assert sorted(labels["worker"] for labels, _ in by_name[name]) == ["0", "1"], (name, by_name[name])
    for name in per_instance:
        assert [set(labels) for labels, _ in by_name[name]] == [{"id"}], (name, by_name[name])
    # counters end in _total; the units are in the names
    for name in by_name:
        assert name.endswith(("_total", "_bucket", "_events", "_workers", "_microseconds", "_percent")), name

    csv = d.stats()
    stats_id = "parallelize@api"
    for labels, value in by_name["syslogng_parallelized_processed_events_total"]:
        assert value == csv[("parser", stats_id, "worker" + labels["worker"], "parallelized_processed_events_total")]
    assert sum(v for _, v in by_name["syslogng_parallelized_processed_events_total"]) == n

    buckets = {labels["le"]: value for labels, value in by_name["syslogng_parallelized_wait_seconds_bucket"]}
    assert sorted(buckets) == sorted(PROMETHEUS_LE), buckets
    cumulative = [buckets[le] for le in PROMETHEUS_LE]
    assert cumulative == sorted(cumulative) and cumulative[-1] == n, cumulative
    assert cumulative == [csv[("parser", stats_id, "total", "parallelized_wait_%s_events_total" % b)]
                          for b in WAIT_BUCKETS]
    skew = by_name["syslogng_parallelized_key_skew_percent"][0][1]
    assert skew == csv[("parser", stats_id, "total", "parallelized_key_skew_percent")]


@pytest.mark.skipif(HOST.v4, reason="3.x has no Prometheus output: the counters are in stats and query")
def test_on_3x_every_counter_is_in_stats_and_query(daemon_factory, tmp_path):
    port = free_port()
    out = str(tmp_path / "out.log")
    d = daemon_factory(config(port, out, 'parallelize(workers(2) partition-key("$HOST") name("api"));')).start(
        wait_for_port=port)
    send_lines(port, syslog_lines(1000))
    assert wait_for_lines(out, 1000, daemon=d) == 1000
    query = d.ctl("query", "get", "*parallelize@api*").stdout
    for name in ["parallelized_busy_microseconds_total", "parallelized_wait_max_microseconds",
                 "parallelized_key_skew_percent"] + ["parallelized_wait_%s_events_total" % b for b in WAIT_BUCKETS]:
        assert name in query, (name, query)
