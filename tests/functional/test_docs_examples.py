# SPDX-License-Identifier: GPL-2.0-or-later
"""The admin guide's example configurations: each passes syslog-ng --syntax-only with the
built module, follows the rules for this host, and is shown verbatim in docs/parallelize.md."""
import glob
import os
import re

import pytest

from syslogng import syntax_check

SRCDIR = os.environ.get("PARALLELIZE_SRCDIR",
                        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
EXAMPLES = sorted(glob.glob(os.path.join(SRCDIR, "docs", "examples", "*.conf")))
GUIDE = os.path.join(SRCDIR, "docs", "parallelize.md")


def read(path):
    with open(path) as f:
        return f.read()


def example_id(path):
    return os.path.basename(path)


def test_there_are_examples():
    assert len(EXAMPLES) >= 3, EXAMPLES


@pytest.mark.parametrize("path", EXAMPLES, ids=example_id)
def test_example_passes_syntax_only(tmp_path, path):
    rc, output = syntax_check(read(path), str(tmp_path))
    assert rc == 0, output


@pytest.mark.parametrize("path", EXAMPLES, ids=example_id)
def test_example_uses_parallelize_and_is_safe_to_try(path):
    text = read(path)
    # worker-pool(): the name that runs on Debian 12's and Debian 13's syslog-ng alike
    assert "worker-pool(" in text
    # 3.38 breaks flow control above 65535
    for limit in re.findall(r"log-fetch-limit\((\d+)\)", text):
        assert int(limit) <= 65535, "log-fetch-limit(%s)" % limit
    # every network source listens on loopback only
    for source in re.findall(r"\b(?:tcp|udp|network|syslog)\(([^;]*)\)", text):
        assert "ip(127.0.0.1)" in source or "ip(\"127.0.0.1\")" in source, source


@pytest.mark.parametrize("path", EXAMPLES, ids=example_id)
def test_example_is_shown_verbatim_in_the_guide(path):
    guide = read(GUIDE)
    assert "`docs/examples/%s`" % os.path.basename(path) in guide
    assert "```\n" + read(path) + "```\n" in guide, "the guide's copy of %s differs" % path


def test_every_complete_config_in_the_guide_is_an_example():
    """A configuration shown in the guide (a block starting with @version) is one of the checked files."""
    blocks = re.findall(r"```\n(@version.*?)```\n", read(GUIDE), re.S)
    examples = [read(path) for path in EXAMPLES]
    for block in blocks:
        assert block in examples, "unchecked configuration in the guide:\n" + block


def _option(text, name, default):
    found = re.findall(r"\b%s\((\d+)\)" % re.escape(name), text)
    return int(found[0]) if found else default


@pytest.mark.parametrize("path", EXAMPLES, ids=example_id)
def test_example_windows_keep_the_workers_busy(path):
    """No example should draw the module's startup warning about small source windows,
    whatever the CPU count of the host: workers() is explicit, and each connection's window
    (log-iw-size() / max-connections()) holds at least workers x batch-size messages."""
    text = read(path)
    workers = _option(text, "workers", None)
    assert workers is not None, "give workers() explicitly: the default depends on the host's CPUs"
    batch = _option(text, "batch-size", 100)
    window = _option(text, "log-iw-size", 1000) // _option(text, "max-connections", 10)
    assert window >= workers * batch, "window per connection %d < workers %d x batch-size %d" % (
        window, workers, batch)
