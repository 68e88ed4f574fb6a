# SPDX-License-Identifier: GPL-2.0-or-later
"""Bad parallelize() configuration is refused, at --syntax-only and at startup, naming the option and place."""
import subprocess

import pytest

import syslogng


conf = syslogng.parallelize_options_config


@pytest.mark.parametrize("options, message", [
    ("workers(-1)", "workers() takes 0 (bypass) to 256, not -1"),
    ("workers(100000)", "workers() takes 0 (bypass) to 256, not 100000"),
    ("partitions(-3)", "workers() takes 0 (bypass) to 256, not -3"),
    ("batch-size(-5)", "batch-size() takes 0 (no size limit) to 100000, not -5"),
    ("batch-size(2000000)", "batch-size() takes 0 (no size limit) to 100000, not 2000000"),
    ("workers(two)", "workers() takes a number or auto"),
    ('workers("automatic")', "workers() takes a number or auto"),
    ("workers()", "option needs a value"),
    ("frobnicate(3)", "unknown option"),
    ('partition-key("")', "the template is empty"),
    ('partition-key("$(sha1 $HOST")', "invalid partition-key() template"),
    ('partition-key("$(no-such-function $HOST)")', "invalid partition-key() template"),
    ('workers(2) partitions(3)', "two spellings of the same option"),
])
def test_refused_with_a_clear_error(tmp_path, options, message):
    if "()" in options and syslogng.HOST.crashes_on_empty_block_argument:
        pytest.skip("syslog-ng %s itself crashes on an empty block argument" % syslogng.HOST.version)
    rc, output = syslogng.syntax_check(conf(options), str(tmp_path))
    assert rc != 0, output
    assert message in output, output
    # the error points at the configuration: file name and the line of parallelize()
    assert "syntax.conf:4" in output, output


def test_refused_at_startup_too(tmp_path):
    path = tmp_path / "bad.conf"
    path.write_text(syslogng.HOST.config(conf("workers(-1)")))
    proc = subprocess.run([syslogng.SYSLOG_NG, "-F", "-e", "--no-caps", "-f", str(path),
                           "--module-path", syslogng.module_path(),
                           "-c", str(tmp_path / "ctl"), "-R", str(tmp_path / "persist"),
                           "-p", str(tmp_path / "pid")],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
    assert proc.returncode != 0
    assert "workers() takes 0 (bypass) to 256, not -1" in proc.stdout


@pytest.mark.parametrize("options", [
    "", "workers(0)", "workers(256)", "workers(auto)", 'workers("auto")', "partitions(auto)", "batch-size(0)", "batch-size(100000)",
    'partition-key("$HOST")', "partition-key($PROGRAM)", "partition-key('${.json.user}')",
    'partition-key("a \\"quoted\\" \\\\ key $HOST")', 'worker-partition-key("$(sha1 $PROGRAM)")',
])
def test_valid_options_accepted(tmp_path, options):
    rc, output = syslogng.syntax_check(conf(options), str(tmp_path))
    assert rc == 0, output


def test_works_in_nested_and_conditional_log_paths(tmp_path):
    text = """@version: 3.38
source s { tcp(ip(127.0.0.1) port(1)); };
destination d { file("/dev/null"); };
log {
  source(s);
  if (program("a")) { parallelize(workers(2)); destination(d); }
  else { parallelize(workers(1)); destination(d); };
  log { parallelize(workers(2)); destination(d); };
};
log {
  source(s);
  junction {
    channel { parallelize(workers(2) partition-key("$HOST")); destination(d); };
    channel { destination(d); };
  };
};
"""
    rc, output = syslogng.syntax_check(text, str(tmp_path))
    assert rc == 0, output
