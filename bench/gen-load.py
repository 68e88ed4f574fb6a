#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Write a deterministic load file of RFC3164 lines for the benchmark.

  gen-load.py KIND COUNT HOSTS OUTPUT      KIND: plain | json

Every line carries the token id-<host>-<seq>, seq counting per host from 0,
so that the runner can check that every message arrived exactly once.
"""
import random
import sys

LEVELS = ["debug", "info", "notice", "warning", "error"]
ACTIONS = ["login", "logout", "purchase", "view", "search", "upload", "download"]
RESULTS = ["ok", "denied", "timeout", "error"]


def plain_line(host, seq, rnd):
    return "<13>Jan  1 00:00:00 %s app[%d]: id-%s-%d user%d did %s with result %s in %d ms\n" % (
        host, 1000 + rnd.randrange(9000), host, seq, rnd.randrange(10000),
        rnd.choice(ACTIONS), rnd.choice(RESULTS), rnd.randrange(5000))


def json_line(host, seq, rnd):
    # ~15 fields; "params" is a key=value string for kv-parser()
    fields = [
        ('"id"', '"id-%s-%d"' % (host, seq)),
        ('"ts"', '"2024-01-01T00:%02d:%02d.%06dZ"' % (rnd.randrange(60), rnd.randrange(60), rnd.randrange(10**6))),
        ('"level"', '"%s"' % rnd.choice(LEVELS)),
        ('"service"', '"svc-%d"' % rnd.randrange(50)),
        ('"user"', '"user%d@example.com"' % rnd.randrange(100000)),
        ('"session"', '"%016x"' % rnd.getrandbits(64)),
        ('"client_ip"', '"10.%d.%d.%d"' % (rnd.randrange(256), rnd.randrange(256), rnd.randrange(256))),
        ('"method"', '"%s"' % rnd.choice(["GET", "POST", "PUT", "DELETE"])),
        ('"path"', '"/api/v1/%s/%d"' % (rnd.choice(ACTIONS), rnd.randrange(100000))),
        ('"status"', '%d' % rnd.choice([200, 200, 200, 201, 204, 301, 404, 500])),
        ('"bytes"', '%d' % rnd.randrange(1, 10**6)),
        ('"latency_ms"', '%d.%03d' % (rnd.randrange(2000), rnd.randrange(1000))),
        ('"region"', '"%s"' % rnd.choice(["eu-west-1", "us-east-1", "ap-south-1"])),
        ('"agent"', '"Mozilla/5.0 (X11; Linux x86_64) bench/%d"' % rnd.randrange(100)),
        ('"params"', '"action=%s result=%s retries=%d shard=%d trace=%08x"' % (
            rnd.choice(ACTIONS), rnd.choice(RESULTS), rnd.randrange(5), rnd.randrange(64), rnd.getrandbits(32))),
    ]
    body = "{" + ",".join("%s:%s" % kv for kv in fields) + "}"
    return "<13>Jan  1 00:00:00 %s app[%d]: %s\n" % (host, 1000 + rnd.randrange(9000), body)


def main():
    if len(sys.argv) != 5 or sys.argv[1] not in ("plain", "json"):
        sys.exit(__doc__)
    kind, count, hosts, output = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    make = plain_line if kind == "plain" else json_line
    rnd = random.Random(20240101)
    seqs = [0] * hosts
    with open(output + ".tmp", "w") as f:
        lines = []
        for i in range(count):
            h = i % hosts
            lines.append(make("host%d" % h, seqs[h], rnd))
            seqs[h] += 1
            if len(lines) >= 10000:
                f.write("".join(lines))
                lines = []
        f.write("".join(lines))
    import os
    os.replace(output + ".tmp", output)


if __name__ == "__main__":
    main()
