# SPDX-License-Identifier: GPL-2.0-or-later
"""What an operator reads: counters in syslog-ng-ctl, the hot-key warning, startup and config warnings."""
import re
import socket
import time

from syslogng import HOST, free_port, send_lines, syslog_lines, wait_for_lines

HOT_KEY_WARNING = "parallelize(): one worker gets far more than its share"


def keyed_config(port, out, parallelize, source_opts="log-iw-size(100000) max-connections(10) log-fetch-limit(1000)"):
    return """@version: 3.38
log {
  source { tcp(ip(127.0.0.1) port(%d) keep-hostname(yes) %s); };
  %s
  destination { file("%s" template("$HOST $MSG\\n")); };
  flags(flow-control);
};
""" % (port, source_opts, parallelize, out)


def test_counters_add_up_to_the_messages_sent(daemon_factory, tmp_path):
    port = free_port()
    out = str(tmp_path / "out.log")
    d = daemon_factory(keyed_config(port, out, 'parallelize(workers(4) partition-key("$HOST"));')).start(
        wait_for_port=port)
    n = 60_000
    send_lines(port, syslog_lines(n, hosts=40))
    assert wait_for_lines(out, n, daemon=d) == n

    assigned = d.parallelize_counters("parallelized_assigned_events_total")
    processed = d.parallelize_counters("parallelized_processed_events_total")
    queued = d.parallelize_counters("parallelized_queued_events")
    assert assigned["total"] == processed["total"] == n
    for i in range(4):
        worker = "worker%d" % i
        assert assigned[worker] == processed[worker]
        assert queued[worker] == 0
    assert sum(processed["worker%d" % i] for i in range(4)) == n
    assert queued["total"] == 0

    # the same numbers through syslog-ng-ctl query
    query = d.ctl("query", "get", "*parallelized_processed_events_total*").stdout
    assert re.search(r"parallelize@[^\n]*total[^\n]*parallelized_processed_events_total=%d" % n, query), query


def test_counters_keep_their_meaning_across_reload_and_go_when_the_instance_goes(daemon_factory, tmp_path):
    port = free_port()
    out = str(tmp_path / "out.log")
    with_parallelize = keyed_config(port, out, 'parallelize(workers(2));')
    d = daemon_factory(with_parallelize).start(wait_for_port=port)
    send_lines(port, syslog_lines(1000))
    assert wait_for_lines(out, 1000, daemon=d) == 1000
    assert d.reload().returncode == 0
    send_lines(port, syslog_lines(500, start=1000))
    assert wait_for_lines(out, 1500, daemon=d) == 1500
    assert d.parallelize_counters("parallelized_processed_events_total")["total"] == 1500

    # without parallelize() its counters are no longer active (syslog-ng lists them as orphans, state 'o')
    d.write_config(keyed_config(port, out, ""))
    assert d.reload().returncode == 0
    states = {line.split(";")[3] for line in d.ctl("stats").stdout.splitlines() if "parallelize@" in line}
    assert states == {"o"}, states


