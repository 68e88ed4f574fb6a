# SPDX-License-Identifier: GPL-2.0-or-later
"""No threads, memory or module allocations left behind by reloads."""
import os
import re

import pytest

from syslogng import Sender, count_lines, free_port, syslog_chunks, wait_for, wait_for_lines

RELOADS = 20
PER_ROUND = 20_000


def config(port, out):
    return """@version: 3.38
options { stats-level(1); };
log {
  source { tcp(ip(127.0.0.1) port(%d) keep-hostname(yes) log-iw-size(10000)); };
  parallelize(workers(4) partition-key("$HOST"));
  rewrite { set("$(sha1 $MSG)" value("digest")); };
  destination { file("%s" template("$HOST $MSG\\n")); };
  flags(flow-control);
};
""" % (port, out)


def reload_cycle(d, port, out, reloads, per_round, timeout=120):
    """Traffic, then a reload, `reloads` times; returns [(threads, rss_kb)] after the first start and each reload."""
    samples = []
    sent = 0
    for i in range(reloads + 1):
        if i:
            d.reload_ok()
        Sender(port, syslog_chunks(per_round, start=sent)).start().join(timeout)
        sent += per_round
        assert wait_for_lines(out, sent, timeout=timeout, daemon=d) == sent
        samples.append((d.threads(), d.rss_kb()))
    return samples


def test_reloads_leave_no_threads_and_rss_flat(daemon_factory, tmp_path):
    port = free_port()
    out = str(tmp_path / "out.log")
    d = daemon_factory(config(port, out)).start(wait_for_port=port)
    samples = reload_cycle(d, port, out, RELOADS, PER_ROUND)
    threads = [t for t, _ in samples]
    rss = [r for _, r in samples]
    print("threads after start and each reload: %s" % threads)
    print("VmRSS kB after start and each reload: %s" % rss)
    # main thread + 4 workers at least; syslog-ng's I/O pool adds up to one thread per CPU, on demand
    assert min(threads) >= 5
    assert max(threads[1:]) <= max(threads[0], 5 + os.cpu_count()), threads
    # allocator arenas settle in the first reloads; after that no growth per reload beyond noise
    settled = rss[5:]
    growth = settled[-1] - settled[0]
    assert growth < 4096, "RSS grew %d kB over %d reloads: %s" % (growth, len(settled) - 1, rss)


def definitely_lost_in_module(valgrind_log):
    """The 'definitely lost' records whose stack names the module (libparallelize, parallelize_*, pd_dispatcher*)."""
    records, current = [], None
    for line in valgrind_log.splitlines():
        body = re.sub(r"^==\d+== ?", "", line)
        if "are definitely lost in loss record" in body:
            current = [body]
            continue
        if current is not None:
            if not body.strip():
                records.append(current)
                current = None
            else:
                current.append(body)
    module = re.compile(r"libparallelize|parallelize_|pd_dispatcher|parallelize::")
    return [r for r in records if any(module.search(l) for l in r[1:])], len(records)


def test_reloads_under_valgrind_leak_nothing_from_the_module(daemon_factory, tmp_path):
    if not os.path.exists("/usr/bin/valgrind"):
        pytest.skip("valgrind not installed")
    port = free_port()
    out = str(tmp_path / "out.log")
    vlog = str(tmp_path / "valgrind.log")
    wrapper = ["/usr/bin/valgrind", "--tool=memcheck", "--leak-check=full", "--num-callers=40",
               "--log-file=" + vlog]
    d = daemon_factory(config(port, out), wrapper=wrapper)
    d.start(wait_for_port=port, timeout=180)
    reload_cycle(d, port, out, RELOADS, 2000, timeout=300)
    assert d.stop(timeout=300) == 0
    with open(vlog) as f:
        text = f.read()
    assert "LEAK SUMMARY" in text or "All heap blocks were freed" in text, text[-3000:]
    ours, all_definite = definitely_lost_in_module(text)
    summary = [l for l in text.splitlines() if "definitely lost:" in l or "indirectly lost:" in l]
    print("valgrind: %d definitely-lost records in all, %d from the module; %s" % (all_definite, len(ours), summary))
    assert ours == [], "\n\n".join("\n".join(r) for r in ours)
    assert "Invalid read" not in text and "Invalid write" not in text, text[:5000]
