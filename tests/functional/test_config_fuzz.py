# SPDX-License-Identifier: GPL-2.0-or-later
"""Random and mutated parallelize() option lists through --syntax-only: never a crash, always a clear answer."""
import random
import re
import signal
import time

import syslogng

SEED = 20240611
CASES = 400
BUDGET_S = 240

OPTIONS = ["workers", "partitions", "batch-size", "partition-key", "worker-partition-key"]
VALUES = ["0", "1", "4", "256", "257", "-1", "99999999999999999999", "0x10", "1e3", "two", "", '"$HOST"',
          '"$(sha1 $HOST)"', '""', "'$PROGRAM'", "$HOST", '"$(', '"${', '"\\"', '"$(echo ${HOST})"',
          "(", ")", "((4))", "4 4", '"a\nb"', "yes", "-0", "100000", "100001", '"' + "k" * 5000 + '"']
JUNK = ["(", ")", ";", "{", "}", '"', "'", "\\", "`", "@", "$", "#", "\n", "\x00", "\xff", "parallelize",
        "workers(", "))", "/*", "*/"]


def random_options(rnd):
    parts = []
    for _ in range(rnd.randrange(0, 5)):
        parts.append("%s(%s)" % (rnd.choice(OPTIONS), rnd.choice(VALUES)))
    text = " ".join(parts)
    # mutate: insert, delete or swap characters
    for _ in range(rnd.choice([0, 0, 1, 2, 5])):
        op = rnd.randrange(3)
        pos = rnd.randrange(len(text) + 1)
        if op == 0:
            text = text[:pos] + rnd.choice(JUNK) + text[pos:]
        elif op == 1 and text:
            text = text[:pos] + text[pos + 1:]
        elif text:
            a, b = sorted((pos % len(text), rnd.randrange(len(text))))
            text = text[:a] + text[b:b + 1] + text[a + 1:b] + text[a:a + 1] + text[b + 1:]
    return text


config = syslogng.parallelize_options_config


def test_fuzzed_options_never_crash(tmp_path):
    rnd = random.Random(SEED)
    started = time.time()
    accepted = refused = 0
    for case in range(CASES):
        if time.time() - started > BUDGET_S:
            break
        options = random_options(rnd)
        text = config(options)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            continue
        if syslogng.HOST.crashes_on_empty_block_argument and re.search(r"\(\s*\)", options):
            continue  # the host's own crash, not the module's (see syslogng.Host)
        rc, output = syslogng.syntax_check(text, str(tmp_path))
        what = "case %d: parallelize(%r) -> rc %d\n%s" % (case, options, rc, output[-2000:])
        # a signal shows as a negative return code; syslog-ng's own crash handler prints these words
        assert rc >= 0 and rc not in (128 + signal.SIGSEGV, 128 + signal.SIGABRT), what
        for word in ("Segmentation", "assert", "Assertion", "core dumped", "g_error", "CRITICAL"):
            assert word not in output, what
        if rc == 0:
            accepted += 1
        else:
            refused += 1
            # a clear error: syslog-ng says what and where (the file, or the generator's expansion)
            assert "Error" in output or "error" in output, what
            assert "syntax.conf" in output or "parallelize" in output, what
    print("config fuzz: %d cases in %.1fs, %d accepted, %d refused" % (accepted + refused, time.time() - started,
                                                                      accepted, refused))
    assert accepted + refused >= min(CASES, 100)
    assert accepted > 0 and refused > 0