def _stream_for(port, seconds, rate, host_of):
    """Send at a steady rate over one connection for a while; host_of(i) picks each message's host."""
    sent = 0
    start = time.time()
    with socket.create_connection(("127.0.0.1", port)) as s:
        while time.time() - start < seconds:
            batch = []
            for _ in range(rate // 10):
                host = host_of(sent)
                batch.append(b"<13>Jan  1 00:00:00 %s app: %s seq=%d\n" % (host, host, sent))
                sent += 1
            s.sendall(b"".join(batch))
            time.sleep(0.1)
    return sent


def test_a_hot_key_is_reported_once_and_an_even_key_never(daemon_factory, tmp_path):
    port = free_port()
    out = str(tmp_path / "out.log")
    d = daemon_factory(keyed_config(port, out, 'parallelize(workers(4) partition-key("$HOST"));')).start(
        wait_for_port=port)

    # 20 s of even load over 40 hosts: no warning
    even = _stream_for(port, 20, 2000, lambda i: b"host%d" % (i % 40))
    assert wait_for_lines(out, even, daemon=d) == even
    assert HOT_KEY_WARNING not in d.output()

    # then 25 s where 90% of messages carry one host: exactly one warning, naming it
    skewed = _stream_for(port, 25, 2000, lambda i: b"hothost" if i % 10 else b"host%d" % (i % 40))
    assert wait_for_lines(out, even + skewed, daemon=d) == even + skewed
    time.sleep(1)
    warnings = [line for line in d.output().splitlines() if HOT_KEY_WARNING in line]
    assert len(warnings) == 1, warnings
    assert "example_key='hothost'" in warnings[0]
    assert "location='" in warnings[0] and "worker='" in warnings[0] and "share='" in warnings[0]


def test_a_short_burst_is_not_reported(daemon_factory, tmp_path):
    port = free_port()
    out = str(tmp_path / "out.log")
    d = daemon_factory(keyed_config(port, out, 'parallelize(workers(4) partition-key("$HOST"));')).start(
        wait_for_port=port)
    burst = _stream_for(port, 6, 2000, lambda i: b"hothost")
    rest = _stream_for(port, 12, 2000, lambda i: b"host%d" % (i % 40))
    assert wait_for_lines(out, burst + rest, daemon=d) == burst + rest
    assert HOT_KEY_WARNING not in d.output()


def test_startup_line_with_verbose(daemon_factory, tmp_path):
    port = free_port()
    d = daemon_factory(keyed_config(port, str(tmp_path / "o"), 'parallelize(workers(3) partition-key("$PROGRAM") batch-size(50));'),
                       extra_args=["-v"]).start(wait_for_port=port)
    lines = [line for line in d.output().splitlines() if "parallelize(): starting" in line]
    assert len(lines) == 1, d.output()
    assert "workers='3'" in lines[0] and "partition-key='$PROGRAM'" in lines[0] and "batch-size='50'" in lines[0]
    assert "location='" in lines[0]


def test_sources_that_starve_the_workers_are_warned_about_but_accepted(daemon_factory, tmp_path):
    port_a, port_b, port_c = free_port(), free_port(), free_port()
    conf = """@version: 3.38
source s_small { tcp(ip(127.0.0.1) port(%d)); };
source s_huge_fetch { tcp(ip(127.0.0.1) port(%d) log-iw-size(1000000) log-fetch-limit(100000)); };
log {
  source(s_small);
  source(s_huge_fetch);
  source { tcp(ip(127.0.0.1) port(%d) log-iw-size(1000000) max-connections(10) log-fetch-limit(10000)); };
  parallelize(workers(4));
  destination { file("/dev/null"); };
};
""" % (port_a, port_b, port_c)
    d = daemon_factory(conf).start(wait_for_port=port_c)
    output = d.output()
    window = [line for line in output.splitlines() if "window per connection is too small" in line]
    fetch = [line for line in output.splitlines() if "log-fetch-limit() above 65535" in line]
    assert len(window) == 1, output
    assert "source='s_small'" in window[0]
    assert "log_iw_size='100'" in window[0] and "max_connections='10'" in window[0]
    assert "window_per_connection='10'" in window[0] and "workers_x_batch_size='400'" in window[0]
    if HOST.v4:
        # 4.3 and later count a thread's messages in 32 bits: nothing to warn about there
        assert not fetch, output
        return
    assert len(fetch) == 1, output
    assert "source='s_huge_fetch'" in fetch[0] and "log_fetch_limit='100000'" in fetch[0]


def _window_warnings(output):
    """{source name: {field: value}} of each window warning"""
    found = {}
    for line in output.splitlines():
        if "window per connection is too small" in line:
            fields = dict(re.findall(r"(\w+)='([^']*)'", line))
            found[fields["source"]] = fields
    return found


def test_source_numbers_are_read_as_syslog_ng_reads_them(daemon_factory, tmp_path):
    """log-iw-size() and max-connections() in every form syslog-ng's lexer takes (k/M/G, i, B, hex,
    octal), in sources defined by reference and inline: the warning names the number the host uses."""
    forms = [("s_ref_10Mi", "10Mi", "100", 10485760), ("s_ref_hex", "0x10", "1", 16), ("s_ref_1k", "1k", "0x2", 1000),
             ("s_ref_octal", "010", "1", 8), ("s_ref_1GiB", "1GiB", "10k", 1073741824)]
    ports = [free_port() for _ in range(len(forms) + 1)]
    defs = "".join("source %s { tcp(ip(127.0.0.1) port(%d) log-iw-size(%s) max-connections(%s)); };\n"
                   % (name, port, size, conns) for (name, size, conns, _), port in zip(forms, ports))
    refs = "".join("  source(%s);\n" % name for name, _, _, _ in forms)
    conf = """@version: 3.38
%s
log {
%s  source { tcp(ip(127.0.0.1) port(%d) log-iw-size(10M) max-connections(100)); };
  parallelize(workers(4) batch-size(100000));
  destination { file("/dev/null"); };
};
""" % (defs, refs, ports[-1])
    d = daemon_factory(conf).start(wait_for_port=ports[-1])
    warned = _window_warnings(d.output())
    expected = {name: value for name, _, _, value in forms}
    expected["(inline source)"] = 10000000
    assert {name: int(w["log_iw_size"]) for name, w in warned.items()} == expected, d.output()
    assert warned["s_ref_1k"]["max_connections"] == "2" and warned["s_ref_1GiB"]["max_connections"] == "10000"
    assert warned["(inline source)"]["window_per_connection"] == "100000"
    assert all(w["workers_x_batch_size"] == "400000" for w in warned.values())


def test_the_readme_example_source_gets_no_false_warning(daemon_factory, tmp_path):
    """README's own example: log-iw-size(10M) is ten million, a window of a million per connection."""
    port = free_port()
    conf = """@version: 3.38
log {
  source { tcp(ip(127.0.0.1) port(%d) log-iw-size(10M) max-connections(10) log-fetch-limit(100000)); };
  parallelize(workers(4) partition-key("$HOST"));
  destination { file("/dev/null"); };
};
""" % port
    d = daemon_factory(conf).start(wait_for_port=port)
    output = d.output()
    assert not _window_warnings(output), output
    fetch = [line for line in output.splitlines() if "log-fetch-limit() above 65535" in line]
    # a true warning on 3.x, whose destination queues count a thread's messages in 16 bits
    assert len(fetch) == (0 if HOST.v4 else 1), output


def test_a_well_sized_source_gets_no_warning(daemon_factory, tmp_path):
    port = free_port()
    d = daemon_factory(keyed_config(port, str(tmp_path / "o"), 'parallelize(workers(4));',
                                    source_opts="log-iw-size(1000000) max-connections(10) log-fetch-limit(10000)")
                       ).start(wait_for_port=port)
    assert "parallelize():" not in d.output()


ROUTING_WARNING = "parallelize(): a filter or parser after parallelize() cannot tell the path before it"


def test_a_filter_after_parallelize_that_final_or_if_else_would_route_on_is_warned_about(daemon_factory, tmp_path):
    """flags(final) and if/else see every message that reached parallelize() as matched: say so where a
    filter or parser after it could have dropped one; stay quiet where nothing after it drops, or nothing
    routes on the result."""
    port = free_port()
    text = """@version: 3.38
source s { tcp(ip(127.0.0.1) port(%(port)d) log-iw-size(100000) max-connections(10)); };
log { source(s); parallelize(workers(2)); filter { program("a"); }; destination { file("%(dir)s/out1"); }; flags(final); };
log { source(s); if { parallelize(workers(2)); filter { program("b"); }; destination { file("%(dir)s/out2"); }; } else { destination { file("%(dir)s/out3"); }; }; };
log { source(s); parallelize(workers(2)); parser { json-parser(); }; destination { file("%(dir)s/out4"); }; };
log { source(s); parallelize(workers(2)); destination { file("%(dir)s/out5"); }; flags(final); };
""" % {"port": port, "dir": str(tmp_path)}
    d = daemon_factory(text).start(wait_for_port=port)
    warnings = [line for line in d.output().splitlines() if ROUTING_WARNING in line]
    locations = sorted(re.search(r"location='[^']*:(\d+):\d+'", w).group(1) for w in warnings)
    # line 3: a filter under flags(final); line 4: a filter in the if branch; lines 5 and 6: nothing to warn about
    assert locations == ["3", "4"], warnings
    assert "routing='flags(final) or if/else'" in warnings[0]
