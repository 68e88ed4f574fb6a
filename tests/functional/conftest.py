# SPDX-License-Identifier: GPL-2.0-or-later
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import syslogng  # noqa: E402


@pytest.fixture
def daemon_factory(tmp_path):
    """Start daemons for a test; every one is stopped (or killed) when it ends."""
    started = []

    def make(config_text, workdir=None, **kwargs):
        # workdir: another folder than tmp_path (e.g. one a non-root daemon can write to)
        d = syslogng.Daemon(str(workdir or tmp_path), config_text, **kwargs)
        started.append(d)
        return d

    yield make
    for d in started:
        try:
            d.stop(timeout=60)
        except RuntimeError:
            d.kill()


def pytest_configure(config):
    so = os.path.join(syslogng.module_dir(), "libparallelize.so")
    if not os.path.exists(so):
        raise pytest.UsageError("module not built: %s (run make first)" % so)
