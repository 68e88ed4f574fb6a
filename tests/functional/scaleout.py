# SPDX-License-Identifier: GPL-2.0-or-later
"""The scale-out layouts of docs/scaling-out.md on 127.0.0.1, started from the very files the
guide shows (docs/examples/scale-out/), so that the guide and what runs cannot drift apart:
senders, HAProxy (layout 1) or the keyed front (layout 2), relays, and a collector of the
test's own that writes what each relay forwarded to a file of its own.

Used by tests/functional/test_scale_out.py and bench/scale-out.py.  Every process is started
here and stopped by its PID."""
import os
import re
import shutil
import subprocess
import time

from syslogng import SEQ_RE, Daemon, Sender, SequenceReport, _port_open, count_lines, free_port, read_log, terminate

SRCDIR = os.environ.get("PARALLELIZE_SRCDIR",
                        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
EXAMPLES = os.path.join(SRCDIR, "docs", "examples", "scale-out")

# what the example files say, replaced for every run
SENDER_PORT = 5140
TIER_PORT = 5514
RELAY_PORTS = (5601, 5602)
CENTRAL_PORT = 6514
STATE_DIR = "/var/lib/syslog-ng"
SERVER_LINE = re.compile(r"^([ \t]*server )relay\d+ 127\.0\.0\.1:\d+(.*)$", re.M)


def haproxy_binary():
    """Debian's haproxy, or None where it is not installed."""
    return shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/sbin")


def example(name):
    with open(os.path.join(EXAMPLES, name)) as f:
        return f.read()


def localize(text, ports, state_dir=None):
    """An example for one run: each documented port (every one given must occur) replaced by a
    free one, and the disk buffers' folder by the run's own."""
    for doc_port, port in ports.items():
        text, n = re.subn(r"(?<![\d.])%d(?!\d)" % doc_port, str(port), text)
        if not n:
            raise ValueError("port %d is not in the example any more" % doc_port)
    if state_dir is not None:
        needle = 'dir("%s")' % STATE_DIR
        if needle not in text:
            raise ValueError("%s is not in the example any more" % needle)
        text = text.replace(needle, 'dir("%s")' % state_dir)
    return text


def without_worker_pool(text):
    """The same configuration without its worker-pool() line: the plain layout to compare with."""
    text, n = re.subn(r"^[ \t]*worker-pool\([^;\n]*\);[ \t]*\n", "", text, flags=re.M)
    if n != 1:
        raise ValueError("expected one worker-pool() line, found %d" % n)
    return text


def haproxy_config(tier_port, relay_ports):
    """docs/examples/scale-out/haproxy.cfg with the given ports and one server line per relay
    (the example's first server line as the pattern)."""
    text = localize(example("haproxy.cfg"), {TIER_PORT: tier_port})
    servers = list(SERVER_LINE.finditer(text))
    if not servers:
        raise ValueError("no server line in haproxy.cfg any more")
    indent, options = servers[0].group(1), servers[0].group(2)
    block = "\n".join("%srelay%d 127.0.0.1:%d%s" % (indent, i + 1, port, options) for i, port in enumerate(relay_ports))
    return text[:servers[0].start()] + block + text[servers[-1].end():]


class HAProxy:
    """haproxy in the foreground (-db) with its own configuration file; stopped by its PID."""

    def __init__(self, workdir, config_text):
        os.makedirs(workdir, exist_ok=True)
        self.config_path = os.path.join(workdir, "haproxy.cfg")
        self.log_path = os.path.join(workdir, "haproxy.log")
        with open(self.config_path, "w") as f:
            f.write(config_text)
        self.proc = None

    def start(self, port, timeout=30):
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen([haproxy_binary(), "-db", "-f", self.config_path],
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("haproxy exited at startup (%s):\n%s" % (self.proc.returncode, self.output()))
            if _port_open(port):
                return self
            time.sleep(0.05)
        raise RuntimeError("haproxy did not come up:\n" + self.output())

    def output(self):
        return read_log(self.log_path)

    def stop(self, timeout=30):
        if self.proc is not None:
            terminate(self.proc, timeout)


COLLECTOR_SOURCE = """
source s_relay%(i)d {
    tcp(ip(127.0.0.1) port(%(port)d) log-iw-size(100000) log-fetch-limit(1000) max-connections(10));
};
log {
    source(s_relay%(i)d);
    destination { file("%(out)s" template("$HOST $MSG\\n")); };
    flags(flow-control);
};
"""


WITNESS = """
# added by the test: every message this relay read, as read
log {
    source(s_tier);
    destination { file("%s" template("$MSG\\n")); };
    flags(flow-control);
};
"""


def keyed_chunks(sender, count, hosts, start, lines_per_chunk=1000):
    """Sender `sender`'s lines as bytes blocks: host hH (the key, shared by every sender), the
    message 'sS-hH seq=N' (the key of the order check: one sender's messages of one host), N
    counting from start."""
    prefix = [b"<13>Jan  1 00:00:00 h%d app: s%d-h%d seq=" % (h, sender, h) for h in range(hosts)]
    for first in range(0, count, lines_per_chunk):
        last = min(first + lines_per_chunk, count)
        yield b"".join(prefix[n % hosts] + b"%d\n" % (start + n) for n in range(first, last))


def paced(chunks, lines_per_second, lines_per_chunk):
    """The chunks, each no earlier than its turn at lines_per_second."""
    started = time.monotonic()
    for k, chunk in enumerate(chunks):
        due = started + k * lines_per_chunk / lines_per_second
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        yield chunk


class Layout:
    """kind "haproxy" (layout 1: senders -> HAProxy -> relays) or "front" (layout 2: senders ->
    the keyed front -> relays); the relays forward to a collector, one file per relay.
    worker_pool=False runs the relays without their worker-pool() line.  witness=True adds a
    log path to each relay that writes every message the relay read, straight from its source,
    to a file of the relay's (relay_read()): what a relay lost of what it had read is then told
    apart from what never reached it."""

    def __init__(self, workdir, kind, worker_pool=True, senders=3, relays=2, witness=False):
        assert kind in ("haproxy", "front")
        if kind == "front" and relays != len(RELAY_PORTS):
            raise ValueError("front.conf routes to %d relays" % len(RELAY_PORTS))
        self.workdir = workdir
        self.kind = kind
        self.worker_pool = worker_pool
        self.sender_count = senders
        self.relay_count = relays
        self.outputs = [os.path.join(workdir, "from-relay%d.log" % i) for i in range(relays)]
        self.witnesses = [os.path.join(workdir, "read-by-relay%d.log" % i) for i in range(relays)] if witness else []
        self.collector = self.tier = None
        self.relays = []
        self.senders = []
        self.relay_ports = []
        self.sender_ports = []

    def _dir(self, name):
        path = os.path.join(self.workdir, name)
        os.makedirs(path, exist_ok=True)
        return path

    def start(self):
        """Downstream first: the collector, the relays, HAProxy or the front, the senders."""
        collector_ports = [free_port() for _ in range(self.relay_count)]
        text = "@version: 3.38\noptions { keep-hostname(yes); stats-level(1); };\n" + "".join(
            COLLECTOR_SOURCE % dict(i=i, port=port, out=self.outputs[i]) for i, port in enumerate(collector_ports))
        self.collector = Daemon(self._dir("collector"), text).start(wait_for_port=collector_ports[-1])

        relay_text = example("relay.conf")
        if not self.worker_pool:
            relay_text = without_worker_pool(relay_text)
        self.relay_ports = [free_port() for _ in range(self.relay_count)]
        for i, port in enumerate(self.relay_ports):
            d = self._dir("relay%d" % i)
            text = localize(relay_text, {RELAY_PORTS[0]: port, CENTRAL_PORT: collector_ports[i]},
                            state_dir=self._dir("relay%d/buffer" % i))
            if self.witnesses:
                text += WITNESS % self.witnesses[i]
            self.relays.append(Daemon(d, text).start(wait_for_port=port))

        tier_port = free_port()
        if self.kind == "haproxy":
            self.tier = HAProxy(self._dir("haproxy"), haproxy_config(tier_port, self.relay_ports)).start(tier_port)
        else:
            text = localize(example("front.conf"),
                            {TIER_PORT: tier_port, RELAY_PORTS[0]: self.relay_ports[0],
                             RELAY_PORTS[1]: self.relay_ports[1]},
                            state_dir=self._dir("front/buffer"))
            self.tier = Daemon(self._dir("front"), text).start(wait_for_port=tier_port)

        self.sender_ports = [free_port() for _ in range(self.sender_count)]
        for i, port in enumerate(self.sender_ports):
            text = localize(example("sender.conf"), {SENDER_PORT: port, TIER_PORT: tier_port},
                            state_dir=self._dir("sender%d/buffer" % i))
            self.senders.append(Daemon(self._dir("sender%d" % i), text).start(wait_for_port=port))
        return self

    def daemons(self):
        return self.senders + ([self.tier] if isinstance(self.tier, Daemon) else []) + self.relays + [self.collector]

    def feed(self, per_sender, hosts=20, rate=None, lines_per_chunk=500):
        """One connection per sender daemon, each with per_sender lines (at `rate` lines per second
        each, or as fast as they are taken); sender i numbers its lines from i * per_sender."""
        feeders = []
        for i, port in enumerate(self.sender_ports):
            chunks = keyed_chunks(i, per_sender, hosts, i * per_sender, lines_per_chunk)
            if rate:
                chunks = paced(chunks, rate, lines_per_chunk)
            feeders.append(Sender(port, chunks).start())
        return feeders

    def delivered(self):
        return sum(count_lines(path) for path in self.outputs)

    def queued(self):
        """Messages waiting in any daemon's destination queue (memory or disk buffer)."""
        return sum(d.counter(name, "queued") for d in self.daemons() if d.proc.poll() is None
                   for name in ("dst.tcp", "dst.file"))

    def wait_delivered(self, total, quiet=2.0, timeout=180):
        """Until the collector wrote `total` lines, or nothing moved for `quiet` seconds while no
        destination queue holds anything (a lossy run)."""
        deadline = time.time() + timeout
        last, still_since = -1, time.time()
        while time.time() < deadline:
            for d in self.daemons():
                if d.proc.poll() is not None:
                    raise RuntimeError("a syslog-ng of the layout died:\n" + d.output()[-3000:])
            now = self.delivered()
            if now >= total:
                return now
            if now != last:
                last, still_since = now, time.time()
            elif time.time() - still_since >= quiet and self.queued() == 0:
                return now
            time.sleep(0.1)
        raise TimeoutError("%d of %d lines after %ss" % (self.delivered(), total, timeout))

    def report(self, total):
        """Exactly-once and per-key order over what every relay forwarded."""
        report = SequenceReport(total)
        for path in self.outputs:
            if os.path.exists(path):
                report.feed_file(path)
        return report

    def relay_read(self, i):
        """The sequence numbers relay i read (witness=True), over all its lives."""
        seqs = set()
        with open(self.witnesses[i], "rb") as f:
            for line in f:
                m = SEQ_RE.search(line)
                if m:
                    seqs.add(int(m.group(2)))
        return seqs

    def tokens_by_relay(self, field):
        """[set of tokens] per relay file: field 0 is the host (the partition key), 1 the order
        check's key 'sS-hH'."""
        result = []
        for path in self.outputs:
            tokens = set()
            if os.path.exists(path):
                with open(path, "rb") as f:
                    for line in f:
                        parts = line.split(b" ")
                        if len(parts) > field:
                            tokens.add(parts[field])
            result.append(tokens)
        return result

    def senders_by_relay(self):
        """[set of sender indices] per relay: which senders' messages each relay forwarded."""
        return [{int(key.split(b"-")[0][1:]) for key in keys} for keys in self.tokens_by_relay(1)]

    def close(self):
        for d in self.senders:
            _stop(d)
        if isinstance(self.tier, HAProxy):
            self.tier.stop()
        elif self.tier is not None:
            _stop(self.tier)
        for d in self.relays + [self.collector]:
            if d is not None:
                _stop(d)


def _stop(daemon):
    try:
        daemon.stop(timeout=60)
    except RuntimeError:
        daemon.kill()
