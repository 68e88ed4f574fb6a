"""The shipped opt-in allocator drop-ins (allocator/*.conf, installed into
/usr/share/syslog-ng-mod-parallelize/allocator/): the stock daemon started with the
environment a drop-in sets maps that allocator, loads the module and delivers a keyed
stream through workers(2) exactly once and in per-key order; without it, the allocator
is not mapped."""
import os
import re
import shlex

import pytest

import syslogng
from syslogng import Sender, check_sequences, free_port, syslog_chunks, wait_for_lines

MESSAGES = 200_000
HOSTS = 20
# drop-in -> the Debian package that ships its library
DROP_INS = {"mimalloc": "libmimalloc2.0", "jemalloc": "libjemalloc2"}


def drop_in_environment(path):
    """{NAME: value} of the Environment= lines of the [Service] section, as systemd reads them."""
    env, section = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = line
                continue
            key, _, value = line.partition("=")
            if section == "[Service]" and key.strip() == "Environment":
                for assignment in shlex.split(value):
                    name, _, val = assignment.partition("=")
                    env[name] = val
    return env


def config(port, out):
    return """@version: 3.38
options { stats-level(1); };
log {
  source { tcp(ip(127.0.0.1) port(%d) keep-hostname(yes) log-iw-size(100000) max-connections(10)
               log-fetch-limit(1000)); };
  parallelize(workers(2) partition-key("$HOST"));
  # the worker grows the message the source thread allocated; the writer frees it
  rewrite { set("$MSG worker-grown-$(length $MSG)" value("GROWN")); };
  destination { file("%s" template("$MSG ${GROWN}\\n")); };
  flags(flow-control);
};
""" % (port, out)


def mapped(pid):
    with open("/proc/%d/maps" % pid) as f:
        return {line.split()[-1] for line in f if "/" in line}


def run_stream(daemon_factory, tmp_path, env):
    port = free_port()
    out = str(tmp_path / "out.log")
    wrapper = ["env", "-u", "LD_PRELOAD"] + ["%s=%s" % kv for kv in sorted(env.items())]
    d = daemon_factory(config(port, out), wrapper=wrapper).start(wait_for_port=port)
    maps = mapped(d.pid())
    sender = Sender(port, syslog_chunks(MESSAGES, hosts=HOSTS)).start()
    sender.join(timeout=300)
    assert wait_for_lines(out, MESSAGES, timeout=300, daemon=d) == MESSAGES, d.output()[-3000:]
    check_sequences(out, MESSAGES).assert_exactly_once_in_order()
    # the module did it: every message went through the workers
    assert d.parallelize_counters("parallelized_processed_events_total")["total"] == MESSAGES
    assert d.stop() == 0, d.output()[-3000:]
    return maps, d.output()


@pytest.mark.parametrize("name", sorted(DROP_INS))
def test_shipped_drop_in_preloads_the_allocator_and_delivers(name, daemon_factory, tmp_path):
    path = os.path.join(syslogng.builddir(), "allocator", name + ".conf")
    assert os.path.exists(path), "drop-in not built: %s" % path
    env = drop_in_environment(path)
    assert set(env) == {"LD_PRELOAD"}, env
    library = env["LD_PRELOAD"]
    assert os.path.isabs(library), library
    if not os.path.exists(library):
        pytest.skip("%s not installed (%s missing): apt-get install %s" % (DROP_INS[name], library, DROP_INS[name]))

    maps, output = run_stream(daemon_factory, tmp_path, env)
    assert os.path.realpath(library) in maps, sorted(maps)
    assert any(m.endswith("/libparallelize.so") for m in maps), sorted(maps)
    assert "cannot be preloaded" not in output, output


def test_without_the_drop_in_no_allocator_is_mapped(daemon_factory, tmp_path):
    maps, _ = run_stream(daemon_factory, tmp_path, {})
    for name in DROP_INS:
        assert not any("lib%s" % name in m for m in maps), sorted(maps)


def freed_where(output):
    """Sums of the module's debug line at each deinit: where the messages handed to the workers were freed."""
    sums = {"on_source_thread": 0, "on_worker_thread": 0, "by_last_user": 0, "at_stop": 0}
    lines = [l for l in output.splitlines() if "where the messages handed to the workers were freed" in l]
    for line in lines:
        for key in sums:
            m = re.search(r"\b%s='(\d+)'" % key, line)
            assert m, line
            sums[key] += int(m.group(1))
    return sums, len(lines)


def stream_with_reload(daemon_factory, text, port, out, messages):
    """messages in two halves with a reload between; exactly once and in per-key order;
    returns the daemon's counts of where they were freed"""
    d = daemon_factory(text, extra_args=["-d"]).start(wait_for_port=port)
    half = messages // 2
    Sender(port, syslog_chunks(half, hosts=HOSTS)).start().join(timeout=300)
    assert wait_for_lines(out, half, timeout=300, daemon=d) == half
    d.reload_ok()
    Sender(port, syslog_chunks(messages - half, hosts=HOSTS, start=half)).start().join(timeout=300)
    assert wait_for_lines(out, messages, timeout=300, daemon=d) == messages
    assert d.stop() == 0, d.output()[-3000:]
    check_sequences(out, messages).assert_exactly_once_in_order()

    sums, lines = freed_where(d.output())
    print("freed: %s over %d configurations" % (sums, lines))
    assert lines == 2, d.output()[-3000:]
    assert sum(sums.values()) == messages, sums
    return sums


def test_messages_are_freed_on_the_thread_that_allocated_them(daemon_factory, tmp_path):
    """With glibc, a message freed by another thread than the one that allocated it takes
    the allocating thread's arena lock while that thread allocates: the module keeps a
    reference on what a source thread handed over and drops it there once the workers
    and the writer are done. The daemon's own count says where each message went; a
    reload in between releases what the old configuration held, exactly once."""
    port = free_port()
    out = str(tmp_path / "out.log")
    # a window smaller than what a source thread holds (4,096): every message can wait there
    text = config(port, out).replace("log-iw-size(100000)", "log-iw-size(2000)")
    sums = stream_with_reload(daemon_factory, text, port, out, MESSAGES)
    # the rest: what the last fetch before the reload and before the stop still held;
    # the small value set after the element fits the room the message came with
    assert sums["on_source_thread"] >= MESSAGES * 0.9, sums


def test_messages_grown_by_the_workers_are_freed_by_them(daemon_factory, tmp_path):
    """Where the path after the element makes messages grow (parsers adding values), their
    values move to a block the worker allocated: the worker keeps the reference and frees
    the message, instead of the source's thread contending for the worker's arena lock.
    The daemon decides from what it sees (a sample of the messages before and after the
    path), and says where each message was freed."""
    port = free_port()
    out = str(tmp_path / "out.log")
    text = config(port, out).replace(
        'value("GROWN")); };',
        'value("GROWN")); };\n  rewrite { set("$(padding $MSG 2000)" value("BIG")); };')
    assert "BIG" in text
    messages = MESSAGES // 2
    sums = stream_with_reload(daemon_factory, text, port, out, messages)
    # each configuration starts with the source's thread keeping references, until the
    # workers' first samples (one message in 16, 64 of them per worker) say otherwise
    assert sums["on_worker_thread"] >= messages * 0.8, sums
