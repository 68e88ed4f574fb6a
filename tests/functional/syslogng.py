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
STOCK_MODULE_DIR = "/usr/lib/syslog-ng/3.38"


def module_dir():
    """Where the built libparallelize.so is (set by make check)."""
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(here, "..", "..", "build", "modules", "parallelize", ".libs")
    return os.path.abspath(os.environ.get("PARALLELIZE_MODULE_DIR", default))


def module_path():
    return module_dir() + ":" + STOCK_MODULE_DIR


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def syntax_check(config_text, workdir):
    """Run syslog-ng --syntax-only; returns (returncode, combined output)."""
    path = os.path.join(workdir, "syntax.conf")
    with open(path, "w") as f:
        f.write(config_text)
    proc = subprocess.run(
        [SYSLOG_NG, "--syntax-only", "--module-path", module_path(), "-f", path],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
    return proc.returncode, proc.stdout


class Daemon:
    """One syslog-ng process in the foreground, with its own control socket and persist file."""

    def __init__(self, workdir, config_text, extra_args=(), wrapper=(), stderr=True):
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
        self.write_config(config_text)

    def write_config(self, config_text):
        with open(self.config_path, "w") as f:
            f.write(config_text)

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

    def output(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stop(self, timeout=120):
        """SIGTERM and wait; returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError("syslog-ng did not stop on SIGTERM:\n" + self.output())
        return self.proc.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


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
