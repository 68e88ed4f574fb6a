# SPDX-License-Identifier: GPL-2.0-or-later
"""A reload to a configuration that cannot work keeps the running one, parallelize() included, delivering."""
import re
import socket

from syslogng import Sender, check_sequences, free_port, syslog_chunks, wait_for, wait_for_lines
from test_lifecycle import received, tcp_config

HOSTS = 20


def test_reload_to_bad_syntax_keeps_streaming(daemon_factory, tmp_path):
    total = 400_000
    port = free_port()
    out = str(tmp_path / "out.log")
    good = tcp_config(port, out, 'parallelize(workers(2) partition-key("$HOST"));')
    d = daemon_factory(good).start(wait_for_port=port)
    sender = Sender(port, syslog_chunks(total, hosts=HOSTS)).start()
    wait_for(lambda: received(d) >= total // 4, timeout=120, daemon=d, what="first quarter")
    for bad in ("workers(two)", "workers(2) partition-key(\"$(sha1 $HOST\")", "frobnicate(1)"):
        d.write_config(good.replace('workers(2) partition-key("$HOST")', bad))
        result = d.reload()
        assert result.returncode != 0, result.stdout
    assert d.output().count("Error parsing") == 3, d.output()[-3000:]
    sender.join(timeout=300)
    assert wait_for_lines(out, total, timeout=120, daemon=d) == total, d.output()[-3000:]
    check_sequences(out, total).assert_exactly_once_in_order()
    d.write_config(good)
    d.reload_ok()


def test_reload_that_fails_to_initialise_rolls_back_to_working_parallelize(daemon_factory, tmp_path):
    """The new config parses but cannot start (a source's port is taken): syslog-ng reverts, and the old
    config's parallelize() is initialised again (new dispatcher, workers restarted) and keeps delivering.

    Note: syslog-ng 3.38 drops open TCP connections when it reverts (with or without parallelize()),
    so this test reloads between streams."""
    port = free_port()
    out = str(tmp_path / "out.log")
    good = tcp_config(port, out, 'parallelize(workers(2) partition-key("$HOST"));')
    d = daemon_factory(good).start(wait_for_port=port)
    first = 100_000
    Sender(port, syslog_chunks(first, hosts=HOSTS)).start().join(120)
    assert wait_for_lines(out, first, timeout=120, daemon=d) == first
    assert len(d.worker_thread_ids()) == 2

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        failing = good.replace("workers(2)", "workers(3)").replace(
            "log {\n  source(s_net);",
            "log {\n  source(s_net);\n  source { tcp(ip(127.0.0.1) port(%d)); };" % busy.getsockname()[1])
        for _ in range(3):
            d.write_config(failing)
            result = d.reload()
            assert result.returncode != 0 and "reverted" in result.stdout, result.stdout
    finally:
        busy.close()
    assert d.output().count("Error initializing new configuration, reverting to old config") == 3

    total = 2 * first
    Sender(port, syslog_chunks(first, hosts=HOSTS, start=first)).start().join(120)
    assert wait_for_lines(out, total, timeout=120, daemon=d) == total, d.output()[-3000:]
    check_sequences(out, total).assert_exactly_once_in_order()
    # the old config runs: two workers (no third one from the failed config), no worker threads left over
    processed = d.parallelize_counters("parallelized_processed_events_total")
    assert processed["total"] >= first and "worker2" not in processed, processed
    assert len(d.worker_thread_ids()) == 2


def test_too_few_file_descriptors_for_all_workers_runs_with_those_that_fit(daemon_factory, tmp_path):
    """The open-files limit cannot hold 200 workers' event loops (ivykis would abort the daemon): the
    reload goes through with the workers that fit, says so, and delivers."""
    port = free_port()
    out = str(tmp_path / "out.log")
    good = tcp_config(port, out, 'parallelize(workers(2) partition-key("$HOST"));')
    d = daemon_factory(good, wrapper=["prlimit", "--nofile=128:128"]).start(wait_for_port=port)
    d.write_config(good.replace("workers(2)", "workers(200)"))
    result = d.reload()
    assert result.returncode == 0, result.stdout
    errors = [line for line in d.output().splitlines()
              if "parallelize(): could not start all worker threads, running with fewer" in line]
    assert len(errors) == 1, d.output()
    assert "requested='200'" in errors[0] and "open files limit" in errors[0]
    started = int(re.search(r"started='(\d+)'", errors[0]).group(1))
    assert 0 < started < 200

    n = 20_000
    Sender(port, syslog_chunks(n, hosts=HOSTS)).start().join(120)
    assert wait_for_lines(out, n, timeout=120, daemon=d) == n
    check_sequences(out, n).assert_exactly_once_in_order()
    assert d.parallelize_counters("parallelized_processed_events_total")["total"] == n
