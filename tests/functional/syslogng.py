# SPDX-License-Identifier: GPL-2.0-or-later
"""Run the real syslog-ng daemon with the freshly built module, and talk to it.

Every process is started and stopped by PID; nothing outlives a test.
"""
import os
import re
import signal
import socket
import subprocess
import time

SYSLOG_NG = os.environ.get("SYSLOG_NG", "/usr/sbin/syslog-ng")
SYSLOG_NG_CTL = os.environ.get("SYSLOG_NG_CTL", "/usr/sbin/syslog-ng-ctl")


class Host:
    """The syslog-ng the tests run against, asked once: Debian 12's 3.38, Debian 13's 4.8, or one
    built from upstream's release (scripts/build-host.sh: 3.35.1 as Ubuntu 22.04 and EPEL 9 ship
    it, 4.3.1 as Ubuntu 24.04 does) in a prefix of its own.

    The tests are written for 3.38: its @version, stats-level(N) and the parallelize()
    element.  config() turns such a text into this host's dialect: its own @version,
    stats(level(N)) on 4.x, and from 4.3 on the module's worker-pool() (there parallelize is
    the host's built-in keyword, which no plugin can take).  This is the only place
    that knows the difference."""

    def __init__(self, binary):
        out = subprocess.run([binary, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, timeout=60).stdout
        m = re.search(r"^Installer-Version: (\d+)\.(\d+)(?:\.(\d+))?", out, re.M) or re.search(r"\((\d+)\.(\d+)", out)
        if not m:
            raise RuntimeError("cannot tell the version of %s from:\n%s" % (binary, out))
        self.binary = binary
        self.major, self.minor = int(m.group(1)), int(m.group(2))
        self.patch = int(m.group(3)) if m.lastindex >= 3 and m.group(3) else 0
        self.version = "%d.%d" % (self.major, self.minor)
        # the host's own modules (tcp(), file(), json-parser() ...): its default module path, which
        # a prefix build keeps under its prefix; SYSLOG_NG_MODULE_DIR overrides
        path = re.search(r"^Module-Path: (.+)$", out, re.M) or re.search(r"^Module-Directory: (.+)$", out, re.M)
        self.stock_module_dir = os.environ.get("SYSLOG_NG_MODULE_DIR") or (
            path.group(1).strip() if path else "/usr/lib/syslog-ng/" + self.version)
        # 4.3 made parallelize a core keyword (with or without a working built-in behind it)
        self.has_parallelize_keyword = (self.major, self.minor) >= (4, 3)
        self.element = "worker-pool" if self.has_parallelize_keyword else "parallelize"
        self.builtin_parallelize = self.has_parallelize_keyword and self._has_continuations()

    @property
    def v4(self):
        return self.major >= 4

    @property
    def workers_have_a_host_thread(self):
        """3.35 only: one thread that syslog-ng starts stands for the workers on its exit list
        (modules/parallelize/parallelize-worker-host.h); 3.36 and later take each worker's own"""
        return (self.major, self.minor) < (3, 36)

    @property
    def crashes_on_empty_block_argument(self):
        """4.8 segfaults on an empty argument of any block or generator, e.g. an SCL block's foo(),
        while parsing, before a plugin sees it (3.35, 3.38 and 4.3 pass it on as NULL: seen with
        3.35.1 and 4.3.1 built from ../shared/hosts)"""
        return (self.major, self.minor) >= (4, 8)

    def _has_continuations(self):
        """Whether the host's built-in parallelize() does anything: 4.x runs its partitions only where
        it was built against an ivykis with iv_work_pool_submit_continuation() (0.43 and later);
        otherwise it passes messages through and warns at startup.  libsyslog-ng imports that
        function only when it was built to use it."""
        try:
            ldd = subprocess.run(["ldd", self.binary], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 text=True, timeout=60).stdout
            lib = re.search(r"libsyslog-ng[^ ]*\.so[^ ]* => (\S+)", ldd)
            if not lib:
                return False
            symbols = subprocess.run(["nm", "-D", "--undefined-only", lib.group(1)], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, timeout=60).stdout
        except (OSError, subprocess.SubprocessError):
            return False
        return re.search(r"\biv_work_pool_submit_continuation\b", symbols) is not None

    def stats_level(self, level):
        return "stats(level(%d))" % level if self.v4 else "stats-level(%d)" % level

    def config(self, text):
        """A configuration written for 3.38, for this host (same lines and columns where it matters)."""
        text = re.sub(r"^@version: 3\.38$", "@version: " + self.version, text, flags=re.M)
        if self.v4:
            text = re.sub(r"\bstats-level\((\d+)\)", lambda m: self.stats_level(int(m.group(1))), text)
        if self.element != "parallelize":
            # same length: the locations in stats ids and error messages stay where they were
            text = re.sub(r"(?<![\w-])parallelize\(", self.element + "(", text)
        return text

    def __repr__(self):
        return ("Host(%s %d.%d.%d, modules %s, element %s(), built-in parallelize %s)"
                % (self.binary, self.major, self.minor, self.patch, self.stock_module_dir, self.element,
                   "works" if self.builtin_parallelize else ("passes through" if self.has_parallelize_keyword
                                                            else "none")))


HOST = Host(SYSLOG_NG)
STOCK_MODULE_DIR = HOST.stock_module_dir


def module_dir():
    """Where the built libparallelize.so is (set by make check)."""
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(here, "..", "..", "build", "modules", "parallelize", ".libs")
    return os.path.abspath(os.environ.get("PARALLELIZE_MODULE_DIR", default))


def builddir():
    """The build folder of that module (set by make check): bench/send-file, allocator/*.conf."""
    default = os.path.join(module_dir(), "..", "..", "..")
    return os.path.abspath(os.environ.get("PARALLELIZE_BUILDDIR", default))


def module_path():
    return module_dir() + ":" + STOCK_MODULE_DIR


_PORTS_HANDED_OUT = set()


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
            return low, high
    except (OSError, ValueError):
        return 32768, 60999


def free_port():
    """A port on 127.0.0.1 that nothing listens on, for a daemon to bind.

    Not bind(0): the kernel hands out the same ephemeral range to the tests' own client
    connections, so a port picked that way may be some sender's local port by the time the
    daemon binds it, and two calls in a row may return the same port (CI saw a tcp() source
    fail to initialise that way).  Instead: a port below the ephemeral range, never one this
    process handed out before, checked to be bindable."""
    import random
    ephemeral_low, ephemeral_high = _ephemeral_range()
    if ephemeral_low > 12000:
        low, high = 10000, ephemeral_low - 1
    else:
        low, high = min(ephemeral_high + 1, 60000), 65535
    for _ in range(1000):
        port = random.randint(low, high)
        if port in _PORTS_HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _PORTS_HANDED_OUT.add(port)
        return port
    raise RuntimeError("no free port in %d-%d" % (low, high))


def parallelize_options_config(options):
    """A minimal config around parallelize(OPTIONS), for syntax checks."""
    return """@version: 3.38
log {
  source { tcp(ip(127.0.0.1) port(1)); };
  parallelize(%s);
  destination { file("/dev/null"); };
};
""" % options


def syntax_check(config_text, workdir):
    """Run syslog-ng --syntax-only; returns (returncode, combined output)."""
    path = os.path.join(workdir, "syntax.conf")
    with open(path, "w") as f:
        f.write(HOST.config(config_text))
    proc = subprocess.run(
        [SYSLOG_NG, "--syntax-only", "--module-path", module_path(), "-f", path],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
    return proc.returncode, proc.stdout


class Daemon:
    """One syslog-ng process in the foreground, with its own control socket and persist file."""

    def __init__(self, workdir, config_text, extra_args=(), wrapper=(), stderr=True, raw=False):
        self.workdir = workdir
        self.config_path = os.path.join(workdir, "syslog-ng.conf")
        self.control = os.path.join(workdir, "syslog-ng.ctl")
        self.persist = os.path.join(workdir, "syslog-ng.persist")
        self.pidfile = os.path.join(workdir, "syslog-ng.pid")
        self.log_path = os.path.join(workdir, "syslog-ng.stderr")
        self.extra_args = list(extra_args)
        self.wrapper = list(wrapper)
        # -e sends internal messages to stderr instead of the internal() source
        self.stderr_flag = ["-e"] if stderr else []
        self.proc = None
        self.write_config(config_text, raw=raw)

    def write_config(self, config_text, raw=False):
        """config_text in 3.38's dialect (see Host), or raw: already in the host's"""
        with open(self.config_path, "w") as f:
            f.write(config_text if raw else HOST.config(config_text))

    def start(self, wait_for_port=None, timeout=30):
        log = open(self.log_path, "a")
        cmd = self.wrapper + [SYSLOG_NG, "-F"] + self.stderr_flag + ["--no-caps", "-f", self.config_path,
                              "--module-path", module_path(), "-c", self.control,
                              "-R", self.persist, "-p", self.pidfile] + self.extra_args
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("syslog-ng exited at startup (%s):\n%s" % (self.proc.returncode, self.output()))
            if os.path.exists(self.control) and self._ctl_ok():
                if wait_for_port is None or _port_open(wait_for_port):
                    return self
            time.sleep(0.05)
        raise RuntimeError("syslog-ng did not come up:\n" + self.output())

    def _ctl_ok(self):
        try:
            return self.ctl("stats", timeout=5).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def ctl(self, *args, timeout=60):
        return subprocess.run([SYSLOG_NG_CTL] + list(args) + ["-c", self.control],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)

    def reload(self):
        # syslog-ng-ctl reload returns once the new configuration is in place (or rolled back)
        return self.ctl("reload")

    def stats(self):
        """{(source_name, id, instance, type): value} from syslog-ng-ctl stats."""
        out = self.ctl("stats").stdout
        result = {}
        for line in out.splitlines()[1:]:
            parts = line.split(";")
            if len(parts) < 6:
                continue
            try:
                result[(parts[0], parts[1], parts[2], parts[4])] = int(parts[5])
            except ValueError:
                pass
        return result

    def parallelize_counters(self, name):
        """{instance: value} of one parallelize() counter, e.g. parallelized_processed_events_total."""
        return {key[2]: value for key, value in self.stats().items()
                if key[0] == "parser" and key[1].startswith("parallelize@") and key[3] == name}

    def pid(self):
        return self.proc.pid

    def counter(self, source_name, type_, id_prefix="", instance=None):
        """Sum of the counters matching source_name, type and the start of the id (and instance, if given)."""
        return sum(value for (name, id_, inst, typ), value in self.stats().items()
                   if name == source_name and typ == type_ and id_.startswith(id_prefix)
                   and (instance is None or inst == instance))

    def threads(self):
        return thread_count(self.pid())

    def thread_ids(self):
        return set(os.listdir("/proc/%d/task" % self.pid()))

    def worker_thread_ids(self):
        """The module's worker threads, by the name the kernel shows for them ("parallelize/N").

        Counting all threads is not enough: syslog-ng's I/O pool starts threads on demand and keeps
        an idle one for a while, so the total moves by one or two for reasons of the host's own."""
        return worker_thread_ids(self.pid())

    def rss_kb(self):
        return proc_status(self.pid(), "VmRSS")

    def reload_ok(self):
        """Reload and insist that it worked."""
        result = self.reload()
        if result.returncode == 0 and "successful" in result.stdout:
            return result
        try:
            self.proc.wait(timeout=2)  # a daemon that closed the control connection dying
        except subprocess.TimeoutExpired:
            pass
        raise AssertionError((result.stdout, self.state(), self.output()[-3000:]))

    def state(self):
        """'running', or how the process ended (a negative status: the signal that ended it)"""
        if self.proc is None or self.proc.poll() is None:
            return "running"
        status = self.proc.returncode
        return "exited %d" % status if status >= 0 else "killed by %s" % signal.Signals(-status).name

    def output(self):
        return read_log(self.log_path)

    def stop(self, timeout=120):
        """SIGTERM and wait; returns the exit status."""
        if self.proc is None:
            return None
        if not terminate(self.proc, timeout):
            raise RuntimeError("syslog-ng did not stop on SIGTERM:\n" + self.output())
        return self.proc.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def read_log(path):
    """A process's output file as text ('' before it exists)."""
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def terminate(proc, timeout):
    """SIGTERM and wait; killed if still running after timeout (then False)."""
    if proc.poll() is not None:
        return True
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return False


def _port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def send_lines(port, lines, chunk=1 << 16):
    """One TCP connection, lines as bytes already terminated by newline."""
    data = b"".join(lines)
    with socket.create_connection(("127.0.0.1", port)) as s:
        for i in range(0, len(data), chunk):
            s.sendall(data[i:i + chunk])


def wait_for_lines(path, expected, timeout=120, daemon=None):
    """Wait until the file holds `expected` lines (or stops growing for long)."""
    deadline = time.time() + timeout
    count = 0
    while time.time() < deadline:
        count = count_lines(path)
        if count >= expected:
            return count
        if daemon is not None and daemon.proc.poll() is not None:
            raise RuntimeError("syslog-ng died:\n" + daemon.output())
        time.sleep(0.1)
    return count


def count_lines(path):
    try:
        with open(path, "rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    except FileNotFoundError:
        return 0


SEQ_RE = re.compile(rb"(\S+) seq=(\d+)")


def read_sequences(path):
    """{key: [seq, ...]} in file order, from lines carrying 'KEY seq=N'."""
    result = {}
    with open(path, "rb") as f:
        for line in f:
            m = SEQ_RE.search(line)
            if m:
                result.setdefault(m.group(1), []).append(int(m.group(2)))
    return result


def syslog_lines(count, hosts=20, program="app", start=0):
    """RFC3164 lines with a per-host sequence number: 'hostN seq=I' in the message."""
    lines = []
    for i in range(start, start + count):
        host = "host%d" % (i % hosts)
        lines.append(b"<13>Jan  1 00:00:00 %s %s: %s seq=%d\n" % (host.encode(), program.encode(), host.encode(), i))
    return lines


# --- helpers for long streams, lifecycle and back-pressure tests ----------------------------

def wait_for(condition, timeout=60, interval=0.05, daemon=None, what="condition"):
    """Poll condition() until it returns a true value; returns that value, or raises on timeout."""
    deadline = time.time() + timeout
    while True:
        value = condition()
        if value:
            return value
        if daemon is not None and daemon.proc.poll() is not None:
            raise RuntimeError("syslog-ng died while waiting for %s:\n%s" % (what, daemon.output()[-4000:]))
        if time.time() > deadline:
            raise TimeoutError("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(interval)


def syslog_line(seq, host, program="app"):
    return b"<13>Jan  1 00:00:00 %s %s: %s seq=%d\n" % (host, program, host, seq)


def syslog_chunks(count, hosts=20, program=b"app", start=0, host_prefix=b"host", lines_per_chunk=20_000):
    """Like syslog_lines(), lazily, as bytes blocks of many lines: millions of lines without the memory."""
    names = [host_prefix + b"%d" % h for h in range(hosts)]
    prefix = [b"<13>Jan  1 00:00:00 " + name + b" " + program + b": " + name + b" seq=" for name in names]
    for first in range(start, start + count, lines_per_chunk):
        last = min(first + lines_per_chunk, start + count)
        yield b"".join(prefix[i % hosts] + b"%d\n" % i for i in range(first, last))


class Sender:
    """One TCP connection fed from an iterable of bytes blocks on a thread of its own.

    sendall() blocks while the daemon does not read (flow control): `sent` shows how far it got."""

    def __init__(self, port, chunks):
        import threading
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.local_port = self.sock.getsockname()[1]
        self.chunks = chunks
        self.sent = 0
        self.error = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def _run(self):
        try:
            for chunk in self.chunks:
                self.sock.sendall(chunk)
                self.sent += len(chunk)
        except OSError as e:
            self.error = e
        finally:
            self.done.set()

    def join(self, timeout=None):
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise TimeoutError("sender still sending after %ss (sent %d bytes)" % (timeout, self.sent))
        self.close()
        if self.error:
            raise self.error

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class SequenceReport:
    """Exactly-once and per-key order of 'KEY seq=N' lines, streamed (tens of millions of lines)."""

    def __init__(self, total):
        self.total = total
        self.seen = bytearray(total)
        self.lines = 0
        self.duplicates = 0
        self.foreign = 0  # lines without a sequence number, or one out of range
        self.out_of_order = 0
        self.last = {}

    def feed_file(self, path):
        with open(path, "rb") as f:
            for line in f:
                self.feed_line(line)
        return self

    def feed_line(self, line):
        m = SEQ_RE.search(line)
        self.lines += 1
        if not m:
            self.foreign += 1
            return
        key, seq = m.group(1), int(m.group(2))
        if seq >= self.total:
            self.foreign += 1
            return
        if self.seen[seq]:
            self.duplicates += 1
        else:
            self.seen[seq] = 1
        if self.last.get(key, -1) > seq:
            self.out_of_order += 1
        self.last[key] = seq

    @property
    def delivered(self):
        return self.total - self.seen.count(0)

    @property
    def missing(self):
        return self.total - self.delivered

    def first_missing(self, limit=10):
        found, i = [], -1
        while len(found) < limit:
            i = self.seen.find(0, i + 1)
            if i < 0:
                break
            found.append(i)
        return found

    def prefix_length(self):
        """How many sequence numbers from 0 on arrived without a gap."""
        i = self.seen.find(0)
        return self.total if i < 0 else i

    def assert_exactly_once_in_order(self):
        assert self.duplicates == 0 and self.missing == 0 and self.out_of_order == 0, self

    def __repr__(self):
        return ("SequenceReport(total=%d lines=%d delivered=%d missing=%d first_missing=%s duplicates=%d "
                "out_of_order=%d foreign=%d)" % (self.total, self.lines, self.delivered, self.missing,
                                                 self.first_missing(), self.duplicates, self.out_of_order,
                                                 self.foreign))


def check_sequences(path, total):
    return SequenceReport(total).feed_file(path)


class StalledListener:
    """A TCP peer for a tcp() destination: accepts, reads nothing until resume(), then writes all it gets to a file."""

    def __init__(self, out_path):
        import threading
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # a small receive buffer, so that back-pressure reaches the daemon soon
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(8)
        self.port = self.server.getsockname()[1]
        self.out_path = out_path
        self.reading = threading.Event()
        self.stopping = threading.Event()
        self.received = 0
        self.connections = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        import select
        conns = []
        with open(self.out_path, "wb") as out:
            while not self.stopping.is_set():
                watched = [self.server] + (conns if self.reading.is_set() else [])
                readable, _, _ = select.select(watched, [], [], 0.05)
                for s in readable:
                    if s is self.server:
                        conns.append(self.server.accept()[0])
                        self.connections += 1
                        continue
                    data = s.recv(1 << 20)
                    if not data:
                        conns.remove(s)
                        s.close()
                        continue
                    out.write(data)
                    self.received += len(data)
                out.flush()
        for conn in conns:
            conn.close()
        self.server.close()

    def resume(self):
        self.reading.set()

    def close(self):
        self.stopping.set()
        self.thread.join(10)


def proc_status(pid, field):
    """A field of /proc/PID/status in kB (VmRSS, VmHWM) or as a number (Threads)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def thread_count(pid):
    return len(os.listdir("/proc/%d/task" % pid))


def worker_thread_ids(pid):
    ids = set()
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                if f.read().startswith("parallelize/"):
                    ids.add(tid)
        except FileNotFoundError:   # the thread ended while we looked
            pass
    return ids


# --- the reload scenario of issue 12, for the functional test and for make bench ------------

def busy_reload_run(workdir, statement, total=400_000, reloads=6, hosts=20, raw=False):
    """Keyed messages over one TCP connection with flow control, and `reloads` reloads while
    messages are in flight (spread over the stream).  statement is the element's line as the
    config has it (3.38's dialect, or raw: the host's, e.g. 4.x's built-in parallelize()).
    Returns (SequenceReport, seconds, daemon output)."""
    port = free_port()
    out = os.path.join(workdir, "out.log")
    base = """@version: 3.38
options { stats-level(1); log-fifo-size(100000); };
source s_net { tcp(ip(127.0.0.1) port(%d) keep-hostname(yes) log-iw-size(100000) log-fetch-limit(1000)); };
log {
  source(s_net);
  @ELEMENT@
  destination { file("%s" template("$HOST $MSG\\n")); };
  flags(flow-control);
};
""" % (port, out)
    text = (HOST.config(base) if raw else base).replace("@ELEMENT@", statement)
    d = Daemon(workdir, text, raw=raw)
    try:
        d.start(wait_for_port=port)
        received = lambda: d.counter("src.tcp", "processed", id_prefix="s_net#")
        sender = Sender(port, syslog_chunks(total, hosts=hosts)).start()
        started = time.time()
        for i in range(1, reloads + 1):
            wait_for(lambda: received() >= total * i // (reloads + 1), timeout=300, daemon=d,
                     what="reload point %d" % i)
            d.reload_ok()
        sender.join(timeout=300)
        wait_for(lambda: received() >= total, timeout=300, daemon=d, what="the source to read everything")
        # then until everything arrived, or nothing more did for 3 seconds (a lossy element)
        last, still_since = -1, time.time()
        while time.time() - still_since < 3:
            now = count_lines(out)
            if now >= total:
                break
            if now != last:
                last, still_since = now, time.time()
            time.sleep(0.1)
        elapsed = time.time() - started
        return check_sequences(out, total), elapsed, d.output()
    finally:
        try:
            d.stop(timeout=60)
        except RuntimeError:
            d.kill()
