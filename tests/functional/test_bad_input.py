# SPDX-License-Identifier: GPL-2.0-or-later
"""Hostile input through parallelize(): odd messages and odd partition keys neither crash nor lose anything."""
import random

import pytest

from syslogng import Sender, count_lines, free_port, wait_for_lines

MSG_SIZE = 256 * 1024


def config(port, out, key):
    return """@version: 3.38
options { log-msg-size(%(size)d); stats-level(1); };
log {
  source { tcp(ip(127.0.0.1) port(%(port)d) keep-hostname(yes) log-iw-size(10000) log-msg-size(%(size)d)
               flags(no-parse)); };
  parallelize(workers(3) %(key)s);
  destination { file("%(out)s" template("$(length $MSG)\\n")); };
  flags(flow-control);
};
""" % dict(port=port, out=out, key=key, size=MSG_SIZE)


# tcp()'s text framing ends a message at a newline or a NUL byte: keep those out of the junk
FRAMING_SAFE = bytes.maketrans(b"\n\r\x00", b"   ")


def hostile_lines(seed=7):
    """Raw messages (no newline); binary junk, empty, huge, invalid UTF-8."""
    rnd = random.Random(seed)
    lines = [b"", b"", b"x" * 65536, b"\xff\xfe\xc3\x28\xa0\xa1\xe2\x28\xa1\xf0\x90\x28\xbc" * 10,
             b"\xc0\x80 overlong nul \xed\xa0\x80 surrogate", b"\x01\x02\x1b[31m control bytes \x7f",
             b"y" * (MSG_SIZE - 2)]
    for _ in range(2000):
        n = rnd.choice([0, 1, 10, 100, 1000, 8000])
        junk = bytes(rnd.randrange(256) for _ in range(n)).translate(FRAMING_SAFE)
        lines.append(junk)
    return lines


@pytest.mark.parametrize("key", [
    "",                                       # round-robin
    'partition-key("$MSG")',                  # the whole (hostile) message as key: up to 256 KiB, binary
    'partition-key("$NO_SUCH_MACRO")',        # unset: always empty
    'partition-key("${.unset.name}")',        # unset name-value pair
    'partition-key("$(substr $MSG 0 1)")',    # empty for empty messages, one byte otherwise
    'partition-key("$(padding $HOST 65536 x)")',  # 64 KiB keys via a template function
])
def test_hostile_messages_and_keys_all_delivered(daemon_factory, tmp_path, key):
    port = free_port()
    out = str(tmp_path / "out.log")
    d = daemon_factory(config(port, out, key)).start(wait_for_port=port)
    lines = hostile_lines()
    Sender(port, [b"".join(l + b"\n" for l in lines)]).start().join(120)
    # syslog-ng's reader skips empty lines before any log path sees them (with or without parallelize())
    expected = [l for l in lines if l]
    got = wait_for_lines(out, len(expected), timeout=60, daemon=d)
    assert got == len(expected), d.output()[-3000:]
    assert d.counter("src.tcp", "processed") == len(expected)
    with open(out) as f:
        lengths = sorted(int(x) for x in f.read().split())
    # flags(no-parse) keeps the raw line in $MSG: every message arrives once, at its full length
    assert lengths == sorted(len(l) for l in expected)
    assert d.proc.poll() is None
    processed = d.parallelize_counters("parallelized_processed_events_total")
    inline = d.parallelize_counters("parallelized_inline_events_total")
    assert processed["total"] + inline.get("total", 0) == len(expected)
